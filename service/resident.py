"""Resident values in a request: tensors named by handle, tensors kept for later, results sent as handles."""
from __future__ import annotations

import contextvars
import hashlib
import math
import mmap

import grpc
import numpy as np

from gradwire.core import codec, hashing, shm
from gradwire.v1 import gradwire_pb2 as pb

from .errors import RequestError
from .shared import MIN_BYTES as SHM_MIN_BYTES
from .store import ValueStore

# The caller of the RPC being served (set by rpc.py from its metadata): resident values are kept per caller.
CALLER: contextvars.ContextVar[str | None] = contextvars.ContextVar("gradwire_caller", default=None)


def caller(metadata) -> str | None:
    """Who is calling: the bearer token's identity, the client's namespace within it when it sends one
    (so that one session releasing its values never drops another's under the same token), else the
    namespace alone."""
    token = namespace = None
    for key, value in metadata:
        if key == "authorization":
            token = "token:" + hashlib.sha256(value.encode()).hexdigest()
        elif key == "x-gradwire-namespace":
            namespace = "ns:" + value[:256]
    if token is None:
        return namespace
    return token if namespace is None else f"{token}/{namespace}"


class Residency:
    """One request's view of the store: resolves handles, keeps what a resident request sends, and
    answers with handles where the caller did not ask for the data."""

    def __init__(self, store: ValueStore, options: pb.Options, inline_bytes: int | None = None, shared=None):
        self.store = store
        self.inline_bytes = inline_bytes      # result bytes the response may still carry (None: no cap)
        self.shared = shared                  # service.shared.SharedMemory, when the server has it
        self.shm_peer = shared.peer(options.shm_session) if shared is not None else None
        self.offers = list(options.out_regions) if self.shm_peer is not None else []
        self._placed: dict[int, str] = {}      # data address of a result the engine computed in a region -> name
        self.keep = options.resident
        self.fetch = set(options.fetch)
        self._caller = CALLER.get()
        self.missing: list[tuple[str, str]] = []     # (hash, field) of handles this server does not hold
        if options.release:
            for k, h in enumerate(options.release):
                if not hashing.is_hash(h):
                    raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                                       f"options.release[{k}]: a handle is 64 lowercase hex digits; got {h[:80]!r}",
                                       f"options.release[{k}]")
            store.release(self.principal("options.release"), options.release)

    def principal(self, where: str) -> str:
        if self._caller is None:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               "resident values need a caller identity: send the x-gradwire-namespace metadata "
                               "(any random string, one per session) or a bearer token", where)
        return self._caller

    def resolve(self, t: pb.Tensor, where: str) -> np.ndarray:
        """The resident value a request tensor names by handle (dtype and shape must match it)."""
        h = t.handle
        if t.data or not hashing.is_hash(h):
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"{where}: a handle is 64 lowercase hex digits and comes without data; "
                               f"got {h[:80]!r}" + (" with data" if t.data else ""), where + ".handle")
        value = self.store.get(self.principal(where), h)
        dtype = codec.DTYPE_NAMES.get(t.dtype)
        if value is None:
            # Reported once every tensor is decoded (check_missing), so one answer names them all.
            self.missing.append((h, where))
            if dtype is None:
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"{where}: a handle needs its dtype", where)
            return np.zeros(tuple(t.shape), codec.DTYPES[t.dtype])
        if (t.dtype and dtype != value.dtype.name) or (len(t.shape) and tuple(t.shape) != value.shape) or (
                not t.dtype and t.shape):
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"{where}: handle {h} holds {value.dtype.name}{list(value.shape)}, but the tensor "
                               f"says {dtype}{list(t.shape)}", where)
        return value

    def check_missing(self) -> None:
        if self.missing:
            names = "; ".join(f"{where}: resident value {h}" for h, where in self.missing)
            raise RequestError(grpc.StatusCode.NOT_FOUND,
                               f"not held for this caller on this server: {names}; send their bytes (or the ops "
                               f"that compute them) again", self.missing[0][1] + ".handle")

    def kept(self, t: pb.Tensor, value: np.ndarray, where: str) -> np.ndarray:
        """A tensor sent by bytes (or in a shared-memory region): kept for later requests when this one is
        resident."""
        # A client's reusable region is the client's again after the call, and costs it nothing to send
        # again: not kept (keeping would mean a copy).
        if self.keep and value.nbytes >= hashing.MIN_RESIDENT_BYTES and not t.shm.keep:
            self.store.put(self.principal(where), hashing.tensor_hash(t.dtype, value.shape, t.data or value), value)
        return value

    def put(self, field, arrays, ids=None, *, fetch_all: bool = False) -> None:
        """Results into a response field: data for what the caller fetches (or every result when the
        request is not resident), else the handle of the value kept here."""
        for k, a in enumerate(arrays):
            self.put_one(field.add(), a, not self.keep or fetch_all or (ids is not None and ids[k] in self.fetch))

    def put_one(self, t: pb.Tensor, a, wanted: bool = True) -> None:
        """One result into `t`: its data (`wanted`: the caller reads it now) in the message or a region, or
        too large for the message, by handle; a resident request's also kept."""
        # Only results that travel now go through a region: an unread resident one stays a handle.
        if wanted and self.shm_peer is not None and a.nbytes >= SHM_MIN_BYTES and \
                self._in_region(t, np.asarray(a)):
            # In one of the client's reusable regions, the result stays where the client sends it from
            # again without a copy: not kept (keeping it would cost a hash and a copy).
            if self.keep and not t.shm.keep:
                t.handle = hashing.tensor_hash(t.dtype, a.shape, a)
                self.store.put(self.principal("options.resident"), t.handle, _owned(a))
            return
        if self.keep and not wanted and hashing.MIN_RESIDENT_BYTES <= a.nbytes <= self.store.max_bytes:
            self.principal("options.resident")
            self._by_handle_only(t, np.asarray(a))     # kept, hashed in place: no bytes encoded
            return
        if self.inline_bytes is not None:
            if a.nbytes > self.inline_bytes:
                self._by_handle_only(t, np.asarray(a))
                return
            self.inline_bytes -= a.nbytes
        codec.tensor_to_proto(a, t)
        if not self.keep or len(t.data) < hashing.MIN_RESIDENT_BYTES:
            return
        h = hashing.tensor_hash(t.dtype, a.shape, t.data)
        self.store.put(self.principal("options.resident"), h, _owned(a))
        t.handle = h

    def _by_handle_only(self, t: pb.Tensor, a: np.ndarray) -> None:
        """A result kept and answered by handle: one the caller does not read now, or one too large for
        the response (kept even for a request that is not resident), for the client to read with
        GetValue. Hashed in place: no copy."""
        if self._caller is None:
            raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"a result of {a.nbytes} bytes is larger than one response may carry (half of "
                               f"--max-message-bytes); send a caller identity (x-gradwire-namespace metadata "
                               f"or a bearer token) and it comes back by handle, to read with GetValue", "outputs")
        t.dtype = codec.dtype_enum(a.dtype)
        t.shape[:] = a.shape
        t.handle = hashing.tensor_hash(t.dtype, a.shape, a)
        if not self.store.put(self._caller, t.handle, _owned(a)):
            raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"a result of {a.nbytes} bytes is too large for one response (half of "
                               f"--max-message-bytes) and for the resident store ({self.store.max_bytes} "
                               f"bytes, --value-store-bytes)", "outputs")

    def into(self, travels):
        """For the engine (engine.gradient's `into`): result k, when travels(k), computed straight into
        the smallest offered region that holds it, so that it needs no copy and no private memory; None
        when the client offered none."""
        if not self.offers:
            return None

        def place(k: int, shape, dtype):
            nbytes = math.prod(shape) * dtype.itemsize
            fits = [o for o in self.offers if o.nbytes >= nbytes]
            if not travels(k) or nbytes < SHM_MIN_BYTES or not fits:
                return None
            offer = min(fits, key=lambda o: o.nbytes)
            try:
                buf = self.shared.kept_region(offer.name, nbytes, writable=True).view(dtype).reshape(shape)
            except shm.RegionError:
                return None
            self.offers.remove(offer)
            self._placed[buf.ctypes.data] = offer.name
            return buf
        return place

    def _in_region(self, t: pb.Tensor, a: np.ndarray) -> bool:
        """A result into a shared-memory region for the negotiated client: where the engine computed it,
        else one the client offered (reused, no page faults), else a fresh one (False: over the bound)."""
        name = self._placed.pop(a.ctypes.data, None) if a.flags.c_contiguous else None
        if name is None and self.offers:
            name = self.shared.write_offered(self.offers, a)
        keep = name is not None
        if name is None:
            name = self.shared.write(self.shm_peer, a)
        if name is None:
            return False
        t.dtype = codec.dtype_enum(a.dtype)
        t.shape[:] = a.shape
        t.shm.name, t.shm.nbytes, t.shm.keep = name, a.nbytes, keep
        return True


def _owned(a) -> np.ndarray:
    """The array, or a copy of it when it lies in a shared-memory region (a result that is an input sent in
    a client's reusable region, which the client writes again after the call): what the store keeps."""
    a = np.asarray(a)
    base = a
    while isinstance(base, np.ndarray):
        base = base.base
    base = base.obj if isinstance(base, memoryview) else base
    return a.copy() if isinstance(base, mmap.mmap) else a
