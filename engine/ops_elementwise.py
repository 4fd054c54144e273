"""Elementwise ops' kernels and derivatives: one row each, the derivative a few lines under the forward formula
(signatures in gradwire.core.elementwise)."""
from __future__ import annotations

import numpy as np

from gradwire.core.dtypes import FLOATS, result_type
from gradwire.core.signature import SIGNATURES, Aval

from . import kernels
from .composite import defcomposite
from .registry import defop


def _in_float(fn):
    """torch.exp(int or bool tensor) computes in float32; NumPy would pick float64 for ints and
    float16 (exp(True) = 2.719) for bools."""
    def impl(x):
        return fn(x if x.dtype.kind == "f" else x.astype(np.float32))
    return impl


def _promoted(fn, attrs=False):
    """Compute in PyTorch's promoted type (NumPy would widen float32 with an int64 or float64 0-d input).
    attrs: fn takes the node's attributes too."""
    def impl(*xs, **kw):
        if len({x.dtype for x in xs}) > 1:
            dt = np.dtype(result_type(*((x.dtype.name, x.ndim) for x in xs)))
            xs = [x.astype(dt, copy=False) for x in xs]
        return fn(*xs, **kw)
    return impl


def _ufunc(impl, ufunc):
    return ufunc if ufunc is not None else impl if isinstance(impl, np.ufunc) else None


def _computes_in_float(name) -> bool:
    return SIGNATURES[name].shape([Aval((), "int32")], {}).dtype in FLOATS


def unary(name, impl, vjp, *, ufunc=None, into=None):
    defop(name, impl=_in_float(impl) if _computes_in_float(name) else impl,
          vjp=(vjp,) if vjp else None, jvp="elementwise" if vjp else None, ufunc=_ufunc(impl, ufunc), into=into)


def binary(name, impl, vjps):
    defop(name, impl=_promoted(impl), vjp=vjps, jvp="elementwise" if vjps else None, ufunc=_ufunc(impl, None))


def _sigmoid(x, out=None):
    # exp(-x) overflows to inf for very negative x, giving 1/inf = 0: the right limit. With `out` (a fused
    # group's block, same dtype): the same four operations in place, no temporaries.
    if out is None:
        return 1.0 / (1.0 + np.exp(-x))
    np.exp(np.negative(x, out=out), out=out)
    return np.divide(1.0, np.add(out, 1.0, out=out), out=out)


# name      forward                  VJP: g * d(out)/dx
unary("neg", np.negative,            lambda g, out, x: -g)
unary("exp", np.exp,                 lambda g, out, x: g * out)
unary("log", np.log,                 lambda g, out, x: g / x)
unary("sin", np.sin,                 lambda g, out, x: g * x.cos())
unary("cos", np.cos,                 lambda g, out, x: -(g * x.sin()))
unary("tan", np.tan,                 lambda g, out, x: g * (1.0 + out * out))
unary("tanh", np.tanh,               lambda g, out, x: g * (1.0 - out * out))
unary("sigmoid", _sigmoid,           lambda g, out, x: g * (out * (1.0 - out)), into=_sigmoid)
unary("sqrt", np.sqrt,               lambda g, out, x: g / (2.0 * out))
unary("abs", np.abs,                 lambda g, out, x: g * x.sign())
unary("square", np.square,           lambda g, out, x: g * (2.0 * x))
# relu's gradient masks by its output, as PyTorch's threshold_backward does (0 where out <= 0, so a NaN passes
# g): the input can die in the forward pass's fused group instead of being written out for the backward.
# The 0-d zero: where blends it in.
unary("relu", kernels.relu,          lambda g, out, x: (out <= 0.0).where(g.b.scalar(0.0, g), g), into=kernels.relu)
def _sign(x):
    # PyTorch's (0 < x) - (x < 0): sign(NaN) = 0 and sign(-0.0) = +0.0 (NumPy gives NaN and -0.0).
    if x.dtype == np.bool_:
        return x.copy()
    return (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)


unary("sign", _sign, lambda g, out, x: g.zeros_like())   # PyTorch's gradient of a step: zeros, not None
unary("stop_gradient", lambda x: x, None)
unary("logical_not", np.logical_not, None)


def _pow_vjp_x(g, out, x, y):
    # y * x**(y-1); PyTorch defines it as 0 where y == 0 (0 * 0**-1 would be nan at x == 0).
    d = y * x.pow(y - 1.0)
    return g * y.eq(0.0).where(d.zeros_like(), d)


def _pow_vjp_y(g, out, x, y):
    # d/dy x**y = x**y log x; PyTorch defines it as 0 where x == 0 and y >= 0 (0**-2 * log 0 stays -inf).
    zero = x.eq(0.0)
    safe = zero.where(x.ones_like(), x)
    d = zero.where(out * x.log(), out * safe.log())
    return g * zero.logical_and(y >= 0.0).where(out.zeros_like(), d)


def _extreme_vjp(first: bool, loses):
    """maximum/minimum: the gradient goes to the winner, split evenly on ties, and to both where either is
    NaN (PyTorch's where(x == y, g / 2, g) masked where x loses)."""
    def rule(g, out, x, y):
        lost = loses(x, y) if first else loses(y, x)
        return lost.where(g.zeros_like(), x.eq(y).where(g * 0.5, g))
    return rule


def _max_vjp(first: bool):
    return _extreme_vjp(first, lambda a, b: a < b)


def _min_vjp(first: bool):
    return _extreme_vjp(first, lambda a, b: a > b)


binary("add", np.add, (lambda g, out, x, y: g, lambda g, out, x, y: g))
binary("sub", np.subtract, (lambda g, out, x, y: g, lambda g, out, x, y: -g))
binary("mul", np.multiply, (lambda g, out, x, y: g * y, lambda g, out, x, y: g * x))
binary("div", np.true_divide, (lambda g, out, x, y: g / y, lambda g, out, x, y: -(g * out) / y))
binary("pow", np.power, (_pow_vjp_x, _pow_vjp_y))
binary("maximum", np.maximum, (_max_vjp(True), _max_vjp(False)))
binary("minimum", np.minimum, (_min_vjp(True), _min_vjp(False)))
for _name, _fn in (("eq", np.equal), ("ne", np.not_equal), ("lt", np.less), ("le", np.less_equal),
                   ("gt", np.greater), ("ge", np.greater_equal)):
    binary(_name, _fn, None)
binary("logical_and", np.logical_and, None)
binary("logical_or", np.logical_or, None)


def _pow_scalar_vjp(g, out, x, exponent):
    if exponent == 0.0:
        return g.zeros_like()
    if exponent == 1.0:
        return g
    if exponent == 2.0:
        return g * (2.0 * x)
    return g * (exponent * x.pow_scalar(exponent=exponent - 1.0))


def _pow_scalar_impl(x, exponent):
    if x.dtype == np.float16:     # PyTorch rounds the exponent to float16, then computes in float32
        e = np.float32(np.float16(exponent))
        return np.power(x.astype(np.float32), e).astype(np.float16)
    if exponent == 2.0:
        return np.square(x)
    e = np.asarray(exponent, dtype=x.dtype if x.dtype.kind == "f" else np.float64)
    return np.power(x, e)


defop("pow_scalar", impl=_pow_scalar_impl, vjp=(_pow_scalar_vjp,), jvp="elementwise", opmath=False)


def _bound(value, dtype):
    """A clamp bound in x's dtype; an integer bound wraps as PyTorch converts it (uint8: -1 is 255)."""
    if dtype.kind in "iu":
        return np.asarray(int(value), np.int64).astype(dtype)
    return np.asarray(value, dtype)


def _clamp_impl(x, min, max):
    # PyTorch's x < min ? min : x, then x > max ? max : x: x stays itself where it equals a bound (-0.0 against
    # a bound of 0; np.maximum would give +0.0), a NaN stays NaN, and a NaN bound makes every element NaN.
    for bound, beyond, extreme in ((min, np.less, np.maximum), (max, np.greater, np.minimum)):
        if bound is None:
            continue
        b = _bound(bound, x.dtype)
        if x.dtype.kind != "f":
            x = extreme(x, b)
        elif np.isnan(b):
            x = np.full(x.shape, b)
        else:
            x = np.where(beyond(x, b), b, x)
    return x


def _clamp_vjp(g, out, x, min, max):
    # PyTorch passes the gradient where min <= x <= max (bounds inclusive).
    inside = None
    if min is not None:
        inside = x >= min
    if max is not None:
        upper = x <= max
        inside = upper if inside is None else inside.logical_and(upper)
    return g if inside is None else inside.where(g, g.b.scalar(0.0, g))


defop("clamp", impl=_clamp_impl, vjp=(_clamp_vjp,), jvp="elementwise")


def _where_impl(c, x, y):
    if x.dtype != y.dtype:
        dt = np.dtype(result_type((x.dtype.name, x.ndim), (y.dtype.name, y.ndim)))
        x, y = x.astype(dt, copy=False), y.astype(dt, copy=False)
    return kernels.where(c, x, y)


defop("where", impl=_where_impl, into=kernels.where,
      vjp=(None, lambda g, out, c, x, y: c.where(g, g.zeros_like()),
           lambda g, out, c, x, y: c.where(g.zeros_like(), g)),
      jvp="elementwise")


def _cast_vjp(g, out, x, dtype):
    return g.cast(dtype=x.dtype) if x.dtype in FLOATS else None


defop("cast", impl=lambda x, dtype: x.astype(dtype), vjp=(_cast_vjp,), jvp="elementwise", opmath=False)
defop("with_value", impl=lambda history, value: value, vjp=(lambda g, out, history, value: g, None),
      jvp=lambda tangents, out, history, value: tangents[0])
defop("zeros_like", impl=np.zeros_like, vjp=None)
defop("ones_like", impl=np.ones_like, vjp=None)
defop("hypot", impl=_promoted(np.hypot), vjp=(lambda g, out, x, y: g * (x / out), lambda g, out, x, y: g * (y / out)),
      jvp="elementwise", ufunc=np.hypot)
# PyTorch's lerp: exact at weight 0 from start's side, at weight 1 from end's.
defcomposite("lerp", lambda start, end, weight: (weight < 0.5).where(start + weight * (end - start),
                                                                   end - (end - start) * (1.0 - weight)))
