"""A client node's wire bytes (a serialized `gradwire.v1.Node`), assembled from cached pieces.

A request's graph used to be built as protobuf messages and serialized on every call, which was the largest
part of the client's cost per request. A recorded node never changes, and most nodes repeat the op and the
attributes of an earlier one (a training step records the same ops each time), so the attributes are
encoded once per distinct value and a node's bytes are the op's field, its input ids and those cached bytes,
concatenated in field order. The result is byte for byte what `Node.SerializeToString(deterministic=True)`
gives (a test checks it against protobuf).
"""
from __future__ import annotations

import threading

import numpy as np

from gradwire.core import codec
from gradwire.v1 import gradwire_pb2 as pb

_VARINT = [bytes([i]) for i in range(128)]
_CACHE_LIMIT = 1 << 14          # entries per cache; a cache that fills up starts again
# Constants up to this size are cached by content (their bytes are the key); larger ones are encoded each time.
_CONSTANT_KEY_BYTES = 64


def varint(n: int) -> bytes:
    if n < 128:
        return _VARINT[n]
    out = bytearray()
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def frame(payload: bytes) -> bytes:
    """One element of a repeated message field 1 (Graph.nodes, GraphPart.graph): tag, length, bytes."""
    return b"\n" + varint(len(payload)) + payload


_OPS: dict[str, bytes] = {}


def _op(op: str) -> bytes:
    field = _OPS.get(op)
    if field is None:
        name = op.encode()
        field = _OPS[op] = b"\n" + varint(len(name)) + name
    return field


def _inputs(ids: list[int]) -> bytes:
    """Node.inputs (field 2, packed varints)."""
    if not ids:
        return b""
    payload = bytes(ids) if max(ids) < 128 else b"".join(varint(i) for i in ids)
    return b"\x12" + varint(len(payload)) + payload


def encode_attrs(attrs: dict) -> bytes:
    """Node.attrs (field 3), map entries in key order as deterministic serialization writes them."""
    if not attrs:
        return b""
    out = pb.Node()
    for key, value in attrs.items():
        codec.attr_to_proto(value, out.attrs[key])
    return out.SerializeToString(deterministic=True)


class AttrBytes:
    """The encoded attributes shared by every node recorded with the same op, input avals and attributes
    (one per entry of the client's signature memo), computed on first use."""

    __slots__ = ("data",)

    def __init__(self):
        self.data = None


_CONSTANTS: dict[tuple, bytes] = {}
_PLACEHOLDERS: list[bytes] = []
_GROW = threading.Lock()


def placeholder(k: int) -> bytes:
    """The k-th placeholder of a request, named `p{k}`, framed as a Graph.nodes element."""
    if k >= len(_PLACEHOLDERS):
        with _GROW:                   # entry j must be p{j}: threads extend the list one at a time
            while len(_PLACEHOLDERS) <= k:
                j = len(_PLACEHOLDERS)
                _PLACEHOLDERS.append(frame(_op("placeholder") + encode_attrs({"name": f"p{j}"})))
    return _PLACEHOLDERS[k]


def node_bytes(node, ids: list[int]) -> bytes:
    """The node (an op or a constant) with inputs `ids`, framed as a Graph.nodes element."""
    body = _op(node.op) + _inputs(ids) + _attr_bytes(node)
    n = len(body)
    return (b"\n" + _VARINT[n] if n < 128 else b"\n" + varint(n)) + body


def _attr_bytes(node) -> bytes:
    shared = node.encoded
    if shared is not None:
        if shared.data is None:
            shared.data = encode_attrs(node.attrs)
        return shared.data
    if node.op == "constant":
        value = node.attrs.get("value")
        if type(value) is np.ndarray and len(node.attrs) == 1 and value.nbytes <= _CONSTANT_KEY_BYTES:
            key = (value.dtype, value.shape, value.tobytes())     # the dtype object: byte order included
            data = _CONSTANTS.get(key)
            if data is None:
                if len(_CONSTANTS) >= _CACHE_LIMIT:
                    _CONSTANTS.clear()
                data = _CONSTANTS[key] = encode_attrs(node.attrs)
            return data
    return encode_attrs(node.attrs)
