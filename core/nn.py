"""Signatures of the primitives behind gradwire.nn.functional that need their own derivative rules."""
from __future__ import annotations

from . import shapes
from .dtypes import is_float, result_type
from .elementwise import not_implemented, operands
from .signature import Aval, defsig


def _bce_shape(avals, attrs):
    x, t = avals
    dt = result_type(*operands(avals))
    if not is_float(dt):
        raise not_implemented("binary_cross_entropy", dt)
    return Aval(shapes.broadcast(x.shape, t.shape), dt)


defsig("binary_cross_entropy", inputs=2, shape=_bce_shape, elementwise=True,
       doc="-(t log x + (1 - t) log(1 - x)) per element, each log clamped at -100; the x-gradient divides by "
           "max(x (1 - x), 1e-12), as PyTorch's")
