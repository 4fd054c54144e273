"""Elementwise ops: one row each, derivative a few lines under the forward formula."""
from __future__ import annotations

import numpy as np

from . import shapes
from .dtypes import FLOATS, is_float, promote, to_float
from .registry import Attr, Aval, defop

NUMERIC = ("float32", "float64", "int32", "int64", "bool")


def _unary_shape(float_out: bool):
    def rule(avals, attrs):
        (x,) = avals
        return Aval(x.shape, to_float(x.dtype) if float_out else x.dtype)
    return rule


def _in_float(fn):
    """torch.exp(int or bool tensor) computes in float32; NumPy would pick float64 for ints and
    float16 (exp(True) = 2.719) for bools."""
    def impl(x):
        return fn(x if x.dtype.kind == "f" else x.astype(np.float32))
    return impl


def _binary_shape(kind: str, bools: str | None = None):
    def rule(avals, attrs):
        x, y = avals
        if bools and x.dtype == y.dtype == "bool":
            raise ValueError(bools)
        shape = shapes.broadcast(x.shape, y.shape)
        if kind == "bool":
            return Aval(shape, "bool")
        dt = promote(x.dtype, y.dtype)
        return Aval(shape, to_float(dt) if kind == "float" else dt)
    return rule


def _same_dtype(fn):
    """NumPy would widen float32 with int64 to float64; PyTorch computes in the promoted type."""
    def impl(x, y):
        if x.dtype != y.dtype:
            dt = np.dtype(promote(x.dtype.name, y.dtype.name))
            x, y = x.astype(dt, copy=False), y.astype(dt, copy=False)
        return fn(x, y)
    return impl


def _ufunc(impl, ufunc):
    return ufunc if ufunc is not None else impl if isinstance(impl, np.ufunc) else None


def unary(name, impl, vjp, *, float_out=True, dtypes=NUMERIC, ufunc=None, doc=""):
    defop(name, inputs=1, shape=_unary_shape(float_out), impl=_in_float(impl) if float_out else impl,
          vjp=(vjp,) if vjp else None, jvp="elementwise" if vjp else None,
          dtypes=dtypes, elementwise=True, ufunc=_ufunc(impl, ufunc), doc=doc)


def binary(name, impl, vjps, *, kind="promote", dtypes=NUMERIC, bools=None, doc=""):
    """bools: the message refusing two bool inputs (PyTorch refuses `-` on bools), or None."""
    defop(name, inputs=2, shape=_binary_shape(kind, bools), impl=_same_dtype(impl),
          vjp=vjps, jvp="elementwise" if vjps else None, dtypes=dtypes, elementwise=True,
          ufunc=_ufunc(impl, None), doc=doc)


def _sigmoid(x):
    # exp(-x) overflows to inf for very negative x, giving 1/inf = 0: the right limit.
    return 1.0 / (1.0 + np.exp(-x))


# name      forward                  VJP: g * d(out)/dx
unary("neg", np.negative,            lambda g, out, x: -g, float_out=False, dtypes=NUMERIC[:4],
      doc="-x; PyTorch refuses it on bool (use logical_not)")
unary("exp", np.exp,                 lambda g, out, x: g * out)
unary("log", np.log,                 lambda g, out, x: g / x)
unary("sin", np.sin,                 lambda g, out, x: g * x.cos())
unary("cos", np.cos,                 lambda g, out, x: -(g * x.sin()))
unary("tan", np.tan,                 lambda g, out, x: g * (1.0 + out * out))
unary("tanh", np.tanh,               lambda g, out, x: g * (1.0 - out * out))
unary("sigmoid", _sigmoid,           lambda g, out, x: g * (out * (1.0 - out)))
unary("sqrt", np.sqrt,               lambda g, out, x: g / (2.0 * out))
unary("abs", np.abs,                 lambda g, out, x: g * x.sign(), float_out=False)
unary("square", np.square,           lambda g, out, x: g * (2.0 * x), float_out=False)
unary("relu", lambda x: np.maximum(x, np.zeros((), x.dtype)),
      lambda g, out, x: (x > 0.0).where(g, g.zeros_like()), float_out=False,
      doc="max(x, 0); the gradient at 0 is 0, as in PyTorch")
unary("sign", lambda x: x.copy() if x.dtype == np.bool_ else np.sign(x), None, float_out=False, ufunc=np.sign,
      doc="no gradient (zero almost everywhere); the identity on bool, as in PyTorch")
unary("stop_gradient", lambda x: x, None, float_out=False,
      doc="identity whose gradient is blocked (PyTorch's detach)")
unary("logical_not", np.logical_not, None, float_out=False, dtypes=("bool",))


def _pow_vjp_x(g, out, x, y):
    return g * (y * x.pow(y - 1.0))


def _pow_vjp_y(g, out, x, y):
    # d/dy x**y = x**y log x; PyTorch defines it as 0 where x == 0 (and y >= 0).
    safe = x.eq(0.0).where(x.ones_like(), x)
    return g * x.eq(0.0).where(out.zeros_like(), out * safe.log())


def _max_vjp(first: bool):
    def rule(g, out, x, y):
        win, tie = (x > y, x.eq(y)) if first else (y > x, x.eq(y))
        return win.where(g, tie.where(g * 0.5, g.zeros_like()))
    return rule


def _min_vjp(first: bool):
    def rule(g, out, x, y):
        win, tie = (x < y, x.eq(y)) if first else (y < x, x.eq(y))
        return win.where(g, tie.where(g * 0.5, g.zeros_like()))
    return rule


binary("add", np.add, (lambda g, out, x, y: g, lambda g, out, x, y: g))
binary("sub", np.subtract, (lambda g, out, x, y: g, lambda g, out, x, y: -g),
       bools="Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
             "`logical_xor()` operator instead.")
binary("mul", np.multiply, (lambda g, out, x, y: g * y, lambda g, out, x, y: g * x))
binary("div", np.true_divide, (lambda g, out, x, y: g / y, lambda g, out, x, y: -(g * out) / y), kind="float")
binary("pow", np.power, (_pow_vjp_x, _pow_vjp_y),
       doc="x ** y; the y-gradient is 0 where x == 0, as in PyTorch")
binary("maximum", np.maximum, (_max_vjp(True), _max_vjp(False)),
       doc="ties split the gradient evenly, as in PyTorch")
binary("minimum", np.minimum, (_min_vjp(True), _min_vjp(False)),
       doc="ties split the gradient evenly, as in PyTorch")
for _name, _fn in (("eq", np.equal), ("ne", np.not_equal), ("lt", np.less), ("le", np.less_equal),
                   ("gt", np.greater), ("ge", np.greater_equal)):
    binary(_name, _fn, None, kind="bool", doc="comparison: bool result, no gradient")
binary("logical_and", np.logical_and, None, kind="bool", dtypes=("bool",))
binary("logical_or", np.logical_or, None, kind="bool", dtypes=("bool",))


def _pow_scalar_vjp(g, out, x, exponent):
    if exponent == 0.0:
        return g.zeros_like()
    if exponent == 1.0:
        return g
    if exponent == 2.0:
        return g * (2.0 * x)
    return g * (exponent * x.pow_scalar(exponent=exponent - 1.0))


def _pow_scalar_impl(x, exponent):
    if exponent == 2.0:
        return np.square(x)
    e = np.asarray(exponent, dtype=x.dtype if x.dtype.kind == "f" else np.float64)
    return np.power(x, e)


def _pow_scalar_shape(avals, attrs):
    (x,) = avals
    e = attrs["exponent"]
    return Aval(x.shape, x.dtype if is_float(x.dtype) or (e == int(e) and e >= 0) else to_float(x.dtype))


defop("pow_scalar", inputs=1, attrs={"exponent": Attr("float", doc="the exponent")},
      shape=_pow_scalar_shape, impl=_pow_scalar_impl, vjp=(_pow_scalar_vjp,), jvp="elementwise",
      elementwise=True, doc="x ** exponent for a scalar exponent")


def _clamp_impl(x, min, max):
    if min is not None:
        x = np.maximum(x, np.asarray(min, x.dtype))
    if max is not None:
        x = np.minimum(x, np.asarray(max, x.dtype))
    return x


def _clamp_vjp(g, out, x, min, max):
    # PyTorch passes the gradient where min <= x <= max (bounds inclusive).
    inside = None
    if min is not None:
        inside = x >= min
    if max is not None:
        upper = x <= max
        inside = upper if inside is None else inside.logical_and(upper)
    return g if inside is None else inside.where(g, g.zeros_like())


def _clamp_shape(avals, attrs):
    (x,) = avals
    return Aval(x.shape, x.dtype)


defop("clamp", inputs=1, attrs={"min": Attr("optfloat", None), "max": Attr("optfloat", None)},
      shape=_clamp_shape, impl=_clamp_impl, vjp=(_clamp_vjp,), jvp="elementwise", elementwise=True,
      doc="limit values to [min, max]; either bound may be omitted")


def _where_shape(avals, attrs):
    c, x, y = avals
    if c.dtype != "bool":
        raise ValueError(f"condition must be bool, got {c.dtype}")
    return Aval(shapes.broadcast(c.shape, x.shape, y.shape), promote(x.dtype, y.dtype))


def _where_impl(c, x, y):
    if x.dtype != y.dtype:
        dt = np.dtype(promote(x.dtype.name, y.dtype.name))
        x, y = x.astype(dt, copy=False), y.astype(dt, copy=False)
    return np.where(c, x, y)


defop("where", inputs=3, shape=_where_shape, impl=_where_impl,
      vjp=(None, lambda g, out, c, x, y: c.where(g, g.zeros_like()),
           lambda g, out, c, x, y: c.where(g.zeros_like(), g)),
      jvp="elementwise", elementwise=True, doc="pick x where cond, else y")


def _cast_shape(avals, attrs):
    from .dtypes import DTYPES
    if attrs["dtype"] not in DTYPES:
        raise ValueError(f"unknown dtype '{attrs['dtype']}' (known: {', '.join(DTYPES)})")
    return Aval(avals[0].shape, attrs["dtype"])


def _cast_vjp(g, out, x, dtype):
    return g.cast(dtype=x.dtype) if x.dtype in FLOATS else None


defop("cast", inputs=1, attrs={"dtype": Attr("string", doc="target dtype name")}, shape=_cast_shape,
      impl=lambda x, dtype: x.astype(dtype), vjp=(_cast_vjp,), jvp="elementwise", elementwise=True,
      doc="convert to another dtype; gradients flow between float types only")


def _like_shape(avals, attrs):
    return Aval(avals[0].shape, avals[0].dtype)


defop("zeros_like", inputs=1, shape=_like_shape, impl=np.zeros_like, vjp=None, shape_only=True,
      doc="zeros of x's shape and dtype")
defop("ones_like", inputs=1, shape=_like_shape, impl=np.ones_like, vjp=None, shape_only=True,
      doc="ones of x's shape and dtype")
