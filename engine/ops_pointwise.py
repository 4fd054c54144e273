"""Kernels and derivatives of the elementwise math of issue 9 (signatures in gradwire.core.pointwise), one row
each; integer division by zero raises ZeroDivisionError (reported with the node), as PyTorch on CPU."""
from __future__ import annotations

import math

import numpy as np

from gradwire.core.dtypes import result_type, to_float

from . import special
from .ops_elementwise import _promoted, binary, unary
from .registry import defop

_LN2, _LN10 = math.log(2.0), math.log(10.0)
_SQRT_PI_OVER_2 = math.sqrt(math.pi) / 2.0


def _zero(g, out, *inputs, **attrs):
    """PyTorch's gradient of a step function (floor, round, sign …): zeros, not None."""
    return g.zeros_like()


# name           forward            VJP: g * d(out)/dx
unary("asin",    np.arcsin,         lambda g, out, x: g / (1.0 - x * x).sqrt())
unary("acos",    np.arccos,         lambda g, out, x: -(g / (1.0 - x * x).sqrt()))
unary("atan",    np.arctan,         lambda g, out, x: g / (1.0 + x * x))
unary("sinh",    np.sinh,           lambda g, out, x: g * x.cosh())
unary("cosh",    np.cosh,           lambda g, out, x: g * x.sinh())
unary("asinh",   np.arcsinh,        lambda g, out, x: g / (x * x + 1.0).sqrt())
unary("acosh",   np.arccosh,        lambda g, out, x: g / (x * x - 1.0).sqrt())
unary("atanh",   np.arctanh,        lambda g, out, x: g / (1.0 - x * x))
unary("exp2",    np.exp2,           lambda g, out, x: g * (out * _LN2))
unary("expm1",   np.expm1,          lambda g, out, x: g * (out + 1.0))
unary("log2",    np.log2,           lambda g, out, x: g / (x * _LN2))
unary("log10",   np.log10,          lambda g, out, x: g / (x * _LN10))
unary("log1p",   np.log1p,          lambda g, out, x: g / (x + 1.0))
unary("rsqrt",   lambda x: 1.0 / np.sqrt(x), lambda g, out, x: g * (out * out * out * -0.5))
unary("reciprocal", np.reciprocal,  lambda g, out, x: -(g * (out * out)))
unary("erf",     special.erf,       lambda g, out, x: g * ((-(x * x)).exp() * (2.0 / math.sqrt(math.pi))))
unary("erfc",    special.erfc,      lambda g, out, x: g * ((-(x * x)).exp() * (-2.0 / math.sqrt(math.pi))))
unary("erfinv",  special.erfinv,    lambda g, out, x: g * ((out * out).exp() * _SQRT_PI_OVER_2))


def _keep_ints(fn):
    """floor/ceil/trunc of an int tensor is the tensor itself (NumPy would give floats)."""
    return lambda x: fn(x) if x.dtype.kind == "f" else x.copy()


def _round(x, decimals):
    if x.dtype.kind != "f":
        return x.copy()
    if not decimals:
        return np.round(x)              # half to even, as nearbyint
    ten = np.asarray(10.0 ** abs(decimals), x.dtype)
    return np.round(x * ten) / ten if decimals > 0 else np.round(x / ten) * ten


for _name, _fn in (("floor", np.floor), ("ceil", np.ceil), ("trunc", np.trunc)):
    defop(_name, impl=_keep_ints(_fn), vjp=(_zero,), jvp="elementwise")
defop("round", impl=_round, vjp=(_zero,), jvp="elementwise")
defop("frac", impl=lambda x: x - np.trunc(x), vjp=(lambda g, out, x: g,), jvp="elementwise")


def _nan_to_num(x, nan, posinf, neginf):
    if x.dtype.kind != "f":
        return x.copy()
    return np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


defop("nan_to_num", impl=_nan_to_num, jvp="elementwise",
      vjp=(lambda g, out, x, **_: x.isfinite().where(g, g.zeros_like()),))


def _floats_only(fn, otherwise):
    return lambda x: fn(x) if x.dtype.kind == "f" else otherwise(x)


_false = lambda x: np.zeros(x.shape, np.bool_)  # noqa: E731
defop("isnan", impl=_floats_only(np.isnan, _false))
defop("isinf", impl=_floats_only(np.isinf, _false))
defop("isposinf", impl=_floats_only(np.isposinf, _false))
defop("isneginf", impl=_floats_only(np.isneginf, _false))
defop("isfinite", impl=_floats_only(np.isfinite, lambda x: np.ones(x.shape, np.bool_)))
defop("signbit", impl=_floats_only(np.signbit, lambda x: x < 0 if x.dtype.kind == "i" else _false(x)))


# -- two inputs ----------------------------------------------------------------------------------
def _in_promoted_float(fn):
    """atan2(int, int) is float32: the promoted type, made float."""
    def impl(x, y):
        dt = np.dtype(to_float(result_type((x.dtype.name, x.ndim), (y.dtype.name, y.ndim))))
        return fn(x.astype(dt, copy=False), y.astype(dt, copy=False))
    return impl


def _xlogy(x, y):
    with np.errstate(all="ignore"):
        r = np.where(x == 0, np.zeros((), x.dtype), x * np.log(y))
    return np.where(np.isnan(y), y, r).astype(x.dtype, copy=False)


def _nonzero_divisor(fn):
    """Integer division by zero raises, as PyTorch's CPU kernels (float division gives inf/NaN)."""
    def impl(x, y, **attrs):
        if x.dtype.kind != "f" and not np.all(y):
            raise ZeroDivisionError("ZeroDivisionError")
        return fn(x, y, **attrs)
    return impl


def _remainder(x, y):
    if x.dtype.kind != "f":
        return np.remainder(x, y)
    m = np.fmod(x, y)           # PyTorch's formula (NumPy's gives +0.0 where this keeps fmod's -0.0)
    return np.where((m != 0) & ((y < 0) != (m < 0)), m + y, m)


def _div_trunc(x, y):
    if x.dtype.kind == "f":
        return np.trunc(x / y)
    q = np.floor_divide(x, y)
    return np.where((np.remainder(x, y) != 0) & ((x < 0) != (y < 0)), q + 1, q).astype(q.dtype, copy=False)


def _div_floor(x, y):
    if x.dtype.kind != "f":
        return np.floor_divide(x, y)
    # PyTorch's div_floor_floating: the quotient of x - fmod(x, y), exact, then floor.
    m = np.fmod(x, y)
    d = (x - m) / y
    d = np.where((m != 0) & ((y < 0) != (m < 0)), d - 1, d)
    f = np.floor(d)
    f = np.where(d - f > 0.5, f + 1, f)
    f = np.where(d == 0, np.copysign(np.zeros((), x.dtype), x / y), f)
    return np.where(y == 0, x / y, f).astype(x.dtype, copy=False)


def _div_rounded(x, y, mode):
    return (_div_trunc if mode == "trunc" else _div_floor)(x, y)


def _heaviside(x, v):
    return np.where(x == 0, v, (x > 0).astype(x.dtype))


def _isclose(x, y, rtol, atol, equal_nan):
    close = x == y
    if equal_nan:
        close = close | (np.isnan(x) & np.isnan(y))
    if x.dtype == np.bool_:
        x, y = x.astype(np.float32), y.astype(np.float32)
    dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    allowed = np.asarray(atol, dt) + np.abs(np.asarray(rtol, dt) * y.astype(dt))
    actual = np.abs(x - y)
    return close | (np.isfinite(actual) & (actual <= allowed))


def _shift(left: bool):
    def impl(x, y):
        bits = x.dtype.itemsize * 8
        out_of_range = (y < 0) | (y >= bits)
        safe = np.where(out_of_range, 0, y).astype(x.dtype, copy=False)
        if left:
            shifted = np.left_shift(x, safe)
            return np.where(out_of_range, np.zeros((), x.dtype), shifted)
        return np.where(out_of_range, np.right_shift(x, np.asarray(bits - 1, x.dtype)), np.right_shift(x, safe))
    return impl


def _logaddexp(exp, log1p_exp):
    """PyTorch's formula: max + log1p(exp(-|x - y|)) (NumPy's gives x + 1 for logaddexp2(x, x), PyTorch
    rounds), the infinity itself where both are the same infinity."""
    def impl(x, y):
        with np.errstate(invalid="ignore"):
            m = np.where(x < y, y, x)          # std::max: NaN from x kept, from y lost (then NaN anyway)
            r = m + log1p_exp(exp(-np.abs(x - y)))
            return np.where(np.isinf(x) & (x == y), x, r).astype(r.dtype, copy=False)
    return impl


_LOG2E = 1.0 / _LN2


def _float_binary(name, fn, vjps):
    defop(name, impl=_in_promoted_float(fn), vjp=vjps, jvp="elementwise",
          ufunc=fn if isinstance(fn, np.ufunc) else None)


def _where_to(mask_rule):
    """The gradient where mask_rule(x, y) holds, zero elsewhere."""
    return lambda g, out, x, y: mask_rule(x, y).where(g, g.zeros_like())


# name                 forward (promoted float)  VJP for x; VJP for y
_float_binary("atan2", np.arctan2,
              (lambda g, out, x, y: g * (y / (x * x + y * y)), lambda g, out, x, y: g * (-x / (x * x + y * y))))
_float_binary("copysign", np.copysign,
              (lambda g, out, x, y: x.eq(0.0).where(g.zeros_like(), g * (out / x)), _zero))
_float_binary("xlogy", _xlogy,
              (lambda g, out, x, y: x.eq(0.0).where(g.zeros_like(), g * y.log()), lambda g, out, x, y: g * (x / y)))

# name            forward (promoted type)     VJP for x; VJP for y
binary("logaddexp", _logaddexp(np.exp, np.log1p),
       (lambda g, out, x, y: g / ((y - x).exp() + 1.0), lambda g, out, x, y: g / ((x - y).exp() + 1.0)))
binary("logaddexp2", _logaddexp(np.exp2, lambda e: np.log1p(e) * np.asarray(_LOG2E, e.dtype)),
       (lambda g, out, x, y: g / ((y - x).exp2() + 1.0), lambda g, out, x, y: g / ((x - y).exp2() + 1.0)))
binary("fmod", _nonzero_divisor(np.fmod),
       (lambda g, out, x, y: g, lambda g, out, x, y: -(g * x.div_rounded(y, mode="trunc"))))
binary("remainder", _nonzero_divisor(_remainder),
       (lambda g, out, x, y: g, lambda g, out, x, y: -(g * x.div_rounded(y, mode="floor"))))
# fmax/fmin: ties and a NaN in y give x the gradient (PyTorch's masks).
binary("fmax", np.fmax, (_where_to(lambda x, y: (x >= y).logical_or(y.isnan())),
                         _where_to(lambda x, y: (x >= y).logical_or(y.isnan()).logical_not())))
binary("fmin", np.fmin, (_where_to(lambda x, y: (x <= y).logical_or(y.isnan())),
                         _where_to(lambda x, y: (x <= y).logical_or(y.isnan()).logical_not())))
binary("clamp_min", np.maximum, (_where_to(lambda x, m: x >= m), _where_to(lambda x, m: x < m)))
binary("clamp_max", np.minimum, (_where_to(lambda x, m: x <= m), _where_to(lambda x, m: x > m)))
defop("div_rounded", impl=_promoted(_nonzero_divisor(_div_rounded), attrs=True), vjp=(_zero, _zero),
      jvp="elementwise")
# PyTorch's clamp_backward_min_max: lo gets the gradient only where it is below hi.
defop("clamp_tensors", impl=_promoted(lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi)), jvp="elementwise",
      vjp=(lambda g, out, x, lo, hi: (x >= lo).logical_and(x <= hi).where(g, g.zeros_like()),
           lambda g, out, x, lo, hi: (x < lo).logical_and(lo < hi).where(g, g.zeros_like()),
           lambda g, out, x, lo, hi: (x > hi).logical_or(hi < lo).where(g, g.zeros_like())))

# No gradient: bools, bits, steps PyTorch does not differentiate.
binary("logical_xor", np.logical_xor, None)
binary("heaviside", _heaviside, None)
binary("bitwise_and", np.bitwise_and, None)
binary("bitwise_or", np.bitwise_or, None)
binary("bitwise_xor", np.bitwise_xor, None)
binary("bitwise_left_shift", _shift(True), None)
binary("bitwise_right_shift", _shift(False), None)
unary("bitwise_not", np.invert, None)
binary("gcd", np.gcd, None)
binary("lcm", np.lcm, None)
# float16 stays float16: the next representable value is the format's own (not float32's, rounded back).
defop("nextafter", impl=_promoted(np.nextafter), vjp=None, ufunc=np.nextafter, opmath=False)
defop("isclose", impl=lambda x, y, rtol, atol, equal_nan: _isclose(*np.broadcast_arrays(x, y), rtol, atol, equal_nan))
