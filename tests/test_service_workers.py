"""Worker processes on one port: both serve, a dead one is restarted without losing a retried
call, SIGTERM drains them all, and the supervisor's /metrics sums theirs."""
from __future__ import annotations

import os
import re
import signal
import threading
import time
import urllib.request

import grpc
import numpy as np
import pytest

from gradwire.session import _CHANNEL_OPTIONS
from gradwire.v1 import gradwire_pb2 as pb
from gradwire.v1 import gradwire_pb2_grpc as pb_grpc

from test_service_process import free_port

# A fresh connection per channel: SO_REUSEPORT spreads connections, not calls.
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


def worker_pid(target: str, options=()) -> int:
    with grpc.insecure_channel(target, options=[*OWN_CONNECTION, *options]) as ch:
        return pb_grpc.AutodiffStub(ch).GetServerInfo(pb.ServerInfoRequest(), timeout=30).pid


def pids_answering(target: str, connections: int = 24) -> set[int]:
    return {worker_pid(target) for _ in range(connections)}


def square(wire, value: float) -> pb.EvaluateRequest:
    g = wire.GraphBuilder()
    y = g.add("square", g.placeholder("x"))
    return pb.EvaluateRequest(graph=g.ref(), inputs=wire.feeds(x=np.float64(value)), outputs=[y])


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def total(text: str, name: str, **labels) -> float:
    out = 0.0
    for m in re.finditer(rf"^{name}(?:\{{([^}}]*)\}})? (\S+)$", text, re.M):
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            out += float(m.group(2))
    return out


def test_two_workers_share_the_port_and_metrics_add_up(server_process, wire):
    metrics_port = free_port()
    proc, target = server_process("--processes", "2", "--metrics-port", str(metrics_port))
    pids = pids_answering(target)
    assert len(pids) == 2 and proc.pid not in pids
    info_calls = 24
    for k in range(10):
        with grpc.insecure_channel(target, options=OWN_CONNECTION) as ch:
            r = pb_grpc.AutodiffStub(ch).Evaluate(square(wire, k), timeout=30)
            assert wire.array(r.outputs[0]) == k * k
    text = scrape(metrics_port)
    calls = dict(grpc_service="gradwire.v1.Autodiff", grpc_code="OK")
    assert total(text, "grpc_server_handled_total", grpc_method="Evaluate", **calls) == 10
    assert total(text, "grpc_server_handled_total", grpc_method="GetServerInfo",
                 **calls) == info_calls
    assert total(text, "gradwire_workers") == 2
    assert total(text, "gradwire_worker_restarts_total") == 0
    with grpc.insecure_channel(target) as ch:
        info = pb_grpc.AutodiffStub(ch).GetServerInfo(pb.ServerInfoRequest(), timeout=30)
    assert info.limits.processes == 2 and info.pid in pids


def test_a_killed_worker_is_restarted_and_a_retrying_client_loses_no_call(server_process,
                                                                          wire):
    metrics_port = free_port()
    proc, target = server_process("--processes", "2", "--metrics-port", str(metrics_port))
    victim = worker_pid(target)
    results, failures, stop = [], [], threading.Event()

    def caller(k: int) -> None:
        # The client's own channel settings: retries UNAVAILABLE, as gradwire.connect() does.
        n = 0
        while not stop.is_set():
            options = [*_CHANNEL_OPTIONS, *OWN_CONNECTION]
            with grpc.insecure_channel(target, options=options) as ch:
                stub = pb_grpc.AutodiffStub(ch)
                for _ in range(20):
                    value = float(k * 1000 + n)
                    try:
                        r = stub.Evaluate(square(wire, value), timeout=30)
                        results.append(wire.array(r.outputs[0]) == value * value)
                    except grpc.RpcError as e:
                        failures.append((e.code(), e.details()))
                    n += 1

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    os.kill(victim, signal.SIGKILL)
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join(60)
    assert failures == [] and len(results) > 100 and all(results)
    # The supervisor restarts it: two workers again, one of them new.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pids = pids_answering(target)
        if len(pids) == 2 and victim not in pids:
            break
        time.sleep(0.5)
    assert len(pids) == 2 and victim not in pids, pids
    while total(text := scrape(metrics_port), "gradwire_workers") < 2 and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    assert total(text, "gradwire_workers") == 2
    assert total(text, "gradwire_worker_restarts_total") == 1


def test_sigterm_drains_every_worker_and_exits_0(server_process, wire):
    proc, target = server_process("--processes", "2", "--grace", "60")
    steps = 60
    request = wire.heavy(steps)
    channels = [grpc.insecure_channel(target, options=OWN_CONNECTION) for _ in range(16)]
    try:
        stubs = [pb_grpc.AutodiffStub(ch) for ch in channels]
        busy = {pb_grpc.AutodiffStub(ch).GetServerInfo(pb.ServerInfoRequest(), timeout=30).pid
                for ch in channels}
        assert len(busy) == 2      # the in-flight calls below run on both workers
        futures = [s.Evaluate.future(request, timeout=120) for s in stubs]
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        values = {float(wire.array(f.result().outputs[0])) for f in futures}
        assert proc.wait(timeout=60) == 0
    finally:
        for ch in channels:
            ch.close()
    assert len(values) == 1 and np.isfinite(values.pop())
    for pid in busy:   # no orphaned worker
        assert not os.path.exists(f"/proc/{pid}") or \
            open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_a_worker_that_cannot_start_makes_the_server_exit_1(tmp_path):
    import subprocess
    import sys
    missing = tmp_path / "missing.pem"
    proc = subprocess.run([sys.executable, "-m", "gradwire.service", "--port", "0",
                           "--processes", "2", "--no-warm-up", "--tls-cert", str(missing),
                           "--tls-key", str(missing)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "missing.pem" in proc.stderr and proc.stdout == ""


def test_a_taken_port_is_an_error_for_workers_too(server_process):
    import subprocess
    import sys
    _, target = server_process("--processes", "2", "--no-warm-up")
    proc = subprocess.run([sys.executable, "-m", "gradwire.service", "--port",
                           target.rsplit(":", 1)[1], "--processes", "2", "--no-warm-up"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "bind" in proc.stderr and proc.stdout == ""


def _cores_of(pid: int) -> set[int]:
    """The cores any thread of process `pid` may run on."""
    return {c for t in os.listdir(f"/proc/{pid}/task") for c in os.sched_getaffinity(int(t))}


def _workers_of(pid: int) -> list[int]:
    children = []
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/children") as f:
            children += [int(c) for c in f.read().split()]
    with_cmd = [(c, open(f"/proc/{c}/cmdline", "rb").read()) for c in children]
    return [c for c, cmd in with_cmd if b"spawn_main" in cmd and b"resource_tracker" not in cmd]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two usable cores to tell workers apart")
def test_pin_cores_binds_each_worker_to_its_own_core(server_process):
    proc, target = server_process("--processes", "2", "--no-warm-up", "--pin-cores")
    workers = _workers_of(proc.pid)
    cores = sorted(os.sched_getaffinity(0))
    assert len(workers) == 2
    assert sorted(tuple(_cores_of(w)) for w in workers) == [(cores[0],), (cores[1],)]
    assert _cores_of(proc.pid) == set(cores)     # the supervisor itself stays free
    with grpc.insecure_channel(target) as ch:     # and the pinned workers serve
        info = pb_grpc.AutodiffStub(ch).GetServerInfo(pb.ServerInfoRequest(), timeout=30)
    assert info.pid in workers


def test_pin_cores_with_one_process_binds_it_to_the_first_usable_core(server_process):
    proc, target = server_process("--processes", "1", "--no-warm-up", "--pin-cores")
    assert _cores_of(proc.pid) == {min(os.sched_getaffinity(0))}
    with grpc.insecure_channel(target) as ch:
        assert pb_grpc.AutodiffStub(ch).GetServerInfo(pb.ServerInfoRequest(), timeout=30).pid == proc.pid
