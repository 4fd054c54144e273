"""Shared fixtures: real gradwire servers (in-process and subprocess) on loopback, and a wire-graph builder."""
from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest

from gradwire.core import codec
from gradwire.v1 import gradwire_pb2 as pb
from gradwire.v1 import gradwire_pb2_grpc as pb_grpc

CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 256 << 20),
                   ("grpc.max_send_message_length", 256 << 20)]
READY_PREFIX = "gradwire-server ready on "


class GraphBuilder:
    """Builds a wire graph node by node; tests speak protobuf directly, independent of the client."""

    def __init__(self):
        self.graph = pb.Graph()

    def add(self, op: str, *inputs: int, **attrs) -> int:
        node = self.graph.nodes.add(op=op, inputs=inputs)
        for name, value in attrs.items():
            codec.attr_to_proto(value, node.attrs[name])
        return len(self.graph.nodes) - 1

    def placeholder(self, name: str) -> int:
        return self.add("placeholder", name=name)

    def constant(self, value) -> int:
        return self.add("constant", value=np.asarray(value))

    def ref(self) -> pb.GraphRef:
        return pb.GraphRef(parts=[pb.GraphPart(graph=self.graph)])


def feeds(**arrays) -> dict[str, pb.Tensor]:
    return {name: codec.tensor_to_proto(np.asarray(a)) for name, a in arrays.items()}


def array(t: pb.Tensor) -> np.ndarray:
    return codec.tensor_from_proto(t)


def heavy_request(steps: int, n: int = 512) -> pb.EvaluateRequest:
    """y <- tanh(y @ x), `steps` times, on an n x n float32 matrix: about 3 ms per step on the
    reference 2-core machine (1000 steps ~ 3 s), with cancellation points along the way."""
    g = GraphBuilder()
    x = y = g.placeholder("x")
    for _ in range(steps):
        y = g.add("tanh", g.add("matmul", y, x))
    out = g.add("sum", y, axes=None)
    x0 = (np.random.default_rng(0).standard_normal((n, n)) / np.sqrt(n)).astype(np.float32)
    return pb.EvaluateRequest(graph=g.ref(), inputs=feeds(x=x0), outputs=[out])


@pytest.fixture(scope="session")
def wire():
    """Helpers for building requests: wire.GraphBuilder(), wire.feeds(x=...), wire.array(t),
    wire.tensor(a), wire.heavy(steps)."""
    import types
    return types.SimpleNamespace(GraphBuilder=GraphBuilder, feeds=feeds, array=array,
                                 tensor=codec.tensor_to_proto, heavy=heavy_request)


@contextlib.contextmanager
def running_server(config=None, address: str = "127.0.0.1:0"):
    """A real in-process server; yields (target, server). Drained on exit."""
    from gradwire.service.server import create_server, shutdown
    server, port = create_server(address, config)
    try:
        yield (address if port is None else f"127.0.0.1:{port}"), server   # a unix: address as given
    finally:
        shutdown(server, grace=1.0)


@pytest.fixture(scope="session")
def serve():
    """The running_server context manager: `with serve(ServerConfig(...)) as (target, server)`,
    for fixtures of any scope that need a server with other settings."""
    return running_server


@pytest.fixture(scope="session")
def _session_server():
    from gradwire.service.config import ServerConfig
    with running_server(ServerConfig(metrics_port=0)) as (target, server):
        yield target, server


@pytest.fixture(scope="session")
def server_target(_session_server) -> str:
    """"127.0.0.1:PORT" of a session-wide in-process server with default limits."""
    return _session_server[0]


@pytest.fixture(scope="session")
def session_server(_session_server) -> grpc.Server:
    """The grpc.Server behind server_target (for gradwire.service.server.server_state)."""
    return _session_server[1]


@pytest.fixture(scope="session")
def channel(server_target):
    with grpc.insecure_channel(server_target, options=CHANNEL_OPTIONS) as ch:
        grpc.channel_ready_future(ch).result(timeout=10)
        yield ch


@pytest.fixture(scope="session")
def stub(channel) -> pb_grpc.AutodiffStub:
    return pb_grpc.AutodiffStub(channel)


@pytest.fixture
def make_server():
    """Factory: make_server(ServerConfig(...)) -> target of a fresh in-process server, stopped
    at teardown. For tests that need other limits, auth or TLS."""
    with contextlib.ExitStack() as stack:
        yield lambda config=None, address="127.0.0.1:0": stack.enter_context(
            running_server(config, address))[0]


def _drain(stream, sink) -> None:
    with stream:             # closed at the process's end: no pipe left for the garbage collector to warn about
        for line in stream:
            sink.put(line)
    sink.put(None)


def collected(lines: queue.Queue) -> str:
    """The text a _drain thread has queued so far (up to its end)."""
    text = []
    while True:
        try:
            line = lines.get(timeout=2)
        except queue.Empty:
            return "".join(text)
        if line is None:
            return "".join(text)
        text.append(line)


def spawn_server(*args: str, env: dict | None = None, timeout: float = 120.0):
    """Start `python -m gradwire.service --port 0 ARGS` and wait for its ready line.
    Returns (process, "HOST:PORT"); `process.stderr_lines` collects its log (both pipes are
    drained by threads, so a chatty server never blocks on a full pipe)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradwire.service", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})})
    out: queue.Queue = queue.Queue()
    proc.stderr_lines = queue.Queue()
    threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True).start()
    threading.Thread(target=_drain, args=(proc.stderr, proc.stderr_lines), daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = out.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"server did not report ready (exit {proc.returncode}):\n"
                               + collected(proc.stderr_lines))
        if line.startswith(READY_PREFIX):
            return proc, line[len(READY_PREFIX):].strip()


@pytest.fixture
def server_process():
    """Factory: server_process(*args, env=...) -> (Popen, target); killed at teardown if alive."""
    procs = []

    def start(*args, env=None):
        proc, target = spawn_server(*args, env=env)
        procs.append(proc)
        return proc, target

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
