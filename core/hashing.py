"""Content hashes exactly as the .proto specifies them for every language: resident values and graph parts."""
from __future__ import annotations

import hashlib
import re
import struct

import blake3
import numpy as np

from gradwire.v1 import gradwire_pb2 as pb

DOMAIN = b"gradwire.tensor.v1\x00"
# Values smaller than this are never kept resident: they travel as bytes (a handle would save nothing).
MIN_RESIDENT_BYTES = 4096
PART_DOMAIN = b"gradwire.graph.v1\x00"


def tensor_hash(dtype_code: int, shape, data) -> str:
    """BLAKE3-256, hex, of: the domain string, the DType enum value (1 byte), the rank (uint32 LE), each
    dimension (int64 LE), then the tensor's wire bytes (little-endian, C order)."""
    h = blake3.blake3(DOMAIN)
    h.update(struct.pack(f"<BI{len(shape)}q", dtype_code, len(shape), *shape))
    buf = data if isinstance(data, (bytes, bytearray)) else np.ascontiguousarray(data).view(np.uint8)
    h.update(buf)
    return h.hexdigest()


_HEX64 = re.compile("[0-9a-f]{64}")


def is_hash(s: str) -> bool:
    """64 lowercase hex digits (one regex match: a character loop cost ~12 µs per request)."""
    return _HEX64.fullmatch(s) is not None


def _text(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<I", len(b)) + b


def _attr(v: pb.AttrValue) -> bytes:
    kind = v.WhichOneof("value")
    if kind is None:
        return b"\x00"
    tag = pb.AttrValue.DESCRIPTOR.fields_by_name[kind].number
    if kind == "i":
        body = struct.pack("<q", v.i)
    elif kind == "f":
        body = struct.pack("<d", v.f)
    elif kind in ("b", "none"):
        body = bytes([getattr(v, kind)])
    elif kind == "s":
        body = _text(v.s)
    elif kind == "ints":
        body = struct.pack(f"<I{len(v.ints.values)}q", len(v.ints.values), *v.ints.values)
    elif kind == "floats":
        body = struct.pack(f"<I{len(v.floats.values)}d", len(v.floats.values), *v.floats.values)
    else:  # tensor
        t = v.tensor
        body = struct.pack(f"<BI{len(t.shape)}qQ", t.dtype, len(t.shape), *t.shape, len(t.data)) + t.data
    return bytes([tag]) + body


def part_hash(part: pb.Graph) -> str:
    """SHA-256, hex, of a graph part's canonical encoding (the .proto's "Graph part hashes"): fields in a
    fixed order and attributes sorted by name, so it needs no protobuf serializer and any language gets the
    same bytes. Unknown fields and a constant tensor's `handle` are not part of it."""
    h = hashlib.sha256(PART_DOMAIN)
    h.update(struct.pack("<I", len(part.nodes)))
    for node in part.nodes:
        h.update(_text(node.op))
        h.update(struct.pack(f"<I{len(node.inputs)}I", len(node.inputs), *node.inputs))
        attrs = sorted(node.attrs.items(), key=lambda kv: kv[0].encode())
        h.update(struct.pack("<I", len(attrs)))
        for name, value in attrs:
            h.update(_text(name))
            h.update(_attr(value))
    return h.hexdigest()
