"""Signatures of the elementwise math of issue 9: inverse trigonometric and hyperbolic functions, exponentials
and logarithms, error functions, rounding, tests of values (isnan …), remainders, integer bit operations."""
from __future__ import annotations

from . import shapes
from .dtypes import INTS, LEGACY_NAMES, is_float, result_type
from .elementwise import binary, not_implemented, operands, unary
from .signature import Attr, Aval, defsig

# Float results (float32 for int and bool inputs), as torch.asin(int tensor).
for _name, _doc in (("asin", "arcsine"), ("acos", "arccosine"), ("atan", "arctangent"),
                    ("sinh", "hyperbolic sine"), ("cosh", "hyperbolic cosine"),
                    ("asinh", "inverse hyperbolic sine"), ("acosh", "inverse hyperbolic cosine"),
                    ("atanh", "inverse hyperbolic tangent"), ("exp2", "2 ** x"), ("expm1", "exp(x) - 1, exact near 0"),
                    ("log2", "base-2 logarithm"), ("log10", "base-10 logarithm"), ("log1p", "log(1 + x), exact near 0"),
                    ("rsqrt", "1 / sqrt(x)"), ("reciprocal", "1 / x"), ("erf", "error function"),
                    ("erfc", "1 - erf(x), exact in the tail"), ("erfinv", "inverse error function")):
    unary(_name, doc=_doc)


def _rounding_shape(kernel: str):
    """floor/ceil/trunc/round keep the dtype (the identity on ints, as in PyTorch) and refuse bool."""
    def rule(avals, attrs):
        (x,) = avals
        if x.dtype == "bool" and attrs.get("decimals") is None:
            raise not_implemented(kernel, x.dtype)
        decimals = attrs.get("decimals")
        if decimals is not None and not is_float(x.dtype):   # PyTorch's round(x, decimals=d) has no int loop
            raise not_implemented("round_vml_cpu" if decimals == 0 else "round_cpu", x.dtype)
        return Aval(x.shape, x.dtype)
    return rule


for _name, _doc in (("floor", "largest integer <= x"), ("ceil", "smallest integer >= x"),
                    ("trunc", "x rounded toward zero")):
    defsig(_name, inputs=1, shape=_rounding_shape(f"{_name}_vml_cpu"), elementwise=True,
           doc=_doc + "; the identity on ints; gradient zero, as in PyTorch")
defsig("round", inputs=1, attrs={"decimals": Attr("optint", None, "digits after the decimal point (negative: before); "
                                                                 "none: round(x) without decimals, which keeps ints")},
       shape=_rounding_shape("round_vml_cpu"), elementwise=True,
       doc="x rounded half to even (at `decimals` digits, as PyTorch: nearbyint(x * 10**d) / 10**d); gradient zero")


def _float_only_shape(kernel: str):
    def rule(avals, attrs):
        (x,) = avals
        if not is_float(x.dtype):
            raise not_implemented(kernel, x.dtype)
        return Aval(x.shape, x.dtype)
    return rule


defsig("frac", inputs=1, shape=_float_only_shape("frac_cpu"), elementwise=True, doc="x - trunc(x)")
defsig("nan_to_num", inputs=1, attrs={"nan": Attr("float", 0.0, "what NaN becomes"),
                                      "posinf": Attr("optfloat", None, "what +inf becomes; none = the largest finite"),
                                      "neginf": Attr("optfloat", None, "what -inf becomes; none = the lowest finite")},
       shape=lambda avals, attrs: Aval(avals[0].shape, avals[0].dtype), elementwise=True,
       doc="NaN and infinities replaced by finite values; the identity on ints and bools")


def _test_shape(avals, attrs):
    return Aval(avals[0].shape, "bool")


for _name, _doc in (("isnan", "x is NaN"), ("isinf", "x is +inf or -inf"), ("isposinf", "x is +inf"),
                    ("isneginf", "x is -inf"), ("isfinite", "x is neither NaN nor infinite"),
                    ("signbit", "the sign bit of x is set (true for -0.0)")):
    defsig(_name, inputs=1, shape=_test_shape, elementwise=True, doc=_doc + ": bool result, no gradient")

# Two inputs.
binary("atan2", kind="float", doc="the angle of the point (other, input): arctangent of input / other in its quadrant")
binary("copysign", kind="float", doc="|input| with other's sign (the sign bit: -0.0 counts as negative)")
binary("xlogy", kind="float", doc="input * log(other), 0 where input == 0 (unless other is NaN)")
binary("logaddexp", float_only="logaddexp_cpu", doc="log(exp(x) + exp(y)) without overflow")
binary("logaddexp2", float_only="logaddexp2_cpu", doc="log2(2**x + 2**y) without overflow")
binary("fmod", bools="fmod_cpu",
       doc="C's remainder: x - trunc(x / y) * y, the sign of x; integer division by zero raises")
binary("remainder", bools="remainder_cpu",
       doc="Python's remainder: x - floor(x / y) * y, the sign of y; integer division by zero raises")
binary("fmax", doc="larger of x and y, ignoring NaN (NaN only where both are NaN); ties give x the gradient")
binary("fmin", doc="smaller of x and y, ignoring NaN (NaN only where both are NaN); ties give x the gradient")
binary("clamp_min", doc="max(x, min) as torch.clamp_min (the gradient goes to x where x >= min, else to min)")
binary("clamp_max", doc="min(x, max) as torch.clamp_max (the gradient goes to x where x <= max, else to max)")
binary("logical_xor", kind="bool", doc="x xor y (nonzero is true)")


def _clamp_tensors_shape(avals, attrs):
    return Aval(shapes.broadcast(*(a.shape for a in avals)), result_type(*operands(avals)))


defsig("clamp_tensors", inputs=3, shape=_clamp_tensors_shape, elementwise=True,
       doc="min(max(x, lo), hi) with tensor bounds: where lo > hi every value is hi, and hi takes the gradient")


def _div_rounded_shape(avals, attrs):
    x, y = avals
    if attrs["mode"] not in ("trunc", "floor"):
        raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                           f"'{attrs['mode']}'")
    shape = shapes.broadcast(x.shape, y.shape)
    if x.dtype == y.dtype == "bool":
        raise not_implemented("div_trunc_cpu" if attrs["mode"] == "trunc" else "div_floor_cpu", "bool")
    return Aval(shape, result_type(*operands(avals)))


defsig("div_rounded", inputs=2, attrs={"mode": Attr("string", "floor", '"trunc" (toward zero) or "floor"')},
       shape=_div_rounded_shape, elementwise=True,
       doc="x / y rounded to an integer in the promoted type; integer division by zero raises; gradient zero")


def _heaviside_shape(avals, attrs):
    x, v = avals
    if x.dtype != v.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    return Aval(shapes.broadcast(x.shape, v.shape), x.dtype)


defsig("heaviside", inputs=2, shape=_heaviside_shape, elementwise=True,
       doc="0 where x < 0, values where x == 0, 1 where x > 0; no gradient")


def _isclose_shape(avals, attrs):
    x, y = avals
    if x.dtype != y.dtype:
        raise RuntimeError(f"{LEGACY_NAMES[x.dtype]} did not match {LEGACY_NAMES[y.dtype]}")
    if attrs["rtol"] < 0:
        raise RuntimeError(f"rtol must be greater than or equal to zero, but got {attrs['rtol']:g}")
    if attrs["atol"] < 0:
        raise RuntimeError(f"atol must be greater than or equal to zero, but got {attrs['atol']:g}")
    return Aval(shapes.broadcast(x.shape, y.shape), "bool")


defsig("isclose", inputs=2, attrs={"rtol": Attr("float", 1e-5, "relative tolerance"),
                                   "atol": Attr("float", 1e-8, "absolute tolerance"),
                                   "equal_nan": Attr("bool", False, "NaN equals NaN")},
       shape=_isclose_shape, elementwise=True, doc="|x - y| <= atol + rtol * |y| (and equal infinities)")


def _bitwise_shape(kernel: str, bools: bool = True):
    def rule(avals, attrs):
        dt = result_type(*operands(avals))
        if is_float(dt) or (dt == "bool" and not bools):
            raise not_implemented(kernel, dt)
        return Aval(shapes.broadcast(*(a.shape for a in avals)), dt)
    return rule


for _name, _kernel, _doc in (("bitwise_and", "bitwise_and_cpu", "x & y"), ("bitwise_or", "bitwise_or_cpu", "x | y"),
                             ("bitwise_xor", "bitwise_xor_cpu", "x ^ y")):
    defsig(_name, inputs=2, shape=_bitwise_shape(_kernel), elementwise=True,
           doc=_doc + " on ints and bools (on bools: the logical op)")
defsig("bitwise_left_shift", inputs=2, shape=_bitwise_shape("lshift_cpu", bools=False), elementwise=True,
       doc="x << y on ints, wrapping around on overflow; shifts by more than the width give 0")
defsig("bitwise_right_shift", inputs=2, shape=_bitwise_shape("rshift_cpu", bools=False), elementwise=True,
       doc="x >> y on ints (arithmetic: the sign fills in); shifts by more than the width give 0 or -1")


def _ints_shape(kernel: str):
    def rule(avals, attrs):
        dt = result_type(*operands(avals))
        if dt not in INTS:
            raise not_implemented(kernel, dt)
        return Aval(shapes.broadcast(*(a.shape for a in avals)), dt)
    return rule


defsig("gcd", inputs=2, shape=_ints_shape("gcd_cpu"), elementwise=True,
       doc="greatest common divisor of ints (non-negative; gcd(0, 0) = 0)")
defsig("lcm", inputs=2, shape=_ints_shape("lcm_cpu"), elementwise=True, doc="least common multiple of ints")
binary("nextafter", float_only="nextafter_cpu", doc="the next float after x toward y; no gradient")


def _bitwise_not_shape(avals, attrs):
    (x,) = avals
    if is_float(x.dtype):
        raise not_implemented("bitwise_not_cpu", x.dtype)
    return Aval(x.shape, x.dtype)


defsig("bitwise_not", inputs=1, shape=_bitwise_not_shape, elementwise=True,
       doc="~x on ints (two's complement), not x on bools")
