"""Shared memory with same-host clients: the OpenSharedMemory handshake, sessions, and result regions."""
from __future__ import annotations

import mmap
import os
import secrets
import threading
from collections import OrderedDict

import grpc
import numpy as np

from gradwire.core import shm
from gradwire.v1 import gradwire_pb2 as pb

from .errors import RequestError

# Tensors smaller than this travel as message bytes. With reusable regions (created and mapped once per
# session) a tensor in shared memory costs one copy at most; measured with bench/training.py's MLP step,
# whose gradients are 40 KiB-800 KiB: 1 MiB sent them all as bytes (19.2 ms a step), 64 KiB sends the
# large ones through regions (18.1 ms; 17.4 -> 15.7 ms with parameters rebuilt each step).
MIN_BYTES = 64 << 10
NONCE_BYTES = 32
_MAX_SESSIONS = 4096


class SharedMemory:
    """Negotiated sessions (session id -> client pid) and the regions results are written to."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.enabled = max_bytes > 0 and shm.available()
        self._sessions: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()
        self._written: set[str] = set()          # removed at shutdown if no client claimed them
        # Mappings of clients' reusable regions (SharedRegion.keep), by name, least recently used first:
        # mapped once, so a region sent again costs no open, no mmap and no page faults. Bounded by
        # max_bytes; dropped once the client unlinks the region (a sweep after a crash, or its pool's choice).
        self._maps: OrderedDict[str, mmap.mmap] = OrderedDict()
        self._mapped_bytes = 0
        self.sweeper = shm.Sweeper.start() if self.enabled else None
        if self.sweeper is not None:
            self.sweeper.hooks.append(self.prune)

    def OpenSharedMemory(self, req: pb.SharedMemoryRequest, cancel) -> pb.SharedMemoryResponse:
        if not self.enabled:
            raise RequestError(grpc.StatusCode.FAILED_PRECONDITION,
                               "shared memory is off on this server (--shm-bytes 0, or no writable /dev/shm)",
                               "region")
        try:
            m = shm.open_region(req.region, NONCE_BYTES)
        except shm.RegionError as e:
            raise RequestError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"cannot share memory with this client: {e} (another host, container or user?)",
                               "region") from None
        with m:
            nonce = bytes(m[:NONCE_BYTES])
        if req.client_pid <= 0:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "client_pid must be the client's process id",
                               "client_pid")
        if not shm.alive(req.client_pid):
            # One /dev/shm but another pid namespace (a container with the host's IPC): the sweepers
            # would take each other's live regions for a dead process's.
            raise RequestError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"client_pid {req.client_pid} is no process this server sees (another pid "
                               f"namespace?): regions could not be cleaned up safely", "client_pid")
        session = secrets.token_hex(16)
        with self._lock:
            self._sessions[session] = req.client_pid
            while len(self._sessions) > _MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return pb.SharedMemoryResponse(nonce=nonce, session=session, server_pid=os.getpid(), min_bytes=MIN_BYTES)

    def peer(self, session: str) -> int | None:
        """The client pid of a negotiated session (None: not one of ours, e.g. after a restart)."""
        if not session or not self.enabled:
            return None
        with self._lock:
            return self._sessions.get(session)

    def write(self, peer: int, a: np.ndarray) -> str | None:
        """A region holding a result for client `peer`, or None when the regions not yet mapped would
        exceed the bound (the result then travels the other way)."""
        if self.sweeper.outstanding_bytes() + a.nbytes > self.max_bytes:
            return None
        name = shm.write(peer, a)
        self.sweeper.created(name, a.nbytes)
        with self._lock:
            self._written = {n for n in self._written if os.path.exists(os.path.join(shm.ROOT, n))}
            self._written.add(name)
        return name

    def kept_region(self, name: str, nbytes: int, *, writable: bool) -> np.ndarray:
        """The first nbytes of a client's reusable region as a uint8 array (read-only unless writable),
        from the cached mapping or mapped now. shm.RegionError as for any region."""
        with self._lock:
            m = self._maps.get(name)
            if m is not None:
                self._maps.move_to_end(name)
        if m is None:
            m = shm.open_region(name, nbytes, writable=True, whole=True)
            with self._lock:
                self._prune_locked()
                if name not in self._maps and len(m) <= self.max_bytes:
                    self._maps[name] = m
                    self._mapped_bytes += len(m)
                    while self._mapped_bytes > self.max_bytes:
                        _, old = self._maps.popitem(last=False)
                        self._mapped_bytes -= len(old)
        if len(m) < nbytes:
            raise shm.RegionError(f"region {name} holds {len(m)} bytes, fewer than the {nbytes} named")
        view = np.frombuffer(m, np.uint8, count=nbytes)
        if not writable:
            view.flags.writeable = False
        return view

    def write_offered(self, offers: list, a: np.ndarray) -> str | None:
        """A result copied into the smallest offered region (SharedRegion) that holds it, taken from
        `offers`; None when none does, or it cannot be mapped."""
        fits = [o for o in offers if o.nbytes >= a.nbytes]
        if not fits:
            return None
        offer = min(fits, key=lambda o: o.nbytes)
        offers.remove(offer)
        try:
            out = self.kept_region(offer.name, a.nbytes, writable=True)
        except shm.RegionError:
            return None
        np.copyto(out.view(a.dtype).reshape(a.shape), a)
        return offer.name

    def prune(self) -> None:
        with self._lock:
            self._prune_locked()

    def _prune_locked(self) -> None:
        """Forget mappings of regions whose file is gone (the memory goes with the last mapping)."""
        for name in [n for n in self._maps if not os.path.exists(os.path.join(shm.ROOT, n))]:
            self._mapped_bytes -= len(self._maps.pop(name))

    def close(self) -> None:
        """At shutdown: remove the regions no client mapped (a crash is the sweepers' job)."""
        if self.sweeper is not None and self.prune in self.sweeper.hooks:
            self.sweeper.hooks.remove(self.prune)
        with self._lock:
            names, self._written = self._written, set()
            self._maps.clear()
            self._mapped_bytes = 0
        for name in names:
            shm.unlink(name)
