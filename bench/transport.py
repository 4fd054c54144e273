"""Transports compared in one run: TCP loopback vs a unix domain socket (and, below, large tensors).

    python bench/transport.py [--calls 3000]

Starts, as subprocesses, a bare grpcio echo and `python -m gradwire.service --processes 1`, each
listening on both a loopback TCP port and a unix socket (the same server process answers both, so
the only difference is the transport). From this process, one sync client per target measures
sequential latency (p50, p99) in alternating chunks of 100 calls, so drift hits both alike:
- the echo of 107 bytes (the gRPC floor),
- the seed example's Gradient sent by part hash (a 107-byte request),
- the seed example through the PyTorch-style client (record, one Gradient, read .grad).
The machine is shared and noisy: read the unix/TCP ratios. This is a meter, not a test.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap

import grpc

import gradwire as gw

sys.path.insert(0, os.path.dirname(__file__))
from servers import stop  # noqa: E402
from service import by_hash_bytes, latencies  # noqa: E402

ECHO_SERVER = textwrap.dedent("""
    import sys
    from concurrent.futures import ThreadPoolExecutor
    import grpc
    identity = lambda b: b
    handler = grpc.method_handlers_generic_handler("echo.Echo", {
        "Echo": grpc.unary_unary_rpc_method_handler(lambda req, ctx: req, identity, identity)})
    server = grpc.server(ThreadPoolExecutor(8), handlers=[handler],
                         options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.add_insecure_port("unix:" + sys.argv[1])
    server.start()
    print(f"echo ready on 127.0.0.1:{port}", flush=True)
    print(f"echo ready on unix:{sys.argv[1]}", flush=True)
    server.wait_for_termination()
""")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gradwire-bench-") as where:
        latency(args.calls, where)


if __name__ == "__main__":
    main()
