"""The gradwire-server process: ready line, flags and GRADWIRE_* env vars, draining on SIGTERM/SIGINT."""
from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gradwire.v1 import gradwire_pb2 as pb
from gradwire.v1 import gradwire_pb2_grpc as pb_grpc


def test_ready_line_flags_and_env_vars(server_process):
    proc, target = server_process("--max-concurrent", "5", env={
        "GRADWIRE_MAX_NODES": "123", "GRADWIRE_MAX_CONCURRENT": "3", "GRADWIRE_TOKEN": "t0k",
        "GRADWIRE_LOG_LEVEL": "warning"})
    assert re.fullmatch(r"127\.0\.0\.1:\d+", target)
    with grpc.insecure_channel(target) as ch:
        stub = pb_grpc.AutodiffStub(ch)
        info = stub.GetServerInfo(pb.ServerInfoRequest(), timeout=10,
                                  metadata=[("authorization", "Bearer t0k")])
        assert info.limits.max_nodes == 123               # from the environment
        assert info.limits.max_concurrent_requests == 5   # the flag wins over the environment
        try:
            stub.GetServerInfo(pb.ServerInfoRequest(), timeout=10)
            raise AssertionError("no token, yet answered")
        except grpc.RpcError as e:
            assert e.code() is grpc.StatusCode.UNAUTHENTICATED


def test_bad_settings_exit_2_with_a_message():
    proc = subprocess.run([sys.executable, "-m", "gradwire.service", "--port", "0",
                           "--max-concurrent", "4", "--workers", "2"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "workers" in proc.stderr and proc.stdout == ""


def test_a_taken_port_is_an_error_not_a_shared_port(server_process):
    _, target = server_process("--no-warm-up")
    port = target.rsplit(":", 1)[1]
    proc = subprocess.run([sys.executable, "-m", "gradwire.service", "--port", port,
                           "--no-warm-up"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "bind" in proc.stderr and proc.stdout == ""


def expected_heavy(request: pb.EvaluateRequest, steps: int) -> float:
    x = np.frombuffer(request.inputs["x"].data, np.float32).reshape(request.inputs["x"].shape)
    y = x
    for _ in range(steps):
        y = np.tanh(y @ x)
    return float(y.sum())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_flight(metrics_port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return float(re.search(r"^gradwire_requests_in_flight (\S+)$", text, re.M).group(1))


def test_sigterm_finishes_every_in_flight_request(server_process, wire):
    metrics_port = free_port()
    proc, target = server_process("--grace", "60", "--max-concurrent", "8",
                                  "--metrics-port", str(metrics_port))
    steps = 100
    request = wire.heavy(steps)
    with grpc.insecure_channel(target) as ch:
        stub = pb_grpc.AutodiffStub(ch)
        # A load balancer's health watch stays open; it must not hold the drain up.
        watch = health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest(), timeout=60)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        futures = [stub.Evaluate.future(request, timeout=60) for _ in range(4)]
        while in_flight(metrics_port) < 4:
            assert not any(f.done() for f in futures), [f.exception() for f in futures]
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        values = [wire.array(f.result().outputs[0]) for f in futures]
        assert proc.wait(timeout=30) == 0
    assert len(set(float(v) for v in values)) == 1
    np.testing.assert_allclose(values[0], expected_heavy(request, steps), rtol=1e-3)
    with grpc.insecure_channel(target) as ch:
        try:
            pb_grpc.AutodiffStub(ch).ListOps(pb.ListOpsRequest(), timeout=2)
            raise AssertionError("answered after shutdown")
        except grpc.RpcError as e:
            assert e.code() is grpc.StatusCode.UNAVAILABLE


def test_sigint_also_exits_cleanly(server_process):
    proc, _ = server_process()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
