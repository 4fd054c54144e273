"""Locust load test for a gradwire server, over gRPC.

Each simulated user holds its own gRPC channel (its own connection, as separate
client processes would) and runs a mix of:

- Evaluate of a small elementwise graph (the "cheap call"),
- Gradient of a small MLP loss, sent in full,
- the same Gradient sent by hash (GraphInfo.part_hashes of an earlier
  response); on NOT_FOUND (a replica that has not seen the parts, or an evicted
  cache entry) it resends the full parts, as the client library does,
- GetServerInfo.

Every response is checked against NumPy; a wrong value counts as a failure.

    locust -f loadtest/locustfile.py --headless -u 20 -r 10 -t 30s --host 127.0.0.1:50051

Environment: GRADWIRE_TOKEN (bearer token, if the server wants one),
GRADWIRE_LOAD_BATCH (MLP batch size, default 32). Targets must be loopback
addresses unless GRADWIRE_LOAD_ALLOW_REMOTE=1.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import sys
import time

import grpc
import grpc.experimental.gevent as grpc_gevent

# grpc's own threads must cooperate with gevent, which locust runs on; this has
# to happen before any channel is created.
grpc_gevent.init_gevent()

import numpy as np  # noqa: E402
from locust import User, between, task  # noqa: E402
from locust.exception import StopUser  # noqa: E402

from gradwire.v1 import gradwire_pb2 as pb  # noqa: E402
from gradwire.v1 import gradwire_pb2_grpc as pb_grpc  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import graphs  # noqa: E402  (loadtest/graphs.py, shared with tests/test_scaleout.py)

BATCH = int(os.environ.get("GRADWIRE_LOAD_BATCH", "32"))


# --------------------------------------------------------------------------- user
def _is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


class GradwireUser(User):
    """One client with its own channel; the task weights give the request mix."""

    wait_time = between(0.0, 0.05)
    host = "127.0.0.1:50051"

    def on_start(self) -> None:
        target = self.host.split("://", 1)[-1].rstrip("/")
        hostname = target.rsplit(":", 1)[0].strip("[]")
        if not _is_loopback(hostname) and os.environ.get("GRADWIRE_LOAD_ALLOW_REMOTE") != "1":
            raise StopUser(f"refusing non-loopback target {target!r} (set GRADWIRE_LOAD_ALLOW_REMOTE=1)")
        # A private subchannel pool gives each user its own connection, as separate
        # client processes would have (otherwise all users share one HTTP/2 connection).
        self.channel = grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        self.stub = pb_grpc.AutodiffStub(self.channel)
        token = os.environ.get("GRADWIRE_TOKEN")
        self.metadata = [("authorization", f"Bearer {token}")] if token else None
        rng = np.random.default_rng()
        self.small_inputs = [rng.standard_normal(graphs.SMALL_N).astype(np.float32) for _ in range(4)]
        self.mlp_inputs = []
        for _ in range(4):
            inp = graphs.mlp_inputs(rng, BATCH)
            self.mlp_inputs.append((inp, graphs.mlp_expected(inp)))
        self.mlp_hashes: list[str] | None = None
        self.calls = 0

    def on_stop(self) -> None:
        self.channel.close()

    # -- reporting
    def _call(self, name: str, method, request, check=None, expect_codes=()):
        """Run one RPC, report it to locust; return (response, rpc_error)."""
        start = time.perf_counter()
        response, error, exception, length = None, None, None, 0
        try:
            response = method(request, timeout=30, metadata=self.metadata)
            length = response.ByteSize()
            if check is not None:
                problem = check(response)
                if problem:
                    exception = AssertionError(problem)
        except grpc.RpcError as e:
            error = e
            if e.code() not in expect_codes:
                exception = e
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        if error is not None and error.code() in expect_codes:
            name = f"{name}: {error.code().name}"
        self.environment.events.request.fire(
            request_type="grpc", name=name, response_time=elapsed_ms,
            response_length=length, exception=exception, context={},
        )
        return response, error

    # -- requests
    def _next_mlp(self):
        self.calls += 1
        return self.mlp_inputs[self.calls % len(self.mlp_inputs)]

    @task(4)
    def evaluate_small(self) -> None:
        self.calls += 1
        x = self.small_inputs[self.calls % len(self.small_inputs)]
        self._call("Evaluate", self.stub.Evaluate, graphs.small_request(x),
                   lambda resp: graphs.check_small(resp, x))

    def _gradient_full(self, name: str, inp, expected) -> None:
        resp, _ = self._call(name, self.stub.Gradient, graphs.mlp_request(inp),
                             lambda r: graphs.check_mlp(r, expected))
        if resp is not None and len(resp.info.part_hashes) == 2:
            self.mlp_hashes = list(resp.info.part_hashes)

    @task(1)
    def gradient_mlp(self) -> None:
        inp, expected = self._next_mlp()
        self._gradient_full("Gradient", inp, expected)

    @task(5)
    def gradient_mlp_by_hash(self) -> None:
        inp, expected = self._next_mlp()
        if self.mlp_hashes is None:
            self._gradient_full("Gradient", inp, expected)
            return
        _, error = self._call("Gradient (by hash)", self.stub.Gradient, graphs.mlp_request(inp, self.mlp_hashes),
                              lambda r: graphs.check_mlp(r, expected),
                              expect_codes=(grpc.StatusCode.NOT_FOUND,))
        if error is not None and error.code() == grpc.StatusCode.NOT_FOUND:
            self._gradient_full("Gradient (resend after NOT_FOUND)", inp, expected)

    @task(1)
    def server_info(self) -> None:
        def check(resp: pb.ServerInfoResponse):
            return None if resp.version and len(resp.ops) > 0 else "empty ServerInfo"
        self._call("GetServerInfo", self.stub.GetServerInfo, pb.ServerInfoRequest(), check)
