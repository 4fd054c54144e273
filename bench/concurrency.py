"""Do concurrent requests use every core? Times 1 vs 2 (vs 4) simultaneous heavy requests against a real server.

    python bench/concurrency.py [--repeats 3] [-- extra gradwire-server flags]

Starts `python -m gradwire.service --port 0` as a subprocess, then for each workload sends one
request alone, two one after the other, and two (and four) at once from client threads, and
prints wall times, the ratio to one request, and the server's CPU seconds per wall second
(~2.0 = both cores busy). The machine is shared and noisy: compare ratios within one run.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np

from gradwire.core import codec
from gradwire.v1 import gradwire_pb2 as pb
from gradwire.v1 import gradwire_pb2_grpc as pb_grpc


class Builder:
    def __init__(self):
        self.graph = pb.Graph()

    def add(self, op, *inputs, **attrs) -> int:
        node = self.graph.nodes.add(op=op, inputs=inputs)
        for name, value in attrs.items():
            codec.attr_to_proto(value, node.attrs[name])
        return len(self.graph.nodes) - 1


def matmul_chain(steps=150, n=512) -> pb.GradientRequest:
    """Reverse mode through y <- tanh(y @ x): BLAS-bound."""
    g = Builder()
    x = y = g.add("placeholder", name="x")
    for _ in range(steps):
        y = g.add("tanh", g.add("matmul", y, x))
    out = g.add("sum", y, axes=None)
    x0 = (np.random.default_rng(0).standard_normal((n, n)) / np.sqrt(n)).astype(np.float32)
    return pb.GradientRequest(graph=pb.GraphRef(parts=[pb.GraphPart(graph=g.graph)]),
                              inputs={"x": codec.tensor_to_proto(x0)}, outputs=[out], wrt=[x])


def elementwise_chain(steps=50, size=1 << 19) -> pb.GradientRequest:
    """Reverse mode through y <- sin(y) * x + y on 2**19 floats: kernel-bound, no BLAS."""
    g = Builder()
    x = y = g.add("placeholder", name="x")
    for _ in range(steps):
        y = g.add("add", g.add("mul", g.add("sin", y), x), y)
    out = g.add("mean", y, axes=None)
    x0 = np.random.default_rng(1).uniform(-0.1, 0.1, size).astype(np.float32)
    return pb.GradientRequest(graph=pb.GraphRef(parts=[pb.GraphPart(graph=g.graph)]),
                              inputs={"x": codec.tensor_to_proto(x0)}, outputs=[out], wrt=[x])


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(pid, fn):
    c0, t0 = cpu_seconds(pid), time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    return wall, (cpu_seconds(pid) - c0) / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("server_args", nargs="*", help="extra gradwire-server flags (after --)")
    args = ap.parse_args()
    # One process: the question is whether one server process keeps both cores busy (with
    # several, one channel's calls would all reach the same worker anyway).
    proc = subprocess.Popen([sys.executable, "-m", "gradwire.service", "--port", "0",
                             "--processes", "1", "--log-level", "warning", *args.server_args],
                            stdout=subprocess.PIPE, text=True)
    target = proc.stdout.readline().rsplit(" ", 1)[1].strip()
    opts = [("grpc.max_receive_message_length", 1 << 28), ("grpc.max_send_message_length", 1 << 28)]
    try:
        with grpc.insecure_channel(target, options=opts) as ch:
            stub = pb_grpc.AutodiffStub(ch)
            print(f"server {target}, {os.cpu_count()} cores, extra flags "
                  f"{args.server_args or '-'}, load average {os.getloadavg()[0]:.1f}")
            print(f"{'workload':<18} {'case':<16} {'wall s':>8} {'x one':>7} {'server cpu/wall':>16}")
            for name, request in [("matmul chain", matmul_chain()),
                                  ("elementwise chain", elementwise_chain())]:
                stub.Gradient(request)   # compile the plan once
                one = lambda: stub.Gradient(request)   # noqa: E731

                def together(k):
                    with ThreadPoolExecutor(k) as pool:
                        list(pool.map(lambda _: stub.Gradient(request), range(k)))

                cases = [("1 alone", one), ("2 in sequence", lambda: (one(), one())),
                         ("2 at once", lambda: together(2)), ("4 at once", lambda: together(4))]
                base = None
                for label, fn in cases:
                    runs = [timed(proc.pid, fn) for _ in range(args.repeats)]
                    wall = statistics.median(w for w, _ in runs)
                    cpu = statistics.median(c for _, c in runs)
                    base = base or wall
                    print(f"{name:<18} {label:<16} {wall:8.3f} {wall / base:7.2f} {cpu:16.2f}")
            print(f"load average at the end {os.getloadavg()[0]:.1f} (other processes share "
                  f"the cores: cpu/wall below 2 while busy means they took the rest)")
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
