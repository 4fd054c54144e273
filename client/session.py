"""A connection to a gradwire server: the channel, the one `_call` helper, and the requests."""
from __future__ import annotations

import atexit
import contextvars
import os
import json
import threading

import grpc
from gradwire import codec
from gradwire import errors
from gradwire._local_server import LocalServer
from gradwire._parts import PartCache
from gradwire.graph import RequestGraph, differentiable_history
from gradwire.v1 import gradwire_pb2 as pb
from gradwire.v1 import gradwire_pb2_grpc as pb_grpc

# Every gradwire RPC is pure, so a call refused by a replica that is draining or dying behind a load balancer
# is safe to send again; gRPC's own retry policy does it. A draining server answers UNAVAILABLE; a call that
# races the final transport shutdown comes back CANCELLED from the server. This client never cancels a call
# itself (a deadline ends as DEADLINE_EXCEEDED), so a CANCELLED status always means "not processed": retry it.
RETRY_POLICY = json.dumps({"methodConfig": [{
    "name": [{"service": "gradwire.v1.Autodiff"}],
    "retryPolicy": {"maxAttempts": 4, "initialBackoff": "0.05s", "maxBackoff": "1s",
                    "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE", "CANCELLED"]},
}]})
_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    ("grpc.enable_retries", 1),
    ("grpc.service_config", RETRY_POLICY),
    # A server's worker process that dies takes its connections along; the next connection
    # reaches a live worker on the same port. gRPC waits 1 s before reconnecting by default,
    # longer than the retries above wait in total, so the retried call would fail too.
    ("grpc.initial_reconnect_backoff_ms", 100),
]


def _credentials(tls):
    """tls: None/False -> plaintext; True -> system roots; a path -> that root certificate
    (PEM); a grpc.ChannelCredentials -> used as is."""
    if tls is None or tls is False:
        return None
    if tls is True:
        return grpc.ssl_channel_credentials()
    if isinstance(tls, grpc.ChannelCredentials):
        return tls
    with open(tls, "rb") as f:
        return grpc.ssl_channel_credentials(root_certificates=f.read())


class Session:
    """A context manager owning one channel (and an embedded server when no target is given).

    Every factory and function of `gradwire` is also a method here.
    """

    def __init__(self, target: str | None = None, *, token: str | None = None, tls=None,
                 timeout: float | None = None, interceptors=()):
        self._server = None
        target = target or os.environ.get("GRADWIRE_TARGET") or None
        if target is None:
            self._server = LocalServer()
            target = self._server.target
        self.target = target
        token = token if token is not None else os.environ.get("GRADWIRE_TOKEN")
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout = timeout
        creds = _credentials(tls)
        self._channel = (grpc.secure_channel(target, creds, options=_CHANNEL_OPTIONS) if creds
                         else grpc.insecure_channel(target, options=_CHANNEL_OPTIONS))
        if interceptors:
            self._channel = grpc.intercept_channel(self._channel, *interceptors)
        self._stub = pb_grpc.AutodiffStub(self._channel)
        self._parts = PartCache()
        self._lock = threading.Lock()
        self.closed = False

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._channel.close()
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "embedded server" if self._server is not None else "server"
        return f"<gradwire.Session {where} at {self.target}{' (closed)' if self.closed else ''}>"

    # -- transport -----------------------------------------------------------------------------
    def _call(self, method: str, request):
        """The only place an RPC is made: adds auth and deadline, turns failures into errors."""
        if self.closed:
            raise errors.Unavailable("this gradwire session is closed")
        try:
            return getattr(self._stub, method)(request, timeout=self.timeout,
                                               metadata=self._metadata)
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from None

    def _send(self, method: str, graph: RequestGraph, request):
        """Attach the graph as parts (known parts by hash) and call; on NOT_FOUND for a hash
        (a replica that never saw it, or an evicted cache) resend every part in full once."""
        node_bytes = [n.SerializeToString(deterministic=True) for n in graph.nodes]
        parts = self._parts.split(node_bytes)
        for name, value in graph.inputs.items():
            codec.tensor_to_proto(value, request.inputs[name])
        for node_id, value in graph.known:
            codec.tensor_to_proto(value, request.known.add(node=node_id).value)
        by_hash = any(p[3] is not None for p in parts)
        for attempt in range(2):
            del request.graph.parts[:]
            for start, stop, _, server_hash in parts:
                part = request.graph.parts.add()
                if server_hash is not None and attempt == 0:
                    part.hash = server_hash
                else:
                    part.graph.nodes.extend(graph.nodes[start:stop])
            try:
                response = self._call(method, request)
            except errors.NotFound:
                if attempt == 0 and by_hash:
                    self._parts.forget(parts)
                    continue
                raise
            self._parts.learn(parts, response.info.part_hashes)
            return response

    # -- requests --------------------------------------------------------------------------------
    def realize(self, nodes) -> None:
        """Compute the pending nodes among `nodes` in one Evaluate request."""
        targets = list(dict.fromkeys(n for n in nodes if n.value is None))
        if not targets:
            return
        graph = RequestGraph(targets)
        outs = targets + graph.alive_pending(exclude=targets)
        request = pb.EvaluateRequest(outputs=graph.ids(outs))
        response = self._send("Evaluate", graph, request)
        _store(outs, response.outputs)

    def gradient_request(self, roots, seeds, wrt, *, create_graph=False):
        """One Gradient request. Returns (graph, response); root values are stored."""
        history = differentiable_history(roots)
        graph = RequestGraph(list(roots) + [s for s in seeds if s is not None] + list(wrt), history)
        extra = graph.alive_pending(exclude=roots)
        request = pb.GradientRequest(
            outputs=graph.ids(roots), wrt=graph.ids(wrt), create_graph=create_graph,
            extra=graph.ids(extra),
            seeds=graph.ids(seeds) if any(s is not None for s in seeds) else [])
        response = self._send("Gradient", graph, request)
        _store(roots, response.values)
        _store(extra, response.extra)
        return graph, response

    def jvp_request(self, outputs, primals, tangents):
        graph = RequestGraph(list(outputs) + list(primals), differentiable_history(outputs))
        request = pb.JvpRequest(outputs=graph.ids(outputs), primals=graph.ids(primals))
        for t in tangents:
            codec.tensor_to_proto(t, request.tangents.add())
        response = self._send("Jvp", graph, request)
        _store(outputs, response.values)
        return [codec.tensor_from_proto(t, "tangent") for t in response.tangents]

    def jacobian_request(self, output, wrt):
        graph = RequestGraph([output] + list(wrt), differentiable_history([output]))
        request = pb.JacobianRequest(output=graph.index[output], wrt=graph.ids(wrt))
        response = self._send("Jacobian", graph, request)
        _store([output], [response.value])
        return [codec.tensor_from_proto(t, "jacobian") for t in response.jacobians]

    def hessian_request(self, output, wrt):
        graph = RequestGraph([output] + list(wrt), differentiable_history([output]))
        request = pb.HessianRequest(output=graph.index[output], wrt=graph.ids(wrt))
        response = self._send("Hessian", graph, request)
        _store([output], [response.value])
        return [codec.tensor_from_proto(t, "hessian block") for t in response.blocks]

    def server_info(self) -> pb.ServerInfoResponse:
        return self._call("GetServerInfo", pb.ServerInfoRequest())


def _store(nodes, tensors) -> None:
    for node, t in zip(nodes, tensors):
        if node.value is None:
            node.value = codec.tensor_from_proto(t, "output")


# -- which session a factory or function uses -----------------------------------------------
_active: contextvars.ContextVar[Session | None] = contextvars.ContextVar("gradwire_session",
                                                                         default=None)
_default: Session | None = None
_default_lock = threading.Lock()


def default_session() -> Session:
    """The session module-level functions use: `gw.connect()` on first use, closed at exit."""
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            _default = Session()
            atexit.register(_default.close)
        return _default


def current_session() -> Session:
    """The session a call made through `Session.method` runs in, else the default one."""
    return _active.get() or default_session()


def set_default_session(session: Session | None) -> None:
    global _default
    with _default_lock:
        _default = session


def bind_method(fn):
    """Turn a module-level factory or function into a Session method running in that session."""
    def method(self, *args, **kwargs):
        token = _active.set(self)
        try:
            return fn(*args, **kwargs)
        finally:
            _active.reset(token)
    method.__name__ = fn.__name__
    method.__qualname__ = f"Session.{fn.__name__}"
    method.__doc__ = fn.__doc__
    return method

