"""Transports compared in one run: TCP loopback vs a unix domain socket, and a 64 MiB gradient round trip
through shared memory vs message bytes vs a bare gRPC echo of the same size.

    python bench/transport.py [--calls 3000] [--reps 7] [--mib 64]

Starts, as subprocesses, a bare grpcio echo and `python -m gradwire.service --processes 1`, each
listening on both a loopback TCP port and a unix socket (the same server process answers both, so
the only difference is the transport). From this process, one sync client per target measures
sequential latency (p50, p99) in alternating chunks of 100 calls, so drift hits both alike:
- the echo of 107 bytes (the gRPC floor),
- the seed example's Gradient sent by part hash (a 107-byte request),
- the seed example through the PyTorch-style client (record, one Gradient, read .grad).

Large tensors: a float32 tensor x of --mib MiB goes up, the gradient of sum(2x) (same size) comes
down and is read, every page touched (`x.grad` through the PyTorch-style client, sessions with
resident=False so that no content hash is computed), against one server process: through shared
memory (negotiated: the session's reusable regions), and through bytes (shared_memory=False:
PutValue/GetValue streams, as the size is past the message cap); and a bare grpcio echo of the same
byte count up and down (one unary call, caps lifted). The rate is (bytes up + bytes down) / wall time.
"client" is the client process's CPU time per round trip, "engine" the median of engine.gradient on the
same graph in a process of its own, "transfer" the rest of the wall time. The implementations
alternate, one round trip each per repetition; medians.

Split (--only split): the same round trip with the server in this benchmark's child process, timers
around Session._call/get_value (client side) and the servicer, engine.gradient and the result write
(server side): client = wall - calls, transfer = calls - server, then the server's own share and the
engine's, from one run.

Measured (64 MiB, --reps 7, three runs within six minutes, load average 6.1-7.8 on 2 shared cores):
    shared memory   65.6 / 92.4 / 72.6 ms   2.05 / 1.45 / 1.85 GB/s   (engine alone 42 / 86 / 44 ms)
    bytes           289 / 383 / 488 ms      0.46 / 0.35 / 0.28 GB/s   (1.44 / 1.14 / 0.88x the echo's rate)
    bare echo       418 / 437 / 428 ms      0.32 / 0.31 / 0.31 GB/s
    split, shared memory: 38.7 / 42.2 / 54.0 ms = client 12.3 / 13.1 / 12.3 + transfer 1.8 / 1.9 / 1.3
        + server 0.4 + engine 24.0 / 26.2 / 39.9 ms (result write 0.1-0.2 ms: computed in the client's region)
    split, bytes: 244 / 350 / 418 ms = client 31-35 + transfer 153 / 211 / 192 + server 14-22
        + engine 37 / 78 / 127 ms
The machine is shared and noisy: read the ratios. This is a meter, not a test.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

import grpc
import numpy as np

import gradwire as gw

sys.path.insert(0, os.path.dirname(__file__))
from servers import ECHO_SERVER, stop  # noqa: E402
from service import by_hash_bytes, latencies  # noqa: E402




def start(cmd: list[str], lines: int = 2) -> tuple[subprocess.Popen, list[str]]:
    """Start cmd and collect the targets of its first `lines` `… ready on TARGET` lines."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    targets = []
    for line in proc.stdout:
        if " ready on " in line:
            targets.append(line.split(" ready on ", 1)[1].strip())
            if len(targets) == lines:
                return proc, targets
    raise RuntimeError(f"{cmd} exited before it was ready")


def latency(calls: int, where: str) -> None:
    echo, (echo_tcp, echo_unix) = start([sys.executable, "-c", ECHO_SERVER, os.path.join(where, "echo.sock")])
    server, (tcp, unix) = start([sys.executable, "-m", "gradwire.service", "--port", "0", "--unix",
                                 os.path.join(where, "gw.sock"), "--processes", "1", "--log-level", "warning"])
    try:
        seed = by_hash_bytes(tcp)
        payload = b"x" * len(seed)
        fns, names = [], []
        with grpc.insecure_channel(echo_tcp) as e1, grpc.insecure_channel(echo_unix) as e2, \
                grpc.insecure_channel(tcp) as g1, grpc.insecure_channel(unix) as g2, \
                gw.connect(tcp) as s1, gw.connect(unix) as s2:
            for kind, ech, gch, session in (("TCP", e1, g1, s1), ("unix", e2, g2, s2)):
                echo_call = ech.unary_unary("/echo.Echo/Echo")
                grad_call = gch.unary_unary("/gradwire.v1.Autodiff/Gradient")

                def client_seed(session=session):
                    x = session.arange(4.0, requires_grad=True)
                    (2 * session.dot(x, x)).backward()
                    return x.grad

                fns += [lambda c=echo_call: c(payload), lambda c=grad_call: c(seed), client_seed]
                names.append(kind)
            stats = latencies(fns, calls)
        print(f"\n## latency, sequential, one sync client each; load average {os.getloadavg()[0]:.1f}")
        print(f"{'':40s} {'TCP p50':>9s} {'TCP p99':>9s} {'unix p50':>9s} {'unix p99':>9s} {'unix/TCP':>9s}")
        rows = ("bare echo, %d B" % len(seed), "Gradient, seed example by hash",
                "client: 2·dot(x,x).backward(); x.grad")
        for k, name in enumerate(rows):
            (t50, t99), (u50, u99) = stats[k], stats[k + 3]
            print(f"{name:40s} {t50 * 1e6:6.0f} µs {t99 * 1e6:6.0f} µs {u50 * 1e6:6.0f} µs "
                  f"{u99 * 1e6:6.0f} µs {u50 / t50:8.2f}x")
    finally:
        stop(server)
        stop(echo)


ENGINE = textwrap.dedent("""
    import statistics, sys, time
    import numpy as np
    from gradwire import engine
    from gradwire.engine import Graph, Node
    x = np.ones(int(sys.argv[1]) // 4, np.float32)
    g = Graph((Node("placeholder", (), {"name": "x"}), Node("constant", (), {"value": np.array(2.0, np.float32)}),
               Node("mul", (0, 1), {}), Node("sum", (2,), {"axes": None})))
    times = []
    for _ in range(int(sys.argv[2]) + 1):
        t = time.perf_counter()
        engine.gradient(g, {"x": x}, [3], [0])
        times.append(time.perf_counter() - t)
    print(statistics.median(times[1:]))
""")


def large(reps: int, nbytes: int, where: str) -> None:
    echo, (echo_tcp, _) = start([sys.executable, "-c", ECHO_SERVER, os.path.join(where, "echo-large.sock")])
    server, (tcp, _) = start([sys.executable, "-m", "gradwire.service", "--port", "0", "--unix",
                              os.path.join(where, "gw-large.sock"), "--processes", "1", "--log-level", "warning"])
    a = np.random.default_rng(0).standard_normal(nbytes // 4).astype(np.float32)
    payload = a.tobytes()
    try:
        with grpc.insecure_channel(echo_tcp, options=[("grpc.max_send_message_length", -1),
                                                      ("grpc.max_receive_message_length", -1)]) as ech, \
                gw.connect(tcp, resident=False) as shared, gw.connect(tcp, resident=False, shared_memory=False) as plain:
            echo_call = ech.unary_unary("/echo.Echo/Echo")

            def round_trip(session):
                def run():
                    x = session.tensor(a, requires_grad=True)
                    (x * 2).sum().backward()
                    g = x.grad._value()
                    float(g[::1024].sum())         # touch every page: a mapped result costs its faults here
                    return g
                return run

            runs = {"shared memory": round_trip(shared), "bytes (PutValue/GetValue)": round_trip(plain),
                    "bare gRPC echo, one message": lambda: echo_call(payload)}
            for fn in runs.values():
                fn()
            assert shared.shared_memory() is not None and plain.shared_memory() is None
            wall = {k: [] for k in runs}
            cpu = {k: [] for k in runs}
            for _ in range(reps):
                for name, fn in runs.items():
                    c, t = time.process_time(), time.perf_counter()
                    fn()
                    wall[name].append(time.perf_counter() - t)
                    cpu[name].append(time.process_time() - c)
        engine_s = float(subprocess.run([sys.executable, "-c", ENGINE, str(nbytes), str(reps)], capture_output=True,
                                        text=True, check=True).stdout)
        print(f"\n## {nbytes >> 20} MiB float32: x up, gradient of sum(2x) down; {reps} alternating repetitions, "
              f"medians; load average {os.getloadavg()[0]:.1f}")
        print(f"{'':30s} {'wall':>9s} {'rate':>11s} {'client':>9s} {'transfer':>9s} {'engine':>9s} {'vs echo':>8s}")
        echo_wall = statistics.median(wall["bare gRPC echo, one message"])
        for name in runs:
            w, c = statistics.median(wall[name]), statistics.median(cpu[name])
            e = 0.0 if name.startswith("bare") else engine_s
            print(f"{name:30s} {w * 1e3:6.1f} ms {2 * nbytes / w / 1e9:6.2f} GB/s {c * 1e3:6.1f} ms "
                  f"{(w - c - e) * 1e3:6.1f} ms {e * 1e3:6.1f} ms {echo_wall / w:7.2f}x")
    finally:
        stop(server)
        stop(echo)


SPLIT = textwrap.dedent("""
    import collections, statistics, sys, time
    import numpy as np
    import gradwire as gw
    from gradwire import session as client_session
    from gradwire.service import resident, server, servicer
    from gradwire.service.config import ServerConfig
    spent = collections.defaultdict(float)

    def timed(owner, name, key):
        f = getattr(owner, name)
        def timer(*a, **k):
            t = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                spent[key] += time.perf_counter() - t
        setattr(owner, name, timer)
    timed(servicer.AutodiffService, "Gradient", "server")
    timed(servicer.engine, "gradient", "engine")
    timed(resident.Residency, "put", "result write")
    timed(client_session.Session, "_call", "call")          # PutValue is a _call too
    timed(client_session.Session, "get_value", "call")      # GetValue's stream
    nbytes, reps, shared = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
    grpc_server, port = server.create_server("127.0.0.1:0", ServerConfig(processes=1))
    a = np.random.default_rng(0).standard_normal(nbytes // 4).astype(np.float32)
    rows = []
    with gw.connect(f"127.0.0.1:{port}", resident=False, shared_memory=shared) as s:
        for _ in range(reps + 2):
            spent.clear()
            t0 = time.perf_counter()
            x = s.tensor(a, requires_grad=True)
            (x * 2).sum().backward()
            float(x.grad._value()[::1024].sum())
            del x
            wall = time.perf_counter() - t0
            rows.append((wall, wall - spent["call"], spent["call"] - spent["server"],
                         spent["server"] - spent["engine"], spent["engine"], spent["result write"]))
    server.shutdown(grpc_server, grace=1)
    print(" ".join(str(statistics.median(r[k] for r in rows[2:])) for k in range(6)))
""")


def split(reps: int, nbytes: int) -> None:
    """Where a round trip's time goes: the server in the client's process, timers around its phases."""
    print(f"\n## {nbytes >> 20} MiB round trip split (server in process, timers), {reps} repetitions, medians; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'':16s} {'wall':>9s} {'rate':>10s} {'client':>9s} {'transfer':>9s} {'server':>9s} {'engine':>9s}"
          f" {'(result write)':>15s}")
    for name, shared in (("shared memory", "1"), ("bytes", "0")):
        out = subprocess.run([sys.executable, "-c", SPLIT, str(nbytes), str(reps), shared], capture_output=True,
                             text=True, check=True).stdout.split()
        w, client, transfer, rest, engine, write = (float(v) for v in out)
        print(f"{name:16s} {w * 1e3:6.1f} ms {2 * nbytes / w / 1e9:5.2f} GB/s {client * 1e3:6.1f} ms "
              f"{transfer * 1e3:6.1f} ms {rest * 1e3:6.1f} ms {engine * 1e3:6.1f} ms {write * 1e3:12.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--only", choices=("latency", "large", "split"), help="run one part")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gradwire-bench-") as where:
        if args.only in (None, "latency"):
            latency(args.calls, where)
        if args.only in (None, "large"):
            large(args.reps, args.mib << 20, where)
        if args.only in (None, "split"):
            split(args.reps, args.mib << 20)


if __name__ == "__main__":
    main()
