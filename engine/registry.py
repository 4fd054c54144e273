"""The op record and the table that holds one row per op (filled in by `ops.py`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .dtypes import DTYPES

# Attribute kinds as the wire and the catalogue name them.
ATTR_KINDS = ("int", "float", "bool", "string", "ints", "floats", "tensor", "axes", "optfloat", "optints",
              "optint")
REQUIRED = object()


@dataclass(frozen=True)
class Attr:
    kind: str
    default: Any = REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass
class Aval:
    """Abstract value: what shape inference knows about a node before any kernel runs."""

    shape: tuple[int, ...]
    dtype: str

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def ndim(self) -> int:
        return len(self.shape)


@dataclass
class Op:
    """One row of the op table.

    shape(avals, attrs) -> Aval           raises ValueError(reason) on bad input
    impl(*arrays, **attrs) -> ndarray     the forward kernel
    vjp: one rule per input, rule(g, out, *inputs, **attrs) -> Sym; None = no gradient
    jvp(tangents, out, *inputs, **attrs)  -> Sym or None; "elementwise" derives it from vjp
    """

    name: str
    min_inputs: int
    max_inputs: int  # -1: variadic
    shape: Callable[..., Aval]
    impl: Callable[..., Any]
    vjp: Sequence[Callable | None] | None = None
    jvp: Callable | str | None = None
    attrs: dict[str, Attr] = field(default_factory=dict)
    dtypes: Sequence[str] = DTYPES
    elementwise: bool = False
    ufunc: Any = None          # the NumPy ufunc `impl` applies when inputs share a dtype (lets fusion use out=)
    shape_only: bool = False   # the value depends on the input's shape and dtype only (folded at compile time)
    composite: bool = False
    doc: str = ""

    @property
    def differentiable(self) -> bool:
        return self.vjp is not None and any(r is not None for r in self.vjp)


OPS: dict[str, Op] = {}


def defop(name: str, *, inputs: int | tuple[int, int], **fields) -> Op:
    lo, hi = (inputs, inputs) if isinstance(inputs, int) else inputs
    op = Op(name=name, min_inputs=lo, max_inputs=hi, **fields)
    if name in OPS:
        raise ValueError(f"op {name} declared twice")
    OPS[name] = op
    return op
