"""The content hash that names a resident value, exactly as the .proto specifies it for every language."""
from __future__ import annotations

import struct

import blake3
import numpy as np

DOMAIN = b"gradwire.tensor.v1\x00"
# Values smaller than this are never kept resident: they travel as bytes (a handle would save nothing).
MIN_RESIDENT_BYTES = 4096


def tensor_hash(dtype_code: int, shape, data) -> str:
    """BLAKE3-256, hex, of: the domain string, the DType enum value (1 byte), the rank (uint32 LE), each
    dimension (int64 LE), then the tensor's wire bytes (little-endian, C order)."""
    h = blake3.blake3(DOMAIN)
    h.update(struct.pack(f"<BI{len(shape)}q", dtype_code, len(shape), *shape))
    buf = data if isinstance(data, (bytes, bytearray)) else np.ascontiguousarray(data).view(np.uint8)
    h.update(buf)
    return h.hexdigest()


def is_hash(s: str) -> bool:
    return len(s) == 64 and all(c in "0123456789abcdef" for c in s)
