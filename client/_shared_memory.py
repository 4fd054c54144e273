"""A session's shared memory with a server on this host: the handshake, its pool of reusable regions, the
regions a request's tensors go in and the ones offered for its results."""
from __future__ import annotations

import os
import secrets
import threading

import grpc
import numpy as np

from gradwire.core import codec, shm
from gradwire.v1 import gradwire_pb2 as pb

# Results of the last call on this thread that are in this client's reusable regions (_claim), by region
# name, for the session's decoding to take.
CLAIMED = threading.local()


class SharedMemoryClient:
    """Session's shared-memory half (a mixin: it uses the session's _shm, _pool, _lock, _raw_stub, timeout,
    _metadata and closed)."""

    def shared_memory(self) -> pb.SharedMemoryResponse | None:
        """The negotiated shared-memory session, or None (another host, another user, an older server,
        or turned off). Negotiated once: a region holding a nonce the server must read back; again when
        the server process it was negotiated with is gone (a restart: its regions are being swept), and
        while the server is unreachable."""
        share = self._shm
        if share and not shm.alive(share.server_pid):
            with self._lock:
                if self._shm is share:
                    self._pool.close()
                    self._pool, self._shm = None, None
        if self._shm is None:
            with self._lock:
                if self._shm is None:
                    reply = self._negotiate()
                    if isinstance(reply, pb.SharedMemoryResponse):
                        self._pool = shm.Pool(reply.server_pid)
                    self._shm = reply
        return self._shm or None

    def shared_array(self, a: np.ndarray) -> np.ndarray:
        """A copy of `a` (C order), in one of this session's reusable regions when it is large enough to
        travel through shared memory: a leaf's value, sent without another copy by every request that
        needs it. Else a plain copy."""
        big = a.nbytes >= (self._shm.min_bytes if self._shm else 1 << 20) and a.dtype.isnative
        region = self._pool.lease(a.nbytes) if big and not self.closed and self.shared_memory() else None
        if region is None:
            return np.array(a, copy=True, order="C")
        out = self._pool.array(region, a.dtype, a.shape)
        np.copyto(out, a)
        return out

    def _negotiate(self) -> pb.SharedMemoryResponse | bool | None:
        """The server's answer; False: no shared memory with this server; None: not now (unreachable)."""
        if not shm.available():
            return False
        nonce = secrets.token_bytes(32)
        try:
            region = shm.write(0, np.frombuffer(nonce, np.uint8))
        except OSError:
            return False
        try:
            reply = self._raw_stub.OpenSharedMemory(
                pb.SharedMemoryRequest(region=region, client_pid=os.getpid()),
                timeout=self.timeout if self.timeout is not None else 30, metadata=self._metadata)
        except grpc.RpcError as e:
            # UNIMPLEMENTED (an older server), FAILED_PRECONDITION (not this host) ...: bytes from now on.
            # Unreachable: try again with the next request.
            return None if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) else False
        finally:
            shm.unlink(region)
        if reply.nonce != nonce or not shm.alive(reply.server_pid):    # alive: the same pid namespace too
            return False
        shm.Sweeper.start()      # regions of a server that dies mid-answer are removed here
        return reply

    def _in_region(self, v: np.ndarray, out: pb.Tensor, regions: list) -> bool:
        """A value into the request by one of the reusable regions: the one it lives in (a leaf's value, a
        result: no copy), else a leased one it is copied into, idle again after the call (`regions`).
        Not kept resident: sending it again costs no more than a handle would. False: the pool is full."""
        if not v.dtype.isnative:
            return False
        region = self._pool.region_of(v)
        if region is None:
            region = self._pool.lease(v.nbytes)
            if region is None:
                return False
            np.copyto(np.frombuffer(region.map, v.dtype, count=v.size).reshape(v.shape), v)
            regions.append(region)
        out.dtype = codec.dtype_enum(v.dtype)
        out.shape[:] = v.shape
        out.shm.name, out.shm.nbytes, out.shm.keep = region.name, v.nbytes, True
        return True

    def _offer(self, method: str, graph, request, keep: bool) -> dict:
        """Reusable regions offered for the results that may come back in shared memory (those the
        client fetches, and gradients), one per result of the server's min_bytes or more, sized as the
        result: the server writes each into one, the client reads it where it is."""
        if self._pool is None:
            return {}
        fields = request.DESCRIPTOR.fields_by_name
        ids = list(request.options.fetch) if keep else [
            i for f in ("outputs", "extra") if f in fields for i in getattr(request, f)]
        ids = list(dict.fromkeys(ids))
        if method == "Gradient":
            ids += list(request.wrt)             # the gradients, shaped as wrt
        if method == "Jvp":
            ids += list(request.outputs)         # the output tangents, shaped as the outputs
        offers = {}
        for i in ids:
            node = graph.order[i]
            n = node.nbytes
            if n >= self._shm.min_bytes:
                region = self._pool.lease(n)
                if region is None:
                    break
                offers[region.name] = region
                request.options.out_regions.add(name=region.name, nbytes=region.size, keep=True)
        return offers

    def _claim(self, response, offers: dict) -> dict:
        """Results the server wrote into offered regions, as arrays over this client's own mappings (no
        page faults, no copy), for _decode; each region is lent to its array."""
        claimed = {}
        if not offers:
            return claimed
        for field in ("outputs", "values", "gradients", "extra", "tangents"):
            for t in getattr(response, field, ()):
                region = offers.pop(t.shm.name, None) if t.shm.keep else None
                if region is not None:
                    dtype = codec.DTYPES[t.dtype]
                    claimed[t.shm.name] = self._pool.array(region, dtype, tuple(t.shape))
        return claimed
