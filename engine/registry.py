"""The engine's op table: per op, its kernel and derivative rules beside the shared signature
(`gradwire.core`: inputs, attributes, dtypes, shape rule). Filled in by the `ops_*` modules."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from gradwire.core.signature import ATTR_KINDS, REQUIRED, SIGNATURES, Attr, Aval, Signature

from .half import in_float32

__all__ = ["ATTR_KINDS", "REQUIRED", "Attr", "Aval", "OPS", "Op", "defop"]


@dataclass
class Op:
    """One row of the engine's table: the op's signature plus

    impl(*arrays, **attrs) -> ndarray     the forward kernel
    vjp: one rule per input, rule(g, out, *inputs, **attrs) -> Sym; None = no gradient
    jvp(tangents, out, *inputs, **attrs)  -> Sym or None; "elementwise" derives it from vjp
    """

    sig: Signature
    impl: Callable[..., Any]
    vjp: Sequence[Callable | None] | None = None
    jvp: Callable | str | None = None
    ufunc: Any = None          # the NumPy ufunc `impl` applies when inputs share a dtype (lets fusion use out=)
    into: Callable | None = None   # else impl with an out= argument, for fused groups when no input needs a cast
    composite: bool = False

    name = property(lambda self: self.sig.name)
    min_inputs = property(lambda self: self.sig.min_inputs)
    max_inputs = property(lambda self: self.sig.max_inputs)
    shape = property(lambda self: self.sig.shape)
    attrs = property(lambda self: self.sig.attrs)
    dtypes = property(lambda self: self.sig.dtypes)
    elementwise = property(lambda self: self.sig.elementwise)
    shape_only = property(lambda self: self.sig.shape_only)
    doc = property(lambda self: self.sig.doc)

    @property
    def differentiable(self) -> bool:
        return self.vjp is not None and any(r is not None for r in self.vjp)


OPS: dict[str, Op] = {}


def defop(name: str, *, opmath: bool = True, **fields) -> Op:
    """Give the op `name` (declared in gradwire.core) its kernel and rules. opmath: float16 inputs are computed
    in float32 and rounded once (see half.py); False for kernels that keep their input's bits (cast, bitcast)."""
    if name in OPS:
        raise ValueError(f"op {name} given kernels twice")
    if opmath and fields.get("impl") is not None:
        fields["impl"] = in_float32(fields["impl"])
    op = OPS[name] = Op(sig=SIGNATURES[name], **fields)
    return op
