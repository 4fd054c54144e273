"""Kernels and derivatives of the primitives behind gradwire.nn.functional (signatures in gradwire.core.nn)."""
from __future__ import annotations

import numpy as np

from .ops_elementwise import _promoted
from .registry import defop


def _bce(x, t):
    with np.errstate(divide="ignore"):
        return -(t * np.maximum(np.log(x), -100) + (1 - t) * np.maximum(np.log1p(-x), -100))


def _bce_vjp_x(g, out, x, t):
    # PyTorch's formula: finite where x is 0 or 1 (the logs are clamped there).
    return g * ((x - t) / (x * (1.0 - x)).maximum(x.b.scalar(1e-12, x)))


def _bce_vjp_t(g, out, x, t):
    # d/dt = log(1 - x) - log(x) = -logit(x), unclamped as in PyTorch.
    return g * ((1.0 - x).log() - x.log())


defop("binary_cross_entropy", impl=_promoted(_bce), vjp=(_bce_vjp_x, _bce_vjp_t), jvp="elementwise")
