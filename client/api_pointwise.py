"""Declarations of PyTorch's elementwise math (torch.f, Tensor.f, Tensor.f_): inverse trigonometric and
hyperbolic functions, exponentials and logarithms, error functions, rounding, tests of values, remainders,
closeness (isclose, allclose, equal)."""
from __future__ import annotations

import math

import numpy as np

from gradwire import dtypes
from gradwire.declare import autograd, binary, declare, unary
from gradwire.ops import apply, cast
from gradwire.tensor import Tensor

# name            grad_fn                     saves                      aliases
unary("asin",       grad_fn="AsinBackward0",                             aliases=("arcsin",))
unary("acos",       grad_fn="AcosBackward0",                             aliases=("arccos",))
unary("atan",       grad_fn="AtanBackward0",                             aliases=("arctan",))
unary("sinh",       grad_fn="SinhBackward0")
unary("cosh",       grad_fn="CoshBackward0")
unary("asinh",      grad_fn="AsinhBackward0",                            aliases=("arcsinh",))
unary("acosh",      grad_fn="AcoshBackward0",                            aliases=("arccosh",))
unary("atanh",      grad_fn="AtanhBackward0",                            aliases=("arctanh",))
unary("exp2",       grad_fn="Exp2Backward0",      saves=None, saves_output=True)
unary("expm1",      grad_fn="Expm1Backward0",     saves=None, saves_output=True)
unary("log2",       grad_fn="Log2Backward0")
unary("log10",      grad_fn="Log10Backward0")
unary("log1p",      grad_fn="Log1PBackward0")
unary("rsqrt",      grad_fn="RsqrtBackward0",     saves=None, saves_output=True)
unary("reciprocal", grad_fn="ReciprocalBackward0", saves=None, saves_output=True)
unary("erf",        grad_fn="ErfBackward0")
unary("erfc",       grad_fn="ErfcBackward0")
unary("erfinv",     grad_fn="ErfinvBackward0")
unary("floor",      grad_fn="FloorBackward0",     saves=None, doc="Largest integer <= x (ints unchanged); gradient zero.")
unary("ceil",       grad_fn="CeilBackward0",      saves=None, doc="Smallest integer >= x (ints unchanged); gradient zero.")
unary("trunc",      grad_fn="TruncBackward0",     saves=None, aliases=("fix",),
      doc="x rounded toward zero (ints unchanged); gradient zero.")
unary("frac",       grad_fn="FracBackward0",      saves=None, doc="x - trunc(x) (float tensors only).")

# Tests of values: bool results, no grad_fn, no in-place form.
for _name in ("isnan", "isinf", "isposinf", "isneginf", "isfinite", "signbit"):
    unary(_name, saves=None, history=False, inplace=False, doc=f"Elementwise {_name} (a bool result), as "
          f"torch.{_name}.")

autograd("round", "RoundBackward0")


class _Default(int):
    """0, told apart from a 0 the caller passes: PyTorch's round(x) and round(x, decimals=0) are different
    overloads (the second refuses ints and names its grad_fn RoundBackward1)."""


_NO_DECIMALS = _Default(0)


@declare(inplace=True)
def round(input, *, decimals=_NO_DECIMALS):
    """Rounded half to even, at `decimals` digits (PyTorch's nearbyint(x * 10**d) / 10**d); gradient zero."""
    given = decimals is not _NO_DECIMALS
    return apply("round", input, attrs={"decimals": int(decimals) if given else None},
                 label="RoundBackward1" if given else None)


autograd("nan_to_num", "NanToNumBackward0", saves="all")


@declare(inplace=True)
def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN -> nan, +inf -> posinf, -inf -> neginf (default: the dtype's largest and lowest finite values)."""
    return apply("nan_to_num", input, attrs={"nan": 0.0 if nan is None else float(nan),
                                             "posinf": None if posinf is None else float(posinf),
                                             "neginf": None if neginf is None else float(neginf)})


# Two inputs. `other` typed Tensor only where PyTorch's signature has no Scalar overload.
binary("atan2",      grad_fn="Atan2Backward0",     tensor_other=True, aliases=("arctan2",))
binary("logaddexp",  grad_fn="LogaddexpBackward0", tensor_other=True, inplace=False)
binary("logaddexp2", grad_fn="Logaddexp2Backward0", tensor_other=True, inplace=False)
binary("fmax",       grad_fn="FmaxBackward0",      tensor_other=True, inplace=False)
binary("fmin",       grad_fn="FminBackward0",      tensor_other=True, inplace=False)
autograd("heaviside", history=False)
for _name in ("gcd", "lcm", "nextafter"):
    binary(_name, saves=None, history=False, tensor_other=True)


@declare(inplace=True, tensors=("input", "values"))
def heaviside(input, values):
    """0 where input < 0, values where input == 0, 1 where input > 0 (same dtypes; no gradient)."""
    return apply("heaviside", input, values)


def _numbered(op: str, grad_fn: str, labels: str = "100"):
    """PyTorch's overloads of op and their grad_fn numbers: labels gives the digit of Tensor-Tensor,
    Tensor-Scalar and Scalar-Tensor calls (fmod: FmodBackward1 for two tensors, FmodBackward0 for a number)."""
    def fn(input, other):
        k = 1 if not isinstance(other, Tensor) else 2 if not isinstance(input, Tensor) else 0
        return apply(op, input, other, label=grad_fn + labels[k])
    fn.__name__ = op
    return fn


autograd("fmod", saves="all")
autograd("remainder", saves="all")
autograd("copysign", saves="all", saves_output=True)
autograd("xlogy", saves="all")


@declare(inplace=True)
def fmod(input, other):
    """C's remainder: input - trunc(input / other) * other (the sign of input); int division by zero raises."""
    return _numbered("fmod", "FmodBackward")(input, other)


@declare(inplace=True, tensors=())
def remainder(input, other):
    """Python's remainder: input - floor(input / other) * other (the sign of other); int division by zero raises."""
    return _numbered("remainder", "RemainderBackward")(input, other)


@declare(inplace=True)
def copysign(input, other):
    """|input| with the sign (bit) of other: -0.0 counts as negative."""
    return _numbered("copysign", "CopysignBackward", "01")(input, other)


@declare(inplace=True, tensors=())
def xlogy(input, other):
    """input * log(other), 0 where input == 0 (unless other is NaN)."""
    return _numbered("xlogy", "XlogyBackward", "021")(input, other)


autograd("isclose", history=False)


@declare(tensors=("input", "other"))
def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol * |other| elementwise (equal values, infinities included, are close)."""
    return apply("isclose", input, other, attrs={"rtol": float(rtol), "atol": float(atol),
                                                 "equal_nan": bool(equal_nan)})


@declare(tensors=("input", "other"))
def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether every element is close (a Python bool: the client reads the value, one request)."""
    return bool(np.all(isclose(input, other, rtol, atol, equal_nan)._value()))


@declare(tensors=("input", "other"))
def equal(input, other):
    """Whether the tensors have the same shape and values (a Python bool; NaN is not equal to itself)."""
    if tuple(input.shape) != tuple(other.shape):
        return False
    return bool(np.all(apply("eq", input, other)._value()))


# torch.special's spellings of the same functions.
def _special(name: str) -> None:
    from gradwire.declare import DECLARATIONS
    plain = DECLARATIONS[name]
    declare(name, method=False, namespace="special", tensors=tuple(p for _, p in plain.tensors),
            doc=f"As torch.{name}.")(plain.impl)


for _name in ("erf", "erfc", "erfinv", "expm1", "exp2", "log1p", "round", "xlogy"):
    _special(_name)


# Compositions of table ops, named as PyTorch names them (the grad_fn label goes on the result node).
def _in_float(x: Tensor) -> Tensor:
    return x if x._node.dtype in ("float32", "float64") else cast(x, dtypes.DEFAULT_FLOAT)


@declare(inplace=True)
def deg2rad(input):
    """input * (pi / 180), a float result."""
    return apply("mul", _in_float(input), math.pi / 180.0, label="Deg2RadBackward0")


@declare(inplace=True)
def rad2deg(input):
    """input * (180 / pi), a float result."""
    return apply("mul", _in_float(input), 180.0 / math.pi, label="Rad2DegBackward0")


@declare(inplace=True)
def sgn(input):
    """The sign (for real tensors, torch.sign); gradient zero."""
    return apply("sign", input, label="SgnBackward0")


@declare()
def positive(input):
    """The input itself (PyTorch refuses bool)."""
    if input._node.dtype == "bool":
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


@declare(inplace=True)
def sinc(input):
    """sin(pi x) / (pi x), 1 at 0 (its gradient 0 there), as PyTorch computes it."""
    x = _in_float(input)
    zero = apply("eq", x, 0.0)
    px = apply("where", zero, 1.0, apply("mul", x, math.pi), ref_args=(x,))
    return apply("where", zero, 1.0, apply("div", apply("sin", px), px), ref_args=(x,), label="SincBackward0")


@declare(inplace=True)
def logit(input, eps=None):
    """log(z / (1 - z)) with z = input clamped to [eps, 1 - eps] when eps is given."""
    z = _in_float(input)
    if eps is not None:
        z = apply("clamp", z, attrs={"min": float(eps), "max": 1.0 - float(eps)})
    return apply("log", apply("div", z, apply("sub", 1.0, z)), label="LogitBackward0")


for _name in ("sinc", "logit"):
    _special(_name)
declare("expit", method=False, namespace="special", doc="As torch.sigmoid.")(
    lambda input: apply("sigmoid", input))
