"""Signatures of the ops that reinterpret an element type: bitcast (PyTorch's `Tensor.view(dtype)`)."""
from __future__ import annotations

from .dtypes import DTYPES, ITEMSIZE, LEGACY_NAMES
from .signature import Attr, Aval, defsig


def bitcast_shape(shape: tuple, src: str, dst: str) -> tuple:
    """The shape of `x.view(dst)` for a C-contiguous x of dtype src: the last dim scales by the size ratio,
    refused with PyTorch's messages where it cannot (0-d, a last dim the ratio does not divide)."""
    a, b = ITEMSIZE[src], ITEMSIZE[dst]
    if a == b:
        return tuple(shape)
    what = f"to view {LEGACY_NAMES[src]} as {LEGACY_NAMES[dst]} (different element sizes)"
    if not shape:
        raise RuntimeError(f"self.dim() cannot be 0 {what}")
    last = shape[-1]
    if b > a and last * a % b:
        raise RuntimeError(f"self.size(-1) must be divisible by {b // a} {what}, but got {last}")
    return (*shape[:-1], last * a // b)


def _bitcast_rule(avals, attrs):
    (x,) = avals
    if isinstance(attrs["dtype"], str) and attrs["dtype"] in (d.upper() for d in DTYPES):
        attrs["dtype"] = attrs["dtype"].lower()
    if attrs["dtype"] not in DTYPES:
        raise ValueError(f"unknown dtype '{attrs['dtype']}' (known: {', '.join(DTYPES)})")
    return Aval(bitcast_shape(x.shape, x.dtype, attrs["dtype"]), attrs["dtype"])


defsig("bitcast", inputs=1, attrs={"dtype": Attr("string", doc="target dtype name: " + ", ".join(DTYPES))},
       shape=_bitcast_rule, doc="the same bytes read as another dtype (C order; the last dim scales by the "
       "ratio of element sizes); no gradient, as torch's Tensor.view(dtype)")
