"""Deadlines, the concurrent-request cap and many client threads at once."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest

from gradwire.service.config import ServerConfig
from gradwire.service.server import server_state
from gradwire.v1 import gradwire_pb2 as pb
from gradwire.v1 import gradwire_pb2_grpc as pb_grpc


def tiny(wire, value: float = 2.0) -> tuple[pb.EvaluateRequest, float]:
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    y = g.add("square", x)
    return pb.EvaluateRequest(graph=g.ref(), inputs=wire.feeds(x=np.float64(value)),
                              outputs=[y]), value ** 2


def wait_for(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_deadline_abandons_the_computation(stub, wire, session_server):
    state = server_state(session_server)
    handled = state.metrics.registry.get_sample_value
    labels = {"grpc_type": "unary", "grpc_service": "gradwire.v1.Autodiff",
              "grpc_method": "Evaluate", "grpc_code": "DeadlineExceeded"}
    before = handled("grpc_server_handled_total", labels) or 0
    heavy = wire.heavy(1000)   # ~3 s of work if it ran to the end
    start = time.monotonic()
    with pytest.raises(grpc.RpcError) as err:
        stub.Evaluate(heavy, timeout=0.5)
    assert err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - start < 2.0
    # The server stops computing soon after the deadline, instead of finishing the plan.
    # (The DeadlineExceeded count proves it: a plan run to its end would be counted as OK.)
    assert wait_for(lambda: state.slots.in_flight == 0, timeout=5.0)
    assert wait_for(lambda: (handled("grpc_server_handled_total", labels) or 0) == before + 1, 3)
    request, expected = tiny(wire)
    assert wire.array(stub.Evaluate(request, timeout=5).outputs[0]) == expected


def test_beyond_max_concurrent_is_refused_at_once(make_server, wire):
    target = make_server(ServerConfig(max_concurrent=1, warm_up=False))
    with grpc.insecure_channel(target) as ch:
        stub = pb_grpc.AutodiffStub(ch)
        running = stub.Evaluate.future(wire.heavy(1000))
        request, expected = tiny(wire)

        def refused() -> bool:
            started = time.monotonic()
            try:
                stub.Evaluate(request, timeout=5)
                return False
            except grpc.RpcError as e:
                assert e.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, e.details()
                assert time.monotonic() - started < 0.5  # not queued behind the heavy one
                return True

        assert wait_for(refused, timeout=5.0)
        # Cheap calls do not take a compute slot.
        assert stub.ListOps(pb.ListOpsRequest(), timeout=5).ops
        running.cancel()
        assert wait_for(lambda: not refused(), timeout=5.0)
        assert wire.array(stub.Evaluate(request, timeout=5).outputs[0]) == expected


def test_many_threads_get_their_own_correct_answers(stub, wire):
    """Different graphs and inputs from 16 threads at once; every answer matches NumPy."""
    def one(k: int) -> None:
        rng = np.random.default_rng(k)
        g = wire.GraphBuilder()
        x, w = g.placeholder("x"), g.placeholder("w")
        a = g.add("tanh", g.add("matmul", x, w))
        s = g.add("sum", g.add("mul", a, g.constant(np.float64(k))), axes=None)
        xv, wv = rng.standard_normal((k % 5 + 1, 6)), rng.standard_normal((6, 3))
        r = stub.Gradient(pb.GradientRequest(graph=g.ref(), inputs=wire.feeds(x=xv, w=wv),
                                             outputs=[s], wrt=[x, w]), timeout=30)
        dh = k * (1 - np.tanh(xv @ wv) ** 2)
        np.testing.assert_allclose(wire.array(r.values[0]), k * np.tanh(xv @ wv).sum(),
                                   rtol=1e-10)
        np.testing.assert_allclose(wire.array(r.gradients[0]), dh @ wv.T, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(wire.array(r.gradients[1]), xv.T @ dh, rtol=1e-10, atol=1e-12)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(160)))
