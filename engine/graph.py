"""Graph IR: a flat list of nodes in topological order (SSA); node ids are list positions."""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np


@dataclass(frozen=True)
class Node:
    """One operation: op name, ids of earlier nodes, typed attributes."""

    op: str
    inputs: tuple[int, ...] = ()
    attrs: Mapping[str, Any] = field(default_factory=dict)


def _encode_value(v: Any, out: list[bytes]) -> None:
    """Canonical, type-tagged bytes for an attribute value (content hash input)."""
    if v is None:
        out.append(b"N")
    elif isinstance(v, (bool, np.bool_)):
        out.append(b"B1" if v else b"B0")
    elif isinstance(v, (int, np.integer)):
        out.append(b"I" + str(int(v)).encode() + b";")
    elif isinstance(v, (float, np.floating)):
        out.append(b"F" + struct.pack("<d", float(v)))
    elif isinstance(v, str):
        b = v.encode()
        out.append(b"S%d:" % len(b) + b)
    elif isinstance(v, np.ndarray):
        a = np.ascontiguousarray(v)
        out.append(b"T" + a.dtype.str.encode() + repr(a.shape).encode() + b":")
        out.append(hashlib.sha256(a.tobytes()).digest())
    elif isinstance(v, (tuple, list)):
        out.append(b"L%d[" % len(v))
        for x in v:
            _encode_value(x, out)
        out.append(b"]")
    else:
        raise TypeError(f"unhashable attribute value of type {type(v).__name__}")


def node_bytes(node: Node) -> bytes:
    parts: list[bytes] = [node.op.encode(), b"(", ",".join(map(str, node.inputs)).encode(), b")"]
    for k in sorted(node.attrs):
        parts.append(k.encode() + b"=")
        _encode_value(node.attrs[k], parts)
    parts.append(b"\n")
    return b"".join(parts)


class Graph:
    """An immutable list of nodes. Validation and shape inference live in `infer.py`."""

    __slots__ = ("nodes", "_hash", "memo")

    def __init__(self, nodes: Sequence[Node], content_hash: str | None = None):
        """`content_hash`: a caller that already holds a content-derived hash of exactly these nodes (the
        server hashes their wire encoding) passes it, so the plan-cache key costs nothing more."""
        self.nodes: tuple[Node, ...] = tuple(nodes)
        self._hash: str | None = content_hash
        self.memo = None   # engine/api.py: the last call answered for this graph object (a repeat skips the key)

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self):
        return iter(self.nodes)

    def __getitem__(self, i: int) -> Node:
        return self.nodes[i]

    def part_hash(self, start: int = 0, stop: int | None = None) -> str:
        """Content hash of nodes[start:stop]: same nodes, same hash, on any replica."""
        h = hashlib.sha256()
        for node in self.nodes[start:stop]:
            h.update(node_bytes(node))
        return h.hexdigest()

    def hash(self) -> str:
        if self._hash is None:
            self._hash = self.part_hash()
        return self._hash

    def __repr__(self) -> str:
        lines = [f"  %{i} = {n.op}({', '.join('%' + str(j) for j in n.inputs)})"
                 + (f" {dict(n.attrs)}" if n.attrs and n.op != "constant" else "")
                 for i, n in enumerate(self.nodes)]
        return "Graph(\n" + "\n".join(lines) + "\n)"
