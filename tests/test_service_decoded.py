"""Identical small requests decoded once (service/decoded.py): same answers, per-caller handles, eviction."""
from __future__ import annotations

import grpc
import numpy as np
import pytest

from gradwire.service.config import ServerConfig
from gradwire.service.decoded import DecodedRequests
from gradwire.service.server import server_state
from gradwire.v1 import gradwire_pb2 as pb
from gradwire.v1 import gradwire_pb2_grpc as pb_grpc

GRADIENT = "/gradwire.v1.Autodiff/Gradient"


def _square_sum(wire):
    """s = sum(x * x): ds/dx = 2x."""
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    s = g.add("sum", g.add("mul", x, x), axes=None)
    return g, x, s


def _raw(channel, method=GRADIENT):
    """The method with bytes in and out, so a test sends exactly the same bytes again."""
    return channel.unary_unary(method)


def test_parse_hands_back_one_message_per_bytes_and_forgets_past_its_bounds():
    memo = DecodedRequests(max_entries=2, max_bytes=64)
    small = pb.GradientRequest(outputs=[3], wrt=[0]).SerializeToString()
    first = memo.parse(pb.GradientRequest, small)
    assert memo.parse(pb.GradientRequest, small) is first
    assert memo.parse(pb.EvaluateRequest, small) is not first     # the message class is part of the key
    memo.remember(first, "decoded")
    assert memo.get(first) == "decoded"
    assert memo.get(pb.GradientRequest.FromString(small)) is None  # an equal message, not this one
    big = pb.GradientRequest(outputs=list(range(100))).SerializeToString()
    assert memo.parse(pb.GradientRequest, big) is not memo.parse(pb.GradientRequest, big)
    memo.parse(pb.GradientRequest, pb.GradientRequest(outputs=[1]).SerializeToString())   # evicts `first`
    assert len(memo) == 2 and memo.get(first) is None
    memo.remember(first, "again")          # no longer held: not remembered
    assert memo.get(first) is None and memo.parse(pb.GradientRequest, small) is not first


def test_repeated_bytes_by_hash_answer_alike_and_count_part_hits(make_server, wire):
    target = make_server(ServerConfig(metrics_port=None))
    g, x, s = _square_sum(wire)
    xs = np.array([1.0, -2.0, 3.5])
    with grpc.insecure_channel(target) as ch:
        stub = pb_grpc.AutodiffStub(ch)
        first = stub.Gradient(pb.GradientRequest(graph=g.ref(), inputs=wire.feeds(x=xs), outputs=[s], wrt=[x]))
        ref = pb.GraphRef(parts=[pb.GraphPart(hash=first.info.part_hashes[0])])
        request = pb.GradientRequest(graph=ref, inputs=wire.feeds(x=xs), outputs=[s], wrt=[x]).SerializeToString()
        call = _raw(ch)
        for _ in range(3):
            r = pb.GradientResponse.FromString(call(request))
            np.testing.assert_allclose(wire.array(r.gradients[0]), 2 * xs, rtol=1e-12)
            np.testing.assert_allclose(wire.array(r.values[0]), (xs * xs).sum(), rtol=1e-12)
        # Different feeds in otherwise equal bytes are another request, decoded on their own.
        other = pb.GradientRequest(graph=ref, inputs=wire.feeds(x=-xs), outputs=[s], wrt=[x]).SerializeToString()
        np.testing.assert_allclose(wire.array(pb.GradientResponse.FromString(call(other)).gradients[0]), -2 * xs)


def test_a_remembered_request_still_misses_once_its_part_is_evicted(serve, wire):
    with serve(ServerConfig(part_cache_entries=1)) as (target, server):
        state = server_state(server)
        g, x, s = _square_sum(wire)
        xs = np.array([0.5, 1.5])
        with grpc.insecure_channel(target) as ch:
            stub = pb_grpc.AutodiffStub(ch)
            key = stub.Gradient(pb.GradientRequest(graph=g.ref(), inputs=wire.feeds(x=xs), outputs=[s],
                                                   wrt=[x])).info.part_hashes[0]
            request = pb.GradientRequest(graph=pb.GraphRef(parts=[pb.GraphPart(hash=key)]),
                                         inputs=wire.feeds(x=xs), outputs=[s], wrt=[x]).SerializeToString()
            call = _raw(ch)
            hits = state.parts.hits
            call(request)
            call(request)
            assert state.parts.hits == hits + 2       # a remembered decode still looks its part up
            other = wire.GraphBuilder()
            other.add("sum", other.placeholder("y"), axes=None)   # takes the cache's only entry
            stub.Evaluate(pb.EvaluateRequest(graph=other.ref(), inputs=wire.feeds(y=xs), outputs=[1]))
            with pytest.raises(grpc.RpcError) as e:
                call(request)
            assert e.value.code() == grpc.StatusCode.NOT_FOUND and key in e.value.details()


def test_the_same_bytes_naming_a_handle_resolve_for_each_caller_alone(make_server, wire):
    target = make_server()
    g, x, s = _square_sum(wire)
    big = np.linspace(-1.0, 1.0, 1024)                 # 8 KiB: kept resident when sent with `resident`
    with grpc.insecure_channel(target) as ch:
        stub = pb_grpc.AutodiffStub(ch)
        alice = (("x-gradwire-namespace", "alice"),)
        kept = stub.Evaluate(pb.EvaluateRequest(graph=g.ref(), inputs=wire.feeds(x=big), outputs=[s],
                                                options=pb.Options(resident=True, fetch=[s])), metadata=alice)
        key = kept.info.part_hashes[0]
        handle = stub.Evaluate(pb.EvaluateRequest(graph=g.ref(), inputs=wire.feeds(x=big), outputs=[x],
                                                  options=pb.Options(resident=True)), metadata=alice).outputs[0]
        assert handle.handle and not handle.data
        by_handle = pb.GradientRequest(
            graph=pb.GraphRef(parts=[pb.GraphPart(hash=key)]), outputs=[s], wrt=[x],
            inputs={"x": pb.Tensor(dtype=handle.dtype, shape=handle.shape, handle=handle.handle)})
        request = by_handle.SerializeToString()
        assert len(request) < 4096                       # small enough to be parsed once
        call = _raw(ch)
        for _ in range(2):
            r = pb.GradientResponse.FromString(call(request, metadata=alice))
            np.testing.assert_allclose(wire.array(r.gradients[0]), 2 * big, rtol=1e-12)
        with pytest.raises(grpc.RpcError) as e:
            call(request, metadata=(("x-gradwire-namespace", "bob"),))
        assert e.value.code() == grpc.StatusCode.NOT_FOUND and handle.handle in e.value.details()
        with pytest.raises(grpc.RpcError) as e:
            call(request)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "caller identity" in e.value.details()
        r = pb.GradientResponse.FromString(call(request, metadata=alice))
        np.testing.assert_allclose(wire.array(r.gradients[0]), 2 * big, rtol=1e-12)
