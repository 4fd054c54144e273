"""Standard services: grpc.health.v1 (incl. draining), reflection and the Prometheus endpoint."""
from __future__ import annotations

import hashlib
import re
import threading
import time
import urllib.request

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gradwire.service.config import ServerConfig
from gradwire.service.server import create_server, server_state, shutdown
from gradwire.v1 import gradwire_pb2 as pb
from gradwire.v1 import gradwire_pb2_grpc as pb_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def test_health_reports_serving_for_server_and_service(channel):
    check = health_pb2_grpc.HealthStub(channel).Check
    for name in ("", "gradwire.v1.Autodiff"):
        assert check(health_pb2.HealthCheckRequest(service=name), timeout=5).status == SERVING
    try:
        check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
        raise AssertionError("unknown service reported healthy")
    except grpc.RpcError as e:
        assert e.code() is grpc.StatusCode.NOT_FOUND


def test_reflection_lists_and_describes_the_services(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = [reflection_pb2.ServerReflectionRequest(list_services=""),
                reflection_pb2.ServerReflectionRequest(
                    file_containing_symbol="gradwire.v1.Autodiff")]
    listed, described = list(stub.ServerReflectionInfo(iter(requests), timeout=5))
    names = {s.name for s in listed.list_services_response.service}
    assert {"gradwire.v1.Autodiff", "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection"} <= names
    files = described.file_descriptor_response.file_descriptor_proto
    assert files and b"gradwire.v1" in files[0]


def scrape(session_server) -> str:
    port = server_state(session_server).metrics_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def sample(text: str, name: str, **labels) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            got = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            if all(got.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_endpoint_counts_calls_and_plan_cache(stub, wire, session_server):
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    y = g.add("cos", g.add("mul", x, g.constant(np.float64(3.0))))   # a graph no test shares
    req = pb.EvaluateRequest(graph=g.ref(), inputs=wire.feeds(x=np.ones(7)), outputs=[y])
    calls = dict(grpc_service="gradwire.v1.Autodiff", grpc_method="Evaluate")
    before = scrape(session_server)
    ok_before = sample(before, "grpc_server_handled_total", grpc_code="OK", **calls) or 0
    bad_before = sample(before, "grpc_server_handled_total",
                        grpc_code="InvalidArgument", **calls) or 0
    misses_before = sample(before, "gradwire_plan_cache_misses_total")
    first, second = stub.Evaluate(req), stub.Evaluate(req)
    assert not first.info.plan_cache_hit and second.info.plan_cache_hit
    try:
        stub.Evaluate(pb.EvaluateRequest(graph=g.ref(), outputs=[y]))  # no input fed
    except grpc.RpcError as e:
        assert e.code() is grpc.StatusCode.INVALID_ARGUMENT

    after = scrape(session_server)
    assert sample(after, "grpc_server_handled_total", grpc_code="OK", **calls) == ok_before + 2
    assert sample(after, "grpc_server_handled_total",
                  grpc_code="InvalidArgument", **calls) == bad_before + 1
    assert sample(after, "grpc_server_handling_seconds_count", **calls) >= ok_before + 3
    assert sample(after, "grpc_server_handling_seconds_bucket", le="+Inf", **calls) is not None
    assert sample(after, "gradwire_plan_cache_misses_total") >= misses_before + 1
    assert sample(after, "gradwire_plan_cache_hits_total") >= 1
    # Compile time is one histogram; no label takes a value per graph (the set stays bounded).
    assert sample(after, "gradwire_plan_compile_seconds_count") >= \
        (sample(before, "gradwire_plan_compile_seconds_count") or 0) + 1
    assert "graph_hash" not in after
    for name in ("gradwire_queue_length", "gradwire_queue_wait_seconds_count"):
        assert sample(after, name) is not None, name
    for name in ("gradwire_plan_cache_size", "gradwire_part_cache_hits_total",
                 "gradwire_part_cache_misses_total", "gradwire_requests_in_flight",
                 "gradwire_value_store_bytes", "gradwire_value_store_entries", "gradwire_value_store_hits_total",
                 "gradwire_value_store_misses_total", "gradwire_value_store_evictions_total",
                 "gradwire_compiled_plan_seconds"):
        assert sample(after, name) is not None, name
    assert 'gradwire_compiled_plans{state="compiled"}' in after


def test_server_info_lists_the_most_used_plans(stub, wire, make_server):
    # The plan cache is per process, shared by every server in it: list them all to find ours.
    everything = make_server(ServerConfig(top_plans=100_000, warm_up=False))
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    y = g.add("sin", g.add("mul", x, g.constant(np.float64(5.0))))   # a graph no test shares
    req = pb.EvaluateRequest(graph=g.ref(), inputs=wire.feeds(x=np.ones(3)), outputs=[y])
    replies = [stub.Evaluate(req) for _ in range(40)]
    graph_hash = hashlib.sha256("\n".join(replies[0].info.part_hashes).encode()).hexdigest()
    assert 0 < len(stub.GetServerInfo(pb.ServerInfoRequest()).plans) <= 10   # --top-plans
    with grpc.insecure_channel(everything) as ch:
        info = pb_grpc.AutodiffStub(ch).GetServerInfo(pb.ServerInfoRequest())
    assert info.pid > 0
    hits = [p.hits for p in info.plans]
    assert hits == sorted(hits, reverse=True)
    mine = {p.graph_hash: p for p in info.plans}[graph_hash]
    assert mine.hits >= 39 and mine.compiles == 1 and mine.compile_seconds > 0
    assert abs(mine.last_used_unix_seconds - time.time()) < 60
    assert info.limits.max_queued_requests == 128


def test_health_turns_not_serving_while_draining(wire):
    """Watchers see NOT_SERVING as soon as the drain starts; the in-flight call still finishes."""
    server, port = create_server("127.0.0.1:0", ServerConfig(warm_up=False))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        watch = health_pb2_grpc.HealthStub(ch).Watch(
            health_pb2.HealthCheckRequest(service="gradwire.v1.Autodiff"), timeout=30)
        assert next(watch).status == SERVING
        running = pb_grpc.AutodiffStub(ch).Evaluate.future(wire.heavy(150), timeout=30)
        admission = server_state(server).admission
        while admission.in_flight == 0 and not running.done():
            time.sleep(0.01)
        drained = threading.Thread(target=shutdown, args=(server, 20.0))
        drained.start()
        assert next(watch).status == NOT_SERVING
        # A call arriving mid-drain is refused with UNAVAILABLE (retryable), not cut off as CANCELLED.
        with pytest.raises(grpc.RpcError) as late:
            pb_grpc.AutodiffStub(ch).Evaluate(wire.heavy(1), timeout=10)
        assert late.value.code() == grpc.StatusCode.UNAVAILABLE
        assert np.isfinite(wire.array(running.result().outputs[0]))
        drained.join(30)
        assert not drained.is_alive()
