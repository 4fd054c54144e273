"""Op signatures: each op's inputs, attributes, dtypes and shape/dtype rule, shared by client and server.

This is the abstract evaluation of every op: what its result's shape and dtype are, or which PyTorch-worded
error a call raises, before anything runs. The client applies it at each call (so mistakes raise where they
are made and shapes cost no round trip); the server applies it to every node it receives. The engine adds,
per op, the kernels and derivative rules (`gradwire.engine.registry.defop`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .dtypes import DTYPES

# Attribute kinds as the wire and the catalogue name them.
ATTR_KINDS = ("int", "float", "bool", "string", "ints", "floats", "tensor", "axes", "optfloat", "optints",
              "optint")
REQUIRED = object()
# What a shape rule raises for a bad call, with PyTorch's type: IndexError for a dim or index out of range,
# RuntimeError for mismatched shapes or dtypes, ValueError/TypeError for bad argument values.
RULE_ERRORS = (ValueError, TypeError, IndexError, RuntimeError)


class UnknownOp(LookupError):
    """No signature has this name."""


class SignatureError(ValueError):
    """The call does not fit the signature: input count, attribute names, kinds, or required attributes."""


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
    """Abstract value: what is known of a tensor before any kernel runs."""

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
class Signature:
    """One op's signature. shape(avals, attrs) -> Aval normalizes attrs in place (axes made positive …) and
    raises one of RULE_ERRORS with PyTorch's wording on a bad call."""

    name: str
    min_inputs: int
    max_inputs: int          # -1: variadic
    shape: Callable[..., Aval] | None
    attrs: dict[str, Attr] = field(default_factory=dict)
    dtypes: Sequence[str] = DTYPES
    elementwise: bool = False
    shape_only: bool = False   # the value depends on the input's shape and dtype only
    dtype_error: str | None = None   # PyTorch's message when an input's dtype is refused
    doc: str = ""


SIGNATURES: dict[str, Signature] = {}


def defsig(name: str, *, inputs: int | tuple[int, int], **fields) -> Signature:
    lo, hi = (inputs, inputs) if isinstance(inputs, int) else inputs
    if name in SIGNATURES:
        raise ValueError(f"op {name} declared twice")
    sig = SIGNATURES[name] = Signature(name=name, min_inputs=lo, max_inputs=hi, **fields)
    return sig


def _attr(name: str, kind: str, v):
    def bad(expect: str):
        return SignatureError(f"attribute '{name}' must be {expect}, got {v!r}")

    if kind in ("int", "optint"):
        if v is None and kind == "optint":
            return None
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise bad("an int")
        return int(v)
    if kind in ("float", "optfloat"):
        if v is None and kind == "optfloat":
            return None
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise bad("a number")
        return float(v)
    if kind == "bool":
        if not isinstance(v, (bool, np.bool_)):
            raise bad("a bool")
        return bool(v)
    if kind == "string":
        if not isinstance(v, str):
            raise bad("a string")
        return v
    if kind in ("ints", "optints", "axes"):
        if v is None and kind != "ints":
            return None
        if kind == "axes" and isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
            return (int(v),)
        if not isinstance(v, (tuple, list)) or not all(
                isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)) for x in v):
            raise bad("a list of ints")
        return tuple(int(x) for x in v)
    if kind == "floats":
        if not isinstance(v, (tuple, list)):
            raise bad("a list of numbers")
        return tuple(float(x) for x in v)
    if kind == "tensor":
        if not isinstance(v, np.ndarray) or v.dtype.name not in DTYPES:
            raise bad("a tensor of " + "/".join(DTYPES))
        return v
    raise AssertionError(kind)


def arity(sig: Signature) -> str:
    lo, hi = sig.min_inputs, sig.max_inputs
    return f"{lo}" if lo == hi else f"at least {lo}" if hi < 0 else f"{lo} to {hi}"


def normalize(sig: Signature, n_inputs: int, attrs: dict) -> dict:
    """Check the input count and attributes against the signature; returns attrs with defaults filled in."""
    if n_inputs < sig.min_inputs or (sig.max_inputs >= 0 and n_inputs > sig.max_inputs):
        raise SignatureError(f"takes {arity(sig)} inputs, got {n_inputs}")
    for k in attrs:
        if k not in sig.attrs:
            raise SignatureError(f"unknown attribute '{k}' (takes: {', '.join(sig.attrs) or 'none'})")
    out = {}
    for k, spec in sig.attrs.items():
        if k in attrs:
            out[k] = _attr(k, spec.kind, attrs[k])
        elif spec.required:
            raise SignatureError(f"missing required attribute '{k}'")
        else:
            out[k] = spec.default
    return out


def check_dtypes(sig: Signature, in_avals: Sequence[Aval]) -> None:
    for j, a in enumerate(in_avals):
        if a.dtype not in sig.dtypes:
            raise RuntimeError(sig.dtype_error or
                               f"input {j} has dtype {a.dtype}; {sig.name} takes {', '.join(sig.dtypes)}")


def infer(name: str, in_avals: Sequence[Aval], attrs: dict) -> tuple[dict, Aval]:
    """The result of op `name` on inputs with these avals: (normalized attrs, output aval)."""
    sig = SIGNATURES.get(name)
    if sig is None:
        raise UnknownOp(f"unknown op '{name}'")
    attrs = normalize(sig, len(in_avals), attrs)
    check_dtypes(sig, in_avals)
    return attrs, sig.shape(list(in_avals), attrs)
