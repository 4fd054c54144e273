"""erf, erfc and erfinv, which NumPy lacks (and SciPy is not a dependency): Numba loops over float64 behind
wrappers that keep the input's float dtype (float32 results are the float64 values rounded once)."""
from __future__ import annotations

import math

import numpy as np

from .jit import kernel

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


@kernel
def _erf(x, out):
    for i in range(x.size):
        out[i] = math.erf(x[i])


@kernel
def _erfc(x, out):
    for i in range(x.size):
        out[i] = math.erfc(x[i])


@kernel
def _erfinv(y, out):
    # Giles' single-precision approximation ("Approximating the erfinv function", GPU Computing Gems, 2011) as
    # the start, then Newton steps on erf(x) = |y|, written as erfc(x) = 1 - |y| (exact for |y| >= 0.5) so the
    # step keeps its precision near |y| = 1. Each step squares the relative error (1e-7 -> 1e-14 -> rounding)
    # where the start is good; the start is rough (the fit covers float32's range) as |y| nears 1 in float64.
    for i in range(y.size):
        v = y[i]
        a = abs(v)
        if not a <= 1.0:            # NaN, |y| > 1
            out[i] = math.nan
            continue
        if a == 1.0:
            out[i] = math.copysign(math.inf, v)
            continue
        w = -math.log((1.0 - a) * (1.0 + a))
        if w < 5.0:
            w -= 2.5
            p = 2.81022636e-08
            p = 3.43273939e-07 + p * w
            p = -3.5233877e-06 + p * w
            p = -4.39150654e-06 + p * w
            p = 0.00021858087 + p * w
            p = -0.00125372503 + p * w
            p = -0.00417768164 + p * w
            p = 0.246640727 + p * w
            p = 1.50140941 + p * w
        else:
            w = math.sqrt(w) - 3.0
            p = -0.000200214257
            p = 0.000100950558 + p * w
            p = 0.00134934322 + p * w
            p = -0.00367342844 + p * w
            p = 0.00573950773 + p * w
            p = -0.0076224613 + p * w
            p = 0.00943887047 + p * w
            p = 1.00167406 + p * w
            p = 2.83297682 + p * w
        x = p * a
        for _ in range(50):     # 2-3 steps, more where |y| is so near 1 that the start is rough
            if x == 0.0:
                break
            f = math.erf(x) - a if a < 0.5 else (1.0 - a) - math.erfc(x)
            step = f / (_TWO_OVER_SQRT_PI * math.exp(-x * x))
            x -= step
            if abs(step) <= 1e-16 * x:
                break
        out[i] = math.copysign(x, v)


def _over_float64(loop):
    def fn(x: np.ndarray) -> np.ndarray:
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
        flat = np.array(x, dtype=np.float64).reshape(-1)     # a writable copy: one compiled signature
        out = np.empty_like(flat)
        loop(flat, out)
        return out.reshape(x.shape).astype(dtype, copy=False)
    return fn


erf = _over_float64(_erf)
erfc = _over_float64(_erfc)
erfinv = _over_float64(_erfinv)


def warm_up() -> None:
    for fn in (erf, erfc, erfinv):
        fn(np.zeros(1))
