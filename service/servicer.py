"""The Autodiff RPCs, each one decode -> engine call -> encode; plumbing lives in rpc.py."""
from __future__ import annotations

import importlib.metadata
import os
from typing import Callable

import grpc
import numba
import numpy as np

from gradwire import engine
from gradwire.core import codec
from gradwire.v1 import gradwire_pb2 as pb

from . import wire
from .config import ServerConfig
from .decoded import DecodedRequests
from .errors import RequestError
from .parts import PartCache
from .resident import Residency
from .store import ValueStore
from .shared import SharedMemory
from .streams import ValueStreams

Cancel = Callable[[], bool]
# JACOBIAN_MODE_UNSPECIFIED (0, what a client that leaves the field unset sends) is auto, as AUTO = 0 was.
_JACOBIAN_MODES = {pb.JACOBIAN_MODE_UNSPECIFIED: "auto", pb.JACOBIAN_MODE_AUTO: "auto",
                   pb.JACOBIAN_MODE_REVERSE: "reverse", pb.JACOBIAN_MODE_FORWARD: "forward"}
_NO_OPTIONS = pb.Options()


class AutodiffService:
    """Method names match the service in gradwire.proto; each takes (request, cancel)."""

    # Answered without a compute slot: they only read static tables.
    # PutValue and GetValue move bytes only: a long upload must not hold a compute slot.
    CHEAP = frozenset({"ListOps", "GetServerInfo", "PutValue", "GetValue", "OpenSharedMemory"})

    def __init__(self, config: ServerConfig, parts: PartCache, store: ValueStore | None = None):
        self.config = config
        self.parts = parts
        self.store = store if store is not None else ValueStore(config.value_store_bytes)
        self.limits = engine.Limits(
            max_nodes=config.max_nodes, max_tensor_elements=config.max_tensor_elements,
            max_intermediate_elements=config.max_intermediate_elements,
            max_total_elements=config.max_total_elements,
            jacobian_memory_bytes=config.jacobian_memory_bytes)
        self.budget = wire.Budget(config.max_nodes, config.max_tensor_elements,
                                  config.max_request_bytes)
        self._ops: list[pb.OpInfo] | None = None
        self._streams = ValueStreams(self.store, self.budget, config.max_message_bytes)
        self.PutValue, self.GetValue = self._streams.PutValue, self._streams.GetValue
        # Result bytes one response may carry; past that, results come back as handles to read with
        # GetValue. Half the message cap leaves room for everything else a response holds.
        self.inline_bytes = config.max_message_bytes // 2
        self.shared = SharedMemory(config.shm_bytes)
        self.OpenSharedMemory = self.shared.OpenSharedMemory
        self.decoded = DecodedRequests()   # rpc.py parses the computing calls' requests through it

    def _decode(self, req, cancel: Cancel, with_known: bool = True):
        """The graph, feeds and the engine keyword arguments every computing RPC shares, and the
        request's view of the resident values. A request seen before in the same bytes (see
        decoded.py) skips the decode, provided its graph part is still in the part cache."""
        memo = self.decoded.get(req)
        if memo is not None:
            key, by_hash, feeds, known, info = memo
            part = self.parts.get(key, count=by_hash)
            if part is not None:
                kwargs = {"limits": self.limits, "cancel": cancel}
                if with_known:
                    kwargs["known"] = dict(known)
                return part.graph, dict(feeds), kwargs, info, self._residency(req)
        res = self._residency(req)
        graph, info = wire.graph(req.graph, req.ByteSize(), self.parts, self.budget)
        kwargs = {"limits": self.limits, "cancel": cancel}
        if with_known:
            kwargs["known"] = wire.known(req.known, self.budget, res)
        feeds = wire.inputs(req.inputs, self.budget, res)
        res.check_missing()
        n = len(graph.nodes)
        if with_known:
            for k, kv in enumerate(req.known):
                wire.node_id(kv.node, n, f"known[{k}].node")
        for name in ("outputs", "wrt", "seeds", "extra", "primals"):
            if name in req.DESCRIPTOR.fields_by_name:
                wire.node_ids(getattr(req, name), n, name)
        if "output" in req.DESCRIPTOR.fields_by_name:
            wire.node_id(req.output, n, "output")
        if len(info.part_hashes) == 1 and _by_value(req.inputs.values()) and \
                (not with_known or _by_value(kv.value for kv in req.known)):
            # Only tensors sent by bytes: the decode depends on nothing but the request's bytes.
            # Copies: the engine gets its own dicts on every call, these stay as decoded.
            self.decoded.remember(req, (info.part_hashes[0], req.graph.parts[0].WhichOneof("part") == "hash",
                                        dict(feeds), dict(kwargs["known"]) if with_known else None, info))
        return graph, feeds, kwargs, info, res

    def _residency(self, req) -> Residency:
        options = req.options if "options" in req.DESCRIPTOR.fields_by_name else _NO_OPTIONS
        return Residency(self.store, options, self.inline_bytes, self.shared)

    def Evaluate(self, req: pb.EvaluateRequest, cancel: Cancel) -> pb.EvaluateResponse:
        graph, feeds, kwargs, info, res = self._decode(req, cancel)
        outputs = list(req.outputs)
        fetch = set(req.options.fetch)
        into = res.into(lambda k: not res.keep or outputs[k] in fetch)
        r = engine.evaluate(graph, feeds, outputs, anomaly=req.options.detect_anomaly, into=into, **kwargs)
        out = pb.EvaluateResponse(info=info)
        res.put(out.outputs, r.values, list(req.outputs))
        _finish(out, r)
        return out

    def Gradient(self, req: pb.GradientRequest, cancel: Cancel) -> pb.GradientResponse:
        graph, feeds, kwargs, info, res = self._decode(req, cancel)
        n, m = len(req.outputs), len(req.wrt)
        # The results the caller reads now are computed where they travel (a region it offered).
        outputs, extra, fetch = req.outputs, req.extra, res.fetch

        def travels(k: int) -> bool:
            if not res.keep:
                return True
            if k < n:
                return outputs[k] in fetch
            return req.options.fetch_gradients if k < n + m else extra[k - n - m] in fetch
        into = res.into(travels)
        r = engine.gradient(graph, feeds, list(req.outputs), list(req.wrt),
                            seeds=list(req.seeds) or None, create_graph=req.create_graph,
                            extra=list(req.extra), anomaly=req.options.detect_anomaly, into=into, **kwargs)
        out = pb.GradientResponse(info=info, unused=r.unused)
        res.put(out.values, r.values, list(req.outputs))
        res.put(out.gradients, r.gradients, fetch_all=req.options.fetch_gradients)
        res.put(out.extra, r.extra, list(req.extra))
        if req.create_graph:
            wire.put_graph(out.grad_graph, r.grad_graph)
            out.gradient_nodes[:] = r.gradient_nodes
        _finish(out, r)
        return out

    def Jvp(self, req: pb.JvpRequest, cancel: Cancel) -> pb.JvpResponse:
        graph, feeds, kwargs, info, res = self._decode(req, cancel)
        tangents = wire.tensors(req.tangents, "tangents", self.budget, res)
        res.check_missing()
        r = engine.jvp(graph, feeds, list(req.outputs), list(req.primals), tangents,
                       anomaly=req.options.detect_anomaly, **kwargs)
        out = pb.JvpResponse(info=info)
        # Tensors past the message cap come and go as the other requests' do: by handle, or in regions.
        res.put(out.values, r.values, fetch_all=True)
        res.put(out.tangents, r.tangents, fetch_all=True)
        _finish(out, r)
        return out

    def Jacobian(self, req: pb.JacobianRequest, cancel: Cancel) -> pb.JacobianResponse:
        mode = _JACOBIAN_MODES.get(req.mode)
        if mode is None:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"unknown Jacobian mode {req.mode}", "mode")
        graph, feeds, kwargs, info, res = self._decode(req, cancel)
        value, jacobians = engine.jacobian(graph, feeds, req.output, list(req.wrt), mode=mode, **kwargs)
        out = pb.JacobianResponse(info=info)
        res.put_one(out.value, value)
        res.put(out.jacobians, jacobians, fetch_all=True)
        return out

    def Hessian(self, req: pb.HessianRequest, cancel: Cancel) -> pb.HessianResponse:
        graph, feeds, kwargs, info, res = self._decode(req, cancel)
        value, blocks = engine.hessian(graph, feeds, req.output, list(req.wrt), **kwargs)
        out = pb.HessianResponse(info=info)
        res.put_one(out.value, value)
        res.put(out.blocks, blocks, fetch_all=True)
        return out

    def CheckGradients(self, req: pb.GradCheckRequest, cancel: Cancel) -> pb.GradCheckResponse:
        graph, feeds, kwargs, _, _ = self._decode(req, cancel, with_known=False)
        ok, results = engine.check_gradients(
            graph, feeds, req.output, list(req.wrt), eps=req.eps or 1e-6,
            atol=req.atol or 1e-5, rtol=req.rtol or 1e-3, **kwargs)
        out = pb.GradCheckResponse(ok=ok)
        for r in results:
            out.results.add(node=r.node, max_abs_error=r.max_abs_error,
                            max_rel_error=r.max_rel_error, ok=r.ok,
                            analytic=codec.tensor_to_proto(r.analytic),
                            numeric=codec.tensor_to_proto(r.numeric))
        return out

    def ListOps(self, req: pb.ListOpsRequest, cancel: Cancel) -> pb.ListOpsResponse:
        return pb.ListOpsResponse(ops=self._catalogue())

    def GetServerInfo(self, req: pb.ServerInfoRequest, cancel: Cancel) -> pb.ServerInfoResponse:
        c = self.config
        return pb.ServerInfoResponse(
            version=importlib.metadata.version("gradwire"), ops=self._catalogue(),
            dtypes=sorted(codec.DTYPES), engine=f"numba {numba.__version__}, numpy {np.__version__}",
            limits=pb.Limits(
                max_message_bytes=c.max_message_bytes, max_nodes=c.max_nodes,
                max_tensor_elements=c.max_tensor_elements, max_request_bytes=c.max_request_bytes,
                max_concurrent_requests=c.max_concurrent,
                jacobian_memory_bytes=c.jacobian_memory_bytes, max_queued_requests=c.max_queue,
                processes=c.process_count),
            plans=[pb.PlanStats(graph_hash=h, hits=p.hits, compiles=p.compiles,
                                compile_seconds=p.compile_seconds,
                                last_used_unix_seconds=p.last_used)
                   for h, p in engine.plan_cache_top(c.top_plans)],
            pid=os.getpid())

    def _catalogue(self) -> list[pb.OpInfo]:
        if self._ops is None:  # static: encode once (a benign race at worst encodes it twice)
            ops = []
            for op in engine.op_catalogue():
                ops.append(pb.OpInfo())
                wire.put_op(ops[-1], op)
            self._ops = ops
        return self._ops


def _by_value(tensors) -> bool:
    """No tensor names a resident value or a shared-memory region (those depend on the caller)."""
    return all(not t.handle and not t.HasField("shm") for t in tensors)


def _finish(out, result) -> None:
    out.info.plan_cache_hit = result.cache_hit
    if result.anomaly is not None:
        wire.put_anomaly(out.anomaly, result.anomaly)
