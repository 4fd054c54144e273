"""A connection to a gradwire server: the channel, the one `_call` helper, and the requests."""
from __future__ import annotations

import atexit
import contextvars
import json
import math
import os
import re
import secrets
import threading

import grpc
import numpy as np

from gradwire import errors
from gradwire._local_server import LocalServer
from gradwire._parts import PartCache
from gradwire._pipeline import Pipeline
from gradwire._residents import MAX_RELEASE, Residents
from gradwire._shared_memory import CLAIMED as _CLAIMED, SharedMemoryClient
from gradwire.core import codec, hashing, shm
from gradwire.graph import RequestGraph, differentiable_history, unread_depth
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


class Session(SharedMemoryClient):
    """A context manager owning one channel (and an embedded server when no target is given).

    Every factory and function of `gradwire` is also a method here.
    """

    def __init__(self, target: str | None = None, *, token: str | None = None, tls=None,
                 timeout: float | None = None, interceptors=(), resident: bool = True,
                 shared_memory: bool | None = None, asynchronous: bool | None = None):
        self._server = None
        target = target or os.environ.get("GRADWIRE_TARGET") or None
        if target is None:
            self._server = LocalServer()
            target = self._server.target
        self.target = target
        token = token if token is not None else os.environ.get("GRADWIRE_TOKEN")
        # Resident values are kept per caller: the bearer token when there is one, else this namespace.
        self.namespace = secrets.token_hex(16)
        self.resident = resident
        self._metadata = ((("authorization", f"Bearer {token}"),) if token else ()) + (
            ("x-gradwire-namespace", self.namespace),)
        self.timeout = timeout
        creds = _credentials(tls)
        self._channel = (grpc.secure_channel(target, creds, options=_CHANNEL_OPTIONS) if creds
                         else grpc.insecure_channel(target, options=_CHANNEL_OPTIONS))
        # Transport housekeeping (the shared-memory handshake) skips the caller's interceptors, which see
        # the computing requests only.
        self._raw_stub = pb_grpc.AutodiffStub(self._channel)
        if interceptors:
            self._channel = grpc.intercept_channel(self._channel, *interceptors)
        self._stub = pb_grpc.AutodiffStub(self._channel)
        self._parts = PartCache()
        self._held: dict[str, None] = {}        # hashes of client data the server holds (insertion-ordered)
        self.residents = Residents(self._held)  # hashes this session's nodes name; the ones to release
        self._lock = threading.Lock()
        self.closed = False
        # Shared memory: tried once, on the first request, with a server on this host (None: not yet).
        want = shared_memory if shared_memory is not None else os.environ.get("GRADWIRE_SHM", "1") != "0"
        self._shm: pb.SharedMemoryResponse | None | bool = None if want and _same_host(target) else False
        self._pool: shm.Pool | None = None      # this session's reusable regions, once negotiated
        # Asynchronous dispatch of backward() (see _pipeline): None when off.
        if asynchronous is None:
            asynchronous = os.environ.get("GRADWIRE_ASYNC", "0") not in ("", "0")
        self._pipeline = Pipeline() if asynchronous else None

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        if self.closed:
            return
        if self._pipeline is not None:
            try:
                self._pipeline.drain()
            except Exception:       # noqa: BLE001  (nobody read what failed; closing is not reading)
                pass
        self.closed = True
        if self._server is None:
            self._release_all()
        if self._pool is not None:
            self._pool.close()
        self._channel.close()
        if self._server is not None:
            self._server.stop()

    def _release_all(self) -> None:
        """Tell the server it may free every value this session kept there (best effort: an unreachable
        server loses them to its LRU bound, or has lost them already). Housekeeping: past the caller's
        interceptors, as the shared-memory handshake."""
        handles = self.residents.everything()
        for start in range(0, len(handles), MAX_RELEASE):
            request = pb.EvaluateRequest()            # an empty graph computes nothing
            request.options.release[:] = handles[start:start + MAX_RELEASE]
            try:
                self._raw_stub.Evaluate(request, timeout=min(self.timeout or 1.0, 1.0), metadata=self._metadata)
            except grpc.RpcError:
                return

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "embedded server" if self._server is not None else "server"
        return f"<gradwire.Session {where} at {self.target}{' (closed)' if self.closed else ''}>"

    # -- transport -----------------------------------------------------------------------------
    @property
    def asynchronous(self) -> bool:
        """Whether backward() returns before its request is answered (see gradwire._pipeline)."""
        return self._pipeline is not None

    def synchronize(self) -> None:
        """Wait for the queued asynchronous requests; raise the error of one that failed. Every read, and
        every request other than an asynchronous backward(), does this first."""
        if self._pipeline is not None:
            self._pipeline.drain()

    def dispatch(self, run, futures, site: str) -> None:
        """Queue run() (an asynchronous request settling `futures`); see gradwire._pipeline."""
        self._pipeline.submit(run, futures, site)

    def _call(self, method: str, request):
        """The only place an RPC is made: adds auth and deadline, turns failures into errors."""
        self.synchronize()
        if self.closed:
            raise errors.Unavailable("this gradwire session is closed")
        try:
            return getattr(self._stub, method)(request, timeout=self.timeout,
                                               metadata=self._metadata)
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from None

    def put_value(self, array: np.ndarray, handle: str | None = None) -> str:
        """Upload one tensor into the server's resident store in chunks (PutValue); returns its handle.
        Each chunk is a slice of the array's own buffer: the client holds no second copy."""
        a = np.ascontiguousarray(array)
        if not a.dtype.isnative:
            a = a.astype(a.dtype.newbyteorder("="))
        dtype = codec.dtype_enum(a.dtype)
        handle = handle or hashing.tensor_hash(dtype, a.shape, a)
        flat = memoryview(a.reshape(-1).view(np.uint8))

        def chunks():
            yield pb.ValueChunk(dtype=dtype, shape=a.shape, handle=handle, data=flat[:CHUNK_BYTES].tobytes())
            for start in range(CHUNK_BYTES, len(flat), CHUNK_BYTES):
                yield pb.ValueChunk(data=flat[start:start + CHUNK_BYTES].tobytes())
        return self._call("PutValue", chunks()).handle

    def get_value(self, handle: str, dtype=None, shape=None) -> np.ndarray:
        """Read one resident value in chunks (GetValue) into a single preallocated array."""
        self.synchronize()
        if self.closed:
            raise errors.Unavailable("this gradwire session is closed")
        out = None
        pos = 0
        try:
            for chunk in self._stub.GetValue(pb.GetValueRequest(handle=handle), timeout=self.timeout,
                                             metadata=self._metadata):
                if out is None:
                    got = codec.DTYPES[chunk.dtype]
                    out = np.empty(math.prod(chunk.shape) * got.itemsize, np.uint8)
                    kind, dims = got, tuple(chunk.shape)
                out[pos:pos + len(chunk.data)] = np.frombuffer(chunk.data, np.uint8)
                pos += len(chunk.data)
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from None
        if out is None or pos != len(out) or (shape is not None and tuple(shape) != dims) or (
                dtype is not None and np.dtype(dtype) != kind):
            raise errors.Unavailable(f"GetValue {handle}: the stream ended after {pos} bytes or did not "
                                     f"match {dtype}{list(shape or ())}")
        value = out.view(kind).reshape(dims)
        return value if kind.isnative else value.astype(kind.newbyteorder("="))

    def decode(self, t: pb.Tensor, where: str) -> np.ndarray:
        """A response tensor's value: its bytes or shared-memory region, or, for a result too large for a
        message (a handle without data), the value read with GetValue."""
        if t.handle and not t.data and not t.HasField("shm") and codec.count(t):
            return self.get_value(t.handle, codec.DTYPES[t.dtype], tuple(t.shape))
        return _decode(t, where)

    def _tensor(self, node, out: pb.Tensor, sent: list, keep: bool, regions: list) -> None:
        """A node's value into a request: by handle when the server holds it (or, for data the client has,
        holds the same content from an earlier request), else its bytes, which a resident request leaves
        on the server (remembered once the call succeeds). A value of STREAM_BYTES or more is uploaded
        first, in chunks, and named by handle, resident session or not: a message is size-capped."""
        h = node.resident if self.resident else None
        share = self._shm or None       # negotiated by _send before it builds the request
        big = share is not None and node.value is not None and node.value.nbytes >= share.min_bytes
        if h is None and big and self._in_region(node.value, out, regions):
            return
        if h is None and not big and node.value is not None and node.value.nbytes >= STREAM_BYTES:
            content = hashing.tensor_hash(codec.dtype_enum(node.value.dtype), node.shape, node.value)
            if content not in self._held:
                self.put_value(node.value, content)
                self._remember(content)
            h = node.resident = content
        if h is None and keep and node.value is not None and node.value.nbytes >= hashing.MIN_RESIDENT_BYTES:
            content = hashing.tensor_hash(codec.dtype_enum(node.value.dtype), node.shape, node.value)
            if content in self._held:
                h = node.resident = content      # optimistic: a miss resends the bytes
            else:
                sent.append((node, content))
        if h is None and node.value is None and node.op is None:
            # A result of an asynchronous request that failed (the pipeline raised its error once already).
            error = node.future.error if node.future is not None else None
            raise error or errors.Internal("a request named a value that neither the client nor the server "
                                           "holds")
        if h is not None:
            out.dtype = codec.dtype_enum(node.dtype)
            out.shape[:] = node.shape
            out.handle = h
            return
        if big:
            v = node.value
            out.dtype = codec.dtype_enum(v.dtype)
            out.shape[:] = v.shape
            out.shm.nbytes = v.nbytes
            # The server maps a one-off region and unlinks it; so does _send, after the call.
            regions.append(name := shm.write(share.server_pid, v))
            out.shm.name = name
            return
        codec.tensor_to_proto(node.value, out)

    def _send(self, method: str, build, keep: bool = True):
        """Build the request (build() -> (graph, request)), attach the graph as parts (known parts by
        hash) and the values by handle or bytes, and call. NOT_FOUND for a graph part (a replica that
        never saw it, an evicted cache): resend every part in full, once. NOT_FOUND for a resident
        value: send its bytes, or the ops that compute it, instead. keep: let the server keep this
        request's values (resident) and answer with handles where the client does not fetch."""
        self.synchronize()
        keep = keep and self.resident
        self.shared_memory()
        by_hash_ok = True
        for attempt in range(MAX_RESENDS):
            release = self.residents.releasable()
            graph, request = build()
            if release and "options" in request.DESCRIPTOR.fields_by_name:
                request.options.release[:] = release
            else:
                release = []
            sent: list = []
            regions: list = []
            parts = self._parts.split(graph.framed)
            for name, node in graph.inputs.items():
                self._tensor(node, request.inputs[name], sent, keep, regions)
            for node_id, node in graph.known:
                self._tensor(node, request.known.add(node=node_id).value, sent, keep, regions)
            for start, stop, _, server_hash in parts:
                part = request.graph.parts.add()
                if server_hash is not None and by_hash_ok:
                    part.hash = server_hash
                else:
                    part.graph.MergeFromString(b"".join(graph.framed[start:stop]))
            if keep:
                request.options.resident = True
            offers = {}
            if self._shm and "options" in request.DESCRIPTOR.fields_by_name:
                request.options.shm_session = self._shm.session
                offers = self._offer(method, graph, request, keep)
            try:
                response = self._call(method, request)
                _CLAIMED.regions = self._claim(response, offers)
            except errors.NotFound as e:
                missing = _RESIDENT_MISS.findall(e.message or "")
                for h in missing:
                    self._held.pop(h, None)
                if missing and sum(self._forget(graph, h) for h in missing):
                    continue
                if not missing and by_hash_ok and any(p[3] is not None for p in parts):
                    self._parts.forget(parts)
                    by_hash_ok = False
                    continue
                raise
            finally:
                for r in regions:         # one-off regions: mapped by the server already, or never to be
                    if isinstance(r, str):
                        shm.unlink(r)
                    else:
                        self._pool.release(r)
                for r in offers.values():     # offered and not used (claimed ones were popped)
                    self._pool.release(r)
            if release:
                self.residents.released(release)
            for node, h in sent:
                node.resident = h
                self._remember(h)
            self._parts.learn(parts, response.info.part_hashes)
            return graph, response
        raise errors.Unavailable(f"gave up after {MAX_RESENDS} resends: the server keeps losing the values "
                                 "this request names (is its value store too small?)")

    def _remember(self, h: str) -> None:
        self._held[h] = None
        if len(self._held) > MAX_HELD:
            self._held.pop(next(iter(self._held)))

    @staticmethod
    def _forget(graph: RequestGraph, h: str) -> bool:
        """The server lost the resident value `h`: send what the client holds instead (its bytes, or the
        ops that compute it). False when no node of this request names it; NotFound when one can be
        neither sent nor computed again."""
        nodes = [n for n in graph.order if n.resident == h]
        for node in nodes:
            if node.value is None and (node.op is None or node.op == "constant"):
                raise errors.NotFound(
                    f"the server no longer holds the value {h} (restarted, evicted, or another replica), "
                    "and this client neither read it nor can compute it again: recompute it")
            node.resident = None
        return bool(nodes)

    # -- requests --------------------------------------------------------------------------------
    def _fetch(self, nodes) -> list[int]:
        """The result nodes whose data the client wants now: what is small enough to be free, and values
        left unread too long (a parameter updated step after step, an optimizer's state): recomputing
        those, should the server lose them, would replay that many requests, and their history would
        keep every earlier value alive on both sides."""
        if not self.resident or self._shm:
            # With shared memory, a result the server writes into one of this client's regions costs one
            # copy at most (none when the engine computes it there) and nothing to send again: cheaper than
            # hashing it and holding it on the server, and no replica needs to hold it.
            return list(nodes)
        memo: dict = {}
        out = []
        for n in nodes:
            if n.nbytes <= FETCH_BYTES:
                out.append(n)
                continue
            n.depth = unread_depth(n, memo)
            if n.depth >= MAX_UNREAD_UPDATES:
                out.append(n)
        return out

    def realize(self, nodes) -> None:
        """Bring the values of `nodes` to the client in one Evaluate request (computing the pending ones)."""
        self.synchronize()
        targets = list(dict.fromkeys(n for n in nodes if n.value is None))
        if not targets:
            return

        # What build() chose, in a dict rather than on the function: a function attribute referring to the
        # function's own cell is a reference cycle, which kept every node (and its value) until a collection.
        made = {}

        def build():
            graph = RequestGraph(targets)
            made["outs"] = outs = targets + graph.alive_pending(exclude=targets)
            request = pb.EvaluateRequest(outputs=graph.ids(outs))
            request.options.fetch[:] = graph.ids(targets + self._fetch(outs[len(targets):]))
            return graph, request
        _, response = self._send("Evaluate", build)
        _store(made["outs"], response.outputs)
        for node in targets:         # too large for the response: read by handle, in chunks
            if node.value is None and node.resident is not None:
                node.settle(self.get_value(node.resident, node.dtype, node.shape))

    def gradient_request(self, roots, seeds, wrt, *, create_graph=False, history=None):
        """One Gradient request. Returns (graph, response); root values are stored. history: the roots'
        differentiable history, when the caller has it."""
        if history is None:
            history = differentiable_history(roots)
        made = {}       # see realize: not a function attribute

        def build():
            graph = RequestGraph(list(roots) + [s for s in seeds if s is not None] + list(wrt), history)
            extra = graph.alive_pending(exclude=roots)
            request = pb.GradientRequest(
                outputs=graph.ids(roots), wrt=graph.ids(wrt), create_graph=create_graph,
                extra=graph.ids(extra),
                seeds=graph.ids(seeds) if any(s is not None for s in seeds) else [])
            request.options.fetch[:] = graph.ids(self._fetch(list(roots) + extra))
            request.options.fetch_gradients = True
            made["extra"] = extra
            return graph, request
        graph, response = self._send("Gradient", build)
        _store(roots, response.values)
        _store(made["extra"], response.extra)
        return graph, response

    def _functional(self, method: str, nodes, history_roots, make):
        """Jvp, Jacobian, Hessian: one request whose results all come back as data (in the message, in
        shared memory, or, past the message cap, by handle and read with GetValue)."""
        def build():
            graph = RequestGraph(list(nodes), differentiable_history(history_roots))
            return graph, make(graph)
        return self._send(method, build, keep=False)

    def jvp_request(self, outputs, primals, tangents):
        leases: list = []

        def make(graph):
            request = pb.JvpRequest(outputs=graph.ids(outputs), primals=graph.ids(primals))
            for t in tangents:
                self._array_tensor(np.asarray(t), request.tangents.add(), leases)
            return request
        try:
            _, response = self._functional("Jvp", list(outputs) + list(primals), outputs, make)
        finally:
            for r in leases:
                self._pool.release(r)
        _store(outputs, response.values)
        return [self.decode(t, "tangent") for t in response.tangents]

    def jacobian_request(self, output, wrt):
        _, response = self._functional(
            "Jacobian", [output] + list(wrt), [output],
            lambda graph: pb.JacobianRequest(output=graph.index[output], wrt=graph.ids(wrt)))
        _store([output], [response.value])
        return [self.decode(t, "jacobian") for t in response.jacobians]

    def hessian_request(self, output, wrt):
        _, response = self._functional(
            "Hessian", [output] + list(wrt), [output],
            lambda graph: pb.HessianRequest(output=graph.index[output], wrt=graph.ids(wrt)))
        _store([output], [response.value])
        return [self.decode(t, "hessian block") for t in response.blocks]

    def _array_tensor(self, a: np.ndarray, out: pb.Tensor, leases: list) -> None:
        """An array that is no node's value (a Jvp tangent) into a request, the way _tensor sends one: in a
        reusable region, uploaded in chunks and named by handle when past STREAM_BYTES, else as bytes."""
        share = self._shm or None
        if share is not None and a.nbytes >= share.min_bytes and self._in_region(np.ascontiguousarray(a), out,
                                                                                 leases):
            return
        if a.nbytes >= STREAM_BYTES:
            out.dtype = codec.dtype_enum(a.dtype)
            out.shape[:] = a.shape
            out.handle = self.put_value(a)
            return
        codec.tensor_to_proto(a, out)

    def server_info(self) -> pb.ServerInfoResponse:
        return self._call("GetServerInfo", pb.ServerInfoRequest())


# Results up to this size come back with their data even when nobody reads them yet: the transfer is
# cheaper than the round trip a later read would cost.
FETCH_BYTES = 64 << 10
# Tensors this large are uploaded in chunks (PutValue) before the request that names them by handle, and
# come down in chunks of the server's choosing when a response cannot hold them (GetValue).
STREAM_BYTES = 4 << 20
CHUNK_BYTES = (1 << 20) - (4 << 10)     # with its header, a chunk fits a server's message cap of 1 MiB
# A parameter updated this many times without being read is fetched with the next request, so the
# client never holds a longer chain of updates to replay should the server lose the value.
MAX_UNREAD_UPDATES = 8
MAX_RESENDS = 8
MAX_HELD = 4096
_RESIDENT_MISS = re.compile(r"resident value ([0-9a-f]{64})")


def _same_host(target: str) -> bool:
    """Whether a target can only be a server on this host (a unix socket, a loopback address)."""
    if target.startswith("unix:"):
        return True
    host = target.rsplit(":", 1)[0].strip("[]") if not target.startswith("[") else target[1:target.find("]")]
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def _decode(t: pb.Tensor, where: str) -> np.ndarray:
    """A response tensor's bytes, its place in one of the client's reusable regions, or a one-off
    shared-memory region mapped in place (unlinked at once)."""
    if t.HasField("shm") and t.shm.keep:
        value = getattr(_CLAIMED, "regions", {}).pop(t.shm.name, None)
        if value is None:
            raise errors.Unavailable(f"{where}: the server answered in region {t.shm.name}, which this "
                                     f"client did not offer for this call")
        return value
    if t.HasField("shm"):
        dtype = codec.DTYPES[t.dtype]
        value = shm.read(t.shm.name, dtype, tuple(t.shape), t.shm.nbytes)
        return value if dtype.isnative else value.astype(dtype.newbyteorder("="))
    return codec.tensor_from_proto(t, where)


def _store(nodes, tensors) -> None:
    """Results into their nodes: the value when data came back, else the handle of the value the
    server keeps."""
    for node, t in zip(nodes, tensors):
        if node.value is None:
            value = _decode(t, "output") if not t.handle or t.data or t.HasField("shm") or not codec.count(t) \
                else None
            node.settle(value, t.handle or None)


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

