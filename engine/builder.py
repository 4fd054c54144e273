"""Symbolic values that append nodes to a graph under construction: the language VJP/JVP rules are written in."""
from __future__ import annotations

from typing import Any

import numpy as np

from .graph import Node
from .registry import OPS, Aval


class Builder:
    """Appends nodes with shape inference as it goes, so rules can ask for shapes and dtypes."""

    def __init__(self, nodes: list[Node], avals: list[Aval], check):
        self.nodes = nodes
        self.avals = avals
        self._check = check  # infer.check_node: validates one node, returns (attrs, aval)

    def sym(self, i: int) -> "Sym":
        return Sym(self, i)

    def op(self, name: str, *inputs: "Sym", **attrs: Any) -> "Sym":
        ids = tuple(x.id for x in inputs)
        node = Node(name, ids, attrs)
        attrs_n, aval = self._check(len(self.nodes), node, [self.avals[i] for i in ids])
        self.nodes.append(Node(name, ids, attrs_n))
        self.avals.append(aval)
        return Sym(self, len(self.nodes) - 1)

    def const(self, value, dtype: str) -> "Sym":
        return self.op("constant", value=np.asarray(value, dtype=dtype))

    def scalar(self, value: float, like: "Sym") -> "Sym":
        return self.const(value, like.dtype)


class Sym:
    """A node id with arithmetic: `g * y` in a rule appends a `mul` node."""

    __slots__ = ("b", "id")

    def __init__(self, b: Builder, i: int):
        self.b, self.id = b, i

    @property
    def aval(self) -> Aval:
        return self.b.avals[self.id]

    @property
    def shape(self) -> tuple[int, ...]:
        return self.aval.shape

    @property
    def dtype(self) -> str:
        return self.aval.dtype

    @property
    def ndim(self) -> int:
        return len(self.aval.shape)

    def _lift(self, other) -> "Sym":
        return other if isinstance(other, Sym) else self.b.scalar(other, self)

    def __add__(self, o): return self.b.op("add", self, self._lift(o))
    def __radd__(self, o): return self.b.op("add", self._lift(o), self)
    def __sub__(self, o): return self.b.op("sub", self, self._lift(o))
    def __rsub__(self, o): return self.b.op("sub", self._lift(o), self)
    def __mul__(self, o): return self.b.op("mul", self, self._lift(o))
    def __rmul__(self, o): return self.b.op("mul", self._lift(o), self)
    def __truediv__(self, o): return self.b.op("div", self, self._lift(o))
    def __rtruediv__(self, o): return self.b.op("div", self._lift(o), self)
    def __neg__(self): return self.b.op("neg", self)
    def __gt__(self, o): return self.b.op("gt", self, self._lift(o))
    def __lt__(self, o): return self.b.op("lt", self, self._lift(o))
    def __ge__(self, o): return self.b.op("ge", self, self._lift(o))
    def __le__(self, o): return self.b.op("le", self, self._lift(o))

    def eq(self, o): return self.b.op("eq", self, self._lift(o))

    def __getattr__(self, name: str):
        # s.exp(), s.sum(axes=..., keepdims=True), s.reshape(shape=...): any op of the table.
        if name in OPS:
            return lambda *others, **attrs: self.b.op(name, self, *others, **attrs)
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"Sym(%{self.id}: {self.aval.dtype}{list(self.aval.shape)})"
