"""Servers the benchmarks start as subprocesses on loopback: a bare gRPC echo, and waiting for `ready on`."""
from __future__ import annotations

import re
import subprocess
import textwrap

# A bare grpcio echo: a generic handler returning its request bytes, no protobuf. The floor to compare with.
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
    unix = sys.argv[1] if len(sys.argv) > 1 else None     # a unix socket path too, when given
    if unix:
        server.add_insecure_port("unix:" + unix)
    server.start()
    print(f"echo ready on 127.0.0.1:{port}", flush=True)
    if unix:
        print(f"echo ready on unix:{unix}", flush=True)
    server.wait_for_termination()
""")
READY = re.compile(r"ready on (\S+):(\d+)")


def start(cmd: list[str]) -> tuple[subprocess.Popen, str]:
    """Start cmd and wait for its `… ready on HOST:PORT` line; returns (process, "HOST:PORT")."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        m = READY.search(line)
        if m:
            return proc, f"{m.group(1)}:{m.group(2)}"
    raise RuntimeError(f"{cmd} exited before it was ready")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
