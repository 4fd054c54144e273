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
    assert wait_for(lambda: state.admission.in_flight == 0, timeout=5.0)
    assert wait_for(lambda: (handled("grpc_server_handled_total", labels) or 0) == before + 1, 3)
    request, expected = tiny(wire)
    assert wire.array(stub.Evaluate(request, timeout=5).outputs[0]) == expected


def test_beyond_the_slots_calls_wait_in_line_and_succeed(make_server, wire):
    target = make_server(ServerConfig(max_concurrent=1, max_queue=4, warm_up=False))
    with grpc.insecure_channel(target) as ch:
        stub = pb_grpc.AutodiffStub(ch)
        running = stub.Evaluate.future(wire.heavy(100), timeout=60)
        request, expected = tiny(wire)
        queued = [stub.Evaluate.future(request, timeout=60) for _ in range(3)]
        # Cheap calls take no slot: answered while the slot is busy and calls are waiting.
        assert stub.ListOps(pb.ListOpsRequest(), timeout=5).ops
        assert np.isfinite(wire.array(running.result().outputs[0]))
        assert [float(wire.array(f.result().outputs[0])) for f in queued] == [expected] * 3


def test_a_full_queue_is_refused_at_once_saying_so(make_server, wire, serve):
    config = ServerConfig(max_concurrent=1, max_queue=1, warm_up=False, metrics_port=0)
    with serve(config) as (target, server), grpc.insecure_channel(target) as ch:
        stub = pb_grpc.AutodiffStub(ch)
        state = server_state(server)
        running = stub.Evaluate.future(wire.heavy(1000), timeout=60)
        assert wait_for(lambda: state.admission.in_flight == 1, 10)
        request, expected = tiny(wire)
        waiting = stub.Evaluate.future(request, timeout=60)
        assert wait_for(lambda: state.admission.queued == 1, 10)
        assert state.metrics.registry.get_sample_value("gradwire_queue_length") == 1
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as err:
            stub.Evaluate(request, timeout=30)
        assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert err.value.details().startswith("queue full:"), err.value.details()
        assert time.monotonic() - started < 1.0        # refused, not queued
        assert state.metrics.registry.get_sample_value(
            "gradwire_admission_refused_total", {"reason": "queue_full"}) == 1
        running.cancel()
        assert float(wire.array(waiting.result().outputs[0])) == expected
        assert state.metrics.registry.get_sample_value("gradwire_queue_wait_seconds_count") >= 1


def test_a_deadline_the_queue_cannot_meet_is_refused_at_once(serve, wire):
    config = ServerConfig(max_concurrent=1, max_queue=8, warm_up=False, metrics_port=0)
    with serve(config) as (target, server), grpc.insecure_channel(target) as ch:
        stub = pb_grpc.AutodiffStub(ch)
        state = server_state(server)
        stub.Evaluate(wire.heavy(100), timeout=60)      # teaches the queue what a call costs
        hold = state.admission.mean_hold
        assert hold > 0.05
        running = stub.Evaluate.future(wire.heavy(1000), timeout=60)
        assert wait_for(lambda: state.admission.in_flight == 1, 10)
        request, _ = tiny(wire)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as err:
            stub.Evaluate(request, timeout=hold / 4)
        assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert err.value.details().startswith("deadline cannot be met:"), err.value.details()
        assert time.monotonic() - started < hold / 4 + 0.5
        assert state.metrics.registry.get_sample_value(
            "gradwire_admission_refused_total", {"reason": "deadline"}) == 1
        # A caller whose deadline the queue can meet waits its turn.
        waiting = stub.Evaluate.future(request, timeout=60)
        assert wait_for(lambda: state.admission.queued == 1, 10)
        waiting.cancel()                                 # a cancelled waiter leaves the line
        assert wait_for(lambda: state.admission.queued == 0, 5)
        running.cancel()


def test_a_deadline_that_passes_in_the_queue_ends_the_wait(serve, wire):
    config = ServerConfig(max_concurrent=1, max_queue=8, warm_up=False)
    with serve(config) as (target, server), grpc.insecure_channel(target) as ch:
        stub = pb_grpc.AutodiffStub(ch)
        state = server_state(server)
        running = stub.Evaluate.future(wire.heavy(1000), timeout=60)
        assert wait_for(lambda: state.admission.in_flight == 1, 10)
        assert state.admission.mean_hold == 0      # nothing finished: no estimate to refuse on
        request, _ = tiny(wire)
        with pytest.raises(grpc.RpcError) as err:
            stub.Evaluate(request, timeout=0.3)
        assert err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert wait_for(lambda: state.admission.queued == 0, 5)
        running.cancel()
        assert wait_for(lambda: state.admission.in_flight == 0, 10)


def test_64_concurrent_callers_get_no_errors(serve, wire):
    """64 callers at once, each on its own connection, against 2 compute slots: all queue, none
    is refused, every answer is right."""
    config = ServerConfig(max_concurrent=2, warm_up=False)
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    h = x
    for _ in range(20):
        h = g.add("tanh", g.add("matmul", h, x))
    s = g.add("sum", h, axes=None)
    xv = np.random.default_rng(3).standard_normal((64, 64)) / 8
    request = pb.GradientRequest(graph=g.ref(), inputs=wire.feeds(x=xv), outputs=[s], wrt=[x])
    with serve(config) as (target, server):
        reference = None
        with grpc.insecure_channel(target) as ch:
            reference = wire.array(pb_grpc.AutodiffStub(ch).Gradient(request).gradients[0])
        errors, peak = [], [0]
        state = server_state(server)

        def caller(k: int) -> None:
            options = [("grpc.use_local_subchannel_pool", 1)]
            with grpc.insecure_channel(target, options=options) as ch:
                stub = pb_grpc.AutodiffStub(ch)
                for _ in range(4):
                    try:
                        r = stub.Gradient(request, timeout=120)
                        np.testing.assert_array_equal(wire.array(r.gradients[0]), reference)
                    except grpc.RpcError as e:
                        errors.append((e.code(), e.details()))
                    peak[0] = max(peak[0], state.admission.queued)

        with ThreadPoolExecutor(64) as pool:
            list(pool.map(caller, range(64)))
    assert errors == []
    assert peak[0] > 2     # the callers really did wait in line


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
