"""Streaming for size: tensors larger than a gRPC message go up (PutValue) and come down (GetValue) in
chunks, through the resident-value store; each side holds one copy of the tensor plus a chunk."""
from __future__ import annotations

import itertools
import struct

import blake3
import grpc
import numpy as np

from gradwire.core import codec, hashing
from gradwire.v1 import gradwire_pb2 as pb

from . import wire
from .errors import RequestError
from .resident import Residency
from .store import ValueStore

# Bytes per GetValue chunk (at most half the message cap): large enough that per-message overhead
# (~0.1 ms in grpc's Python layer) is small beside the copy, small enough that the chunks grpc buffers
# in flight stay a small fraction of the tensor (2 MiB chunks cost 26 MB of peak RSS per 64 MiB upload
# here, 1 MiB chunks 11 MB).
CHUNK_BYTES = 1 << 20


def _invalid(message: str, field: str) -> RequestError:
    return RequestError(grpc.StatusCode.INVALID_ARGUMENT, message, field)


class ValueStreams:
    """PutValue and GetValue, each taking (request or chunk iterator, cancel) like the other methods."""

    def __init__(self, store: ValueStore, budget: wire.Budget, max_message_bytes: int):
        self.store = store
        self.budget = budget
        self.chunk_bytes = min(CHUNK_BYTES, max_message_bytes // 2)

    def PutValue(self, chunks, cancel) -> pb.PutValueResponse:
        first = next(chunks, None)
        if first is None:
            raise _invalid("PutValue: the stream ended before its first chunk (dtype, shape, data)", "dtype")
        dtype = codec.DTYPES.get(first.dtype)
        if dtype is None:
            raise _invalid(f"PutValue: the first chunk needs a dtype; got enum value {first.dtype}", "dtype")
        count = wire.check_shape(first, "shape", self.budget)
        nbytes = count * dtype.itemsize
        if nbytes > self.store.max_bytes:
            raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"PutValue: {codec.DTYPE_NAMES[first.dtype]}{list(first.shape)} is {nbytes} bytes, "
                               f"more than the whole resident store holds ({self.store.max_bytes} bytes, "
                               f"--value-store-bytes)", "shape")
        if nbytes < hashing.MIN_RESIDENT_BYTES:
            raise _invalid(f"PutValue: values under {hashing.MIN_RESIDENT_BYTES} bytes are never kept "
                           f"({nbytes} bytes): send them as bytes in the request", "shape")
        if first.handle and not hashing.is_hash(first.handle):
            raise _invalid(f"PutValue: handle {first.handle[:80]!r} is not 64 lowercase hex digits", "handle")
        principal = Residency(self.store, pb.Options()).principal("PutValue")
        buf = np.empty(nbytes, np.uint8)
        h = blake3.blake3(hashing.DOMAIN)
        h.update(struct.pack(f"<BI{len(first.shape)}q", first.dtype, len(first.shape), *first.shape))
        pos = 0
        for k, chunk in enumerate(itertools.chain((first,), chunks)):
            n = len(chunk.data)
            if pos + n > nbytes:
                raise _invalid(f"PutValue: chunk {k} brings the data past the {nbytes} bytes that "
                               f"{codec.DTYPE_NAMES[first.dtype]}{list(first.shape)} holds", "data")
            buf[pos:pos + n] = np.frombuffer(chunk.data, np.uint8)
            h.update(chunk.data)
            pos += n
            if cancel():
                raise RequestError(grpc.StatusCode.DEADLINE_EXCEEDED, "PutValue: the deadline passed mid-stream")
        if pos != nbytes:
            raise _invalid(f"PutValue: the chunks carried {pos} bytes, but "
                           f"{codec.DTYPE_NAMES[first.dtype]}{list(first.shape)} needs {nbytes}", "data")
        handle = h.hexdigest()
        if first.handle and first.handle != handle:
            raise _invalid(f"PutValue: the data hashes to {handle}, not to the handle sent ({first.handle})",
                           "handle")
        value = buf.view(dtype).reshape(tuple(first.shape))
        if dtype == np.dtype("?") and not np.all(buf <= 1):
            raise _invalid("PutValue: bool data must be bytes 0 or 1", "data")
        if not dtype.isnative:
            value = value.astype(dtype.newbyteorder("="))
        self.store.put(principal, handle, value)
        return pb.PutValueResponse(handle=handle, nbytes=nbytes)

    def GetValue(self, req: pb.GetValueRequest, cancel):
        if not hashing.is_hash(req.handle):
            raise _invalid(f"GetValue: handle {req.handle[:80]!r} is not 64 lowercase hex digits", "handle")
        value = self.store.get(Residency(self.store, pb.Options()).principal("GetValue"), req.handle)
        if value is None:
            raise RequestError(grpc.StatusCode.NOT_FOUND,
                               f"GetValue: resident value {req.handle} is not held for this caller on this "
                               f"server (evicted, restarted, or another replica)", "handle")
        return self._chunks(value, req.handle, cancel, self.chunk_bytes)

    @staticmethod
    def _chunks(value: np.ndarray, handle: str, cancel, size: int):
        if value.dtype.byteorder == ">":
            value = value.astype(value.dtype.newbyteorder("<"))
        flat = memoryview(np.ascontiguousarray(value).reshape(-1).view(np.uint8))
        for start in range(0, max(len(flat), 1), size):
            chunk = pb.ValueChunk(data=flat[start:start + size].tobytes())
            if start == 0:
                chunk.dtype = codec.dtype_enum(value.dtype)
                chunk.shape[:] = value.shape
                chunk.handle = handle
            yield chunk
            if cancel():
                return
