"""Fixtures for the client suites: a session on the test server, and a request counter."""
from __future__ import annotations

import collections
import threading

import grpc
import pytest

import gradwire as gw
from gradwire import session as gw_session_module


class CountingInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Counts RPCs by method name and by final status, as they leave the client."""

    def __init__(self):
        self.calls = collections.Counter()
        self.statuses = collections.Counter()
        self.requests: list[tuple[str, object]] = []   # (method, request) in call order
        self._lock = threading.Lock()

    def intercept_unary_unary(self, continuation, details, request):
        method = details.method.rsplit("/", 1)[-1]
        outcome = continuation(details, request)
        code = outcome.code()
        with self._lock:
            self.calls[method] += 1
            self.statuses[(method, code.name if code else "OK")] += 1
            self.requests.append((method, request))
        return outcome

    def reset(self):
        with self._lock:
            self.calls.clear()
            self.statuses.clear()
            self.requests.clear()


@pytest.fixture(scope="session")
def counter():
    return CountingInterceptor()


@pytest.fixture(scope="session")
def session(server_target, counter):
    """A session on the test server; module-level gw.* calls use it too."""
    s = gw.connect(server_target, interceptors=[counter])
    previous = gw_session_module._default
    gw_session_module.set_default_session(s)
    yield s
    gw_session_module.set_default_session(previous)
    s.close()


def full_nodes(request) -> int:
    """How many nodes a request carried in full (parts sent by hash carry none)."""
    return sum(len(p.graph.nodes) for p in request.graph.parts if p.WhichOneof("part") == "graph")


def hashed_parts(request) -> int:
    return sum(1 for p in request.graph.parts if p.WhichOneof("part") == "hash")

