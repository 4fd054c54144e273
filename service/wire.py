"""Request messages -> engine arguments and engine results -> response messages (tensors via gradwire.core.codec)."""
from __future__ import annotations

from dataclasses import dataclass

import grpc
import numpy as np

from gradwire.core import codec, hashing, shm
from gradwire.engine import Graph, Node
from gradwire.v1 import gradwire_pb2 as pb

from .errors import RequestError
from .parts import Part, PartCache, content_hash


@dataclass(frozen=True)
class Budget:
    """The request-size limits the service checks before the engine sees anything."""
    max_nodes: int
    max_tensor_elements: int
    max_request_bytes: int


def _too_big(message: str, field: str) -> RequestError:
    return RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED, message, field)


def tensor(t: pb.Tensor, where: str, budget: Budget, res=None) -> np.ndarray:
    """Decode one tensor after checking its shape with exact integer arithmetic. The extent (the
    product of the dimensions with zeros counted as ones) is what NumPy must represent even when
    there are no elements, so a zero-size shape is held to the same limits as any other. With `res`
    (the request's Residency) the tensor may name a resident value by handle."""
    check_shape(t, where, budget)
    if t.HasField("shm"):
        value = _from_region(t, where, res.shared if res is not None else None)
        return res.kept(t, value, where) if res is not None else value
    if t.handle and res is not None:
        return res.resolve(t, where)
    if t.handle:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"{where}: handles name resident values, which "
                           "this field does not take", where + ".handle")
    value = codec.tensor_from_proto(t, where)
    return res.kept(t, value, where) if res is not None else value


def _from_region(t: pb.Tensor, where: str, shared=None) -> np.ndarray:
    """A tensor whose bytes are in a shared-memory region: mapped read-only, without a copy. A client's
    reusable region (keep) stays, and its mapping is kept (`shared`: the server's SharedMemory)."""
    dtype = codec.DTYPES.get(t.dtype)
    if dtype is None:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"{where}: unknown or unspecified dtype ({t.dtype})",
                           where)
    if t.data or t.handle:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"{where}: a tensor in a shared-memory region comes "
                           "without data or handle", where + ".shm")
    nbytes = codec.count(t) * dtype.itemsize
    if t.shm.nbytes != nbytes:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"{where}: region {t.shm.name} is said to hold "
                           f"{t.shm.nbytes} bytes, but shape {list(t.shape)} of {codec.DTYPE_NAMES[t.dtype]} needs "
                           f"{nbytes}", where + ".shm")
    try:
        if not t.shm.keep:
            value = shm.read(t.shm.name, dtype, tuple(t.shape), nbytes)
        elif shared is not None and shared.enabled:
            value = shared.kept_region(t.shm.name, nbytes, writable=False).view(dtype).reshape(tuple(t.shape))
        else:
            value = np.frombuffer(shm.open_region(t.shm.name, nbytes), dtype,
                                  count=nbytes // dtype.itemsize).reshape(tuple(t.shape))
    except shm.RegionError as e:
        raise RequestError(grpc.StatusCode.FAILED_PRECONDITION, f"{where}: {e}", where + ".shm") from None
    if dtype == np.dtype("?") and nbytes and not np.all(value.view(np.uint8) <= 1):
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"{where}: bool data must be bytes 0 or 1", where)
    return value if dtype.isnative else value.astype(dtype.newbyteorder("="))


def check_shape(t, where: str, budget: Budget) -> int:
    """Check a tensor's (or a ValueChunk's) shape against the limits; returns its element count."""
    shape = t.shape
    if len(shape) > codec.MAX_RANK:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"{where}: {len(shape)} dimensions; at most {codec.MAX_RANK}", where)
    count = extent = 1
    for d in shape:
        if d < 0:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"{where}: negative dimension {d} in shape {list(shape)}", where)
        count *= d
        extent *= d or 1
    if extent > budget.max_tensor_elements:
        if extent > codec.MAX_EXTENT:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"{where}: shape {list(shape)} cannot be represented: its nonzero "
                               f"dimensions multiply to {extent}, past 2**63", where)
        # A limit (RESOURCE_EXHAUSTED), not a malformed tensor (INVALID_ARGUMENT).
        what = (f"{count} elements" if count else
                f"no elements, but its nonzero dimensions multiply to {extent},")
        raise _too_big(f"{where}: shape {list(shape)} has {what} beyond the limit of "
                       f"{budget.max_tensor_elements} per tensor (--max-tensor-elements)", where)
    return count


def _attr(v: pb.AttrValue, where: str, budget: Budget):
    if v.WhichOneof("value") == "tensor":
        return tensor(v.tensor, where, budget)
    return codec.attr_from_proto(v, where)


def _nodes(part: pb.Graph, offset: int, budget: Budget) -> tuple:
    return tuple(
        Node(n.op, tuple(n.inputs),
             {name: _attr(v, f"graph.nodes[{offset + i}].attrs[{name}]", budget)
              for name, v in n.attrs.items()})
        for i, n in enumerate(part.nodes))


def graph(ref: pb.GraphRef, request_bytes: int, cache: PartCache,
          budget: Budget) -> tuple[Graph, pb.GraphInfo]:
    """Concatenate the request's parts (resolving hashes through `cache`) into one Graph; the
    returned GraphInfo carries one hash per part."""
    nodes: list = []
    info = pb.GraphInfo()
    for k, part in enumerate(ref.parts):
        kind = part.WhichOneof("part")
        if kind == "hash":
            if not hashing.is_hash(part.hash):
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"graph part {k}: hash {part.hash!r} is not a part hash (64 lowercase "
                                   f"hex digits)", f"graph.parts[{k}].hash")
            cached = cache.get(part.hash)
            if cached is None:
                raise RequestError(
                    grpc.StatusCode.NOT_FOUND,
                    f"graph part {k}: hash {part.hash!r} is not in this server's cache; "
                    f"resend the part's nodes in full", f"graph.parts[{k}].hash")
            request_bytes += cached.nbytes
            key = part.hash
        elif kind == "graph":
            key = cache.hash_of(part.graph)
            cached = cache.get(key, count=False)
            if cached is None:
                if len(nodes) + len(part.graph.nodes) > budget.max_nodes:
                    raise _too_big(f"the graph has more than {budget.max_nodes} nodes (--max-nodes)",
                                   f"graph.parts[{k}]")
                parsed = _nodes(part.graph, len(nodes), budget)
                cached = Part(parsed, part.graph.ByteSize(),
                              Graph(parsed, content_hash=content_hash([key])))
                cache.put(key, cached)
        else:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"graph part {k} holds neither nodes nor a hash",
                               f"graph.parts[{k}]")
        if len(nodes) + len(cached.nodes) > budget.max_nodes:
            raise _too_big(f"the graph has more than {budget.max_nodes} nodes (--max-nodes)",
                           f"graph.parts[{k}]")
        if request_bytes > budget.max_request_bytes:
            raise _too_big(f"the request resolves to more than {budget.max_request_bytes} "
                           f"bytes (--max-request-bytes)", f"graph.parts[{k}]")
        if len(ref.parts) > 1:
            nodes.extend(cached.nodes)
        info.part_hashes.append(key)
    if len(info.part_hashes) == 1:
        return cached.graph, info      # no copy of the nodes, no hashing per call
    return Graph(nodes, content_hash=content_hash(info.part_hashes)), info


def node_ids(ids, n: int, field: str) -> list[int]:
    """Node ids a request names (outputs, wrt, seeds …), each checked against the graph's n nodes so that
    a bad one is refused naming its field (`wrt[1]`) before the engine runs."""
    for k, i in enumerate(ids):
        if i >= n:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"{field}[{k}]: {i} is not a node id (the graph has {n} nodes)", f"{field}[{k}]")
    return list(ids)


def node_id(i: int, n: int, field: str) -> int:
    if i >= n:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"{field}: {i} is not a node id (the graph has {n} nodes)", field)
    return i


def inputs(feeds, budget: Budget, res=None) -> dict[str, np.ndarray]:
    return {name: tensor(t, f"inputs[{name}]", budget, res) for name, t in feeds.items()}


def known(values, budget: Budget, res=None) -> dict[int, np.ndarray]:
    return {kv.node: tensor(kv.value, f"known[{k}].value", budget, res)
            for k, kv in enumerate(values)}


def tensors(arrays, where: str, budget: Budget, res=None) -> list[np.ndarray]:
    return [tensor(t, f"{where}[{k}]", budget, res) for k, t in enumerate(arrays)]


def put_tensors(field, arrays) -> None:
    for a in arrays:
        codec.tensor_to_proto(a, field.add())


def put_anomaly(out: pb.Anomaly, anomaly) -> None:
    out.node, out.op, out.phase, out.message = (
        anomaly.node, anomaly.op, anomaly.phase, anomaly.message)


def put_graph(out: pb.Graph, g: Graph) -> None:
    for node in g.nodes:
        msg = out.nodes.add(op=node.op, inputs=node.inputs)
        for name, value in node.attrs.items():
            codec.attr_to_proto(value, msg.attrs[name])


def put_op(out: pb.OpInfo, op) -> None:
    out.name, out.min_inputs, out.max_inputs = op.name, op.min_inputs, op.max_inputs
    out.differentiable, out.composite, out.doc = op.differentiable, op.composite, op.doc
    out.dtypes[:] = [codec.dtype_enum(d) for d in op.dtypes]
    for a in op.attrs:
        out.attrs.add(name=a.name, kind=a.kind, required=a.required, doc=a.doc)
