"""Op-table cases of the elementwise ops added beside the first table (see op_table.py for the fields)."""
from __future__ import annotations

import autograd.numpy as anp
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st

from op_table import REFUSED, Example, case, shape, smooth, two_shapes

# "…" not implemented for 'Long': PyTorch has no integer kernels for these.
REFUSED.update({(n, d): "not implemented for" for n in ("hypot", "lerp") for d in ("int32", "int64", "bool")})


@case("hypot")
def _hypot(name, data, rng):
    sx, sy = two_shapes(data)
    return Example([smooth(rng, sx) + 3.0, smooth(rng, sy) - 3.0], {}, lambda x, y: anp.sqrt(x * x + y * y), (0, 1))


@case("lerp")
def _lerp(name, data, rng):
    shp = shape(data)
    w = rng.uniform(-0.5, 1.5, shp)
    ref = lambda s, e, w: anp.where(w < 0.5, s + w * (e - s), e - (e - s) * (1.0 - w))  # noqa: E731
    return Example([smooth(rng, shp), smooth(rng, shp), w], {}, ref, (0, 1, 2))


# -- the elementwise math of issue 9 (gradwire.core.pointwise) ----------------------------------------------
import math  # noqa: E402

import numpy as np  # noqa: E402
from autograd.extend import defvjp, primitive  # noqa: E402

import op_table  # noqa: E402
from op_table import UNARY, grid, nonzero, positive  # noqa: E402

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


@primitive
def ref_erf(x):
    return _erf(x)


@primitive
def ref_erfc(x):
    return _erfc(x)


@primitive
def ref_erfinv(y):
    """By bisection on math.erf: slow, but independent of the engine's Newton iteration."""
    lo, hi = np.full(np.shape(y), -6.0), np.full(np.shape(y), 6.0)
    for _ in range(80):
        mid = (lo + hi) / 2
        below = _erf(mid) < y
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    y = np.asarray(y)
    return np.where(np.abs(y) == 1, np.sign(y) * np.inf, np.where(np.abs(y) > 1, np.nan, (lo + hi) / 2))


defvjp(ref_erf, lambda ans, x: lambda g: g * 2 / math.sqrt(math.pi) * np.exp(-x * x))
defvjp(ref_erfc, lambda ans, x: lambda g: -g * 2 / math.sqrt(math.pi) * np.exp(-x * x))
defvjp(ref_erfinv, lambda ans, y: lambda g: g * math.sqrt(math.pi) / 2 * np.exp(ans * ans))


def _within(lo, hi):
    return lambda rng, s: rng.uniform(lo, hi, s)


MATH = {  # name: (oracle, domain, second derivative exists); float results for int inputs
    "asin": (anp.arcsin, _within(-0.9, 0.9), True),
    "acos": (anp.arccos, _within(-0.9, 0.9), True),
    "atan": (anp.arctan, smooth, True),
    "sinh": (anp.sinh, smooth, True),
    "cosh": (anp.cosh, smooth, True),
    "asinh": (anp.arcsinh, smooth, True),
    "acosh": (anp.arccosh, _within(1.2, 3.0), True),
    "atanh": (anp.arctanh, _within(-0.9, 0.9), True),
    "exp2": (anp.exp2, smooth, True),
    "expm1": (anp.expm1, smooth, True),
    "log2": (anp.log2, positive, True),
    "log10": (anp.log10, positive, True),
    "log1p": (anp.log1p, _within(-0.5, 2.0), True),
    "rsqrt": (lambda x: 1.0 / anp.sqrt(x), positive, True),
    "reciprocal": (lambda x: 1.0 / x, nonzero, True),
    "erf": (ref_erf, smooth, True),
    "erfc": (ref_erfc, smooth, True),
    "erfinv": (ref_erfinv, _within(-0.9, 0.9), True),
}
UNARY.update(MATH)      # also checked for float32 results from int and bool inputs (test_engine_ops)
case(*MATH)(op_table._unary)

ROUNDING = {"sign": anp.sign, "floor": anp.floor, "ceil": anp.ceil, "trunc": anp.trunc, "frac": lambda x: x - anp.trunc(x)}
REFUSED.update({(n, "bool"): "not implemented for 'Bool'" for n in ("floor", "ceil", "trunc", "round", "frac")})
REFUSED.update({("frac", d): "not implemented for" for d in ("int32", "int64")})


@case(*ROUNDING)
def _rounding(name, data, rng):
    return Example([grid(rng, shape(data), 0.25)], {}, ROUNDING[name], (0,))


@case("round")
def _round(name, data, rng):
    d = data.draw(st.sampled_from([0, 1, 2, -1]))
    x = rng.uniform(-30, 30, shape(data))
    return Example([x], {"decimals": d}, lambda x: anp.round(x, d) if d >= 0 else anp.round(x / 10 ** -d) * 10 ** -d,
                   (0,))


@case("nan_to_num")
def _nan_to_num(name, data, rng):
    attrs = {"nan": data.draw(st.sampled_from([0.0, 1.5])), "posinf": data.draw(st.sampled_from([None, 9.0])),
             "neginf": data.draw(st.sampled_from([None, -9.0]))}
    return Example([smooth(rng, shape(data))], attrs, lambda x: x * 1.0, (0,))


VALUE_TESTS = {"isnan": np.isnan, "isinf": np.isinf, "isposinf": np.isposinf, "isneginf": np.isneginf,
               "isfinite": np.isfinite, "signbit": np.signbit}


@case(*VALUE_TESTS)
def _value_tests(name, data, rng):
    x = rng.choice(np.array([0.0, -0.0, 1.5, -2.0, np.nan, np.inf, -np.inf]), shape(data))
    return Example([x], {}, VALUE_TESTS[name])


TWO = {  # name: (oracle, x domain, y domain)
    "atan2": (anp.arctan2, nonzero, nonzero),
    "copysign": (lambda x, y: anp.abs(x) * anp.sign(y), nonzero, nonzero),
    "xlogy": (lambda x, y: x * anp.log(y), nonzero, positive),
    "logaddexp": (anp.logaddexp, smooth, smooth),
    "logaddexp2": (anp.logaddexp2, smooth, smooth),
    "fmod": (lambda x, y: x - anp.trunc(x / y) * y, smooth, nonzero),
    "remainder": (lambda x, y: x - anp.floor(x / y) * y, smooth, nonzero),
    "fmax": (anp.fmax, lambda r, s: grid(r, s, 0.1), lambda r, s: grid(r, s, 0.3)),
    "fmin": (anp.fmin, lambda r, s: grid(r, s, 0.1), lambda r, s: grid(r, s, 0.3)),
    "clamp_min": (anp.maximum, lambda r, s: grid(r, s, 0.1), lambda r, s: grid(r, s, 0.3)),
    "clamp_max": (anp.minimum, lambda r, s: grid(r, s, 0.1), lambda r, s: grid(r, s, 0.3)),
}
REFUSED.update({(n, d): "not implemented for" for n in ("logaddexp", "logaddexp2") for d in ("int32", "int64", "bool")})
REFUSED.update({(n, "bool"): "not implemented for 'Bool'" for n in ("fmod", "remainder", "div_rounded")})


@case(*TWO)
def _two(name, data, rng):
    ref, dx, dy = TWO[name]
    sx, sy = two_shapes(data)
    return Example([dx(rng, sx), dy(rng, sy)], {}, ref, (0, 1))


@case("clamp_tensors")
def _clamp_tensors(name, data, rng):
    sx, sl, sh = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3)).input_shapes
    z = np.zeros(np.broadcast_shapes(sx, sl, sh))
    lo, hi = grid(rng, sl, 0.1), grid(rng, sh, 0.3)

    def ref(x, lo, hi):    # where lo > hi every value is hi
        return anp.where(lo + z < hi + z, anp.minimum(anp.maximum(x + z, lo + z), hi + z), hi + z)
    return Example([grid(rng, sx, 0.2), lo, hi], {}, ref, (0, 1, 2))


@case("div_rounded")
def _div_rounded(name, data, rng):
    mode = data.draw(st.sampled_from(["trunc", "floor"]))
    sx, sy = two_shapes(data)
    fn = anp.trunc if mode == "trunc" else anp.floor
    return Example([smooth(rng, sx) * 3, nonzero(rng, sy)], {"mode": mode}, lambda x, y: fn(x / y), (0, 1))


@case("logical_xor")
def _logical_xor(name, data, rng):
    sx, sy = two_shapes(data)
    return Example([rng.random(sx) < 0.5, rng.random(sy) < 0.5], {}, np.logical_xor)


@case("heaviside")
def _heaviside(name, data, rng):
    sx, sy = two_shapes(data)
    return Example([rng.integers(-1, 2, sx).astype(np.float64), smooth(rng, sy)], {},
                   lambda x, v: np.where(x == 0, v, (x > 0) * 1.0))


@case("isclose")
def _isclose(name, data, rng):
    sx, sy = two_shapes(data)
    rtol, atol = data.draw(st.sampled_from([1e-5, 0.1])), data.draw(st.sampled_from([1e-8, 0.05]))
    equal_nan = data.draw(st.booleans())
    x = rng.choice(np.array([0.0, 1.0, 1.04, np.nan, np.inf]), sx)
    y = rng.choice(np.array([0.0, 1.0, 1.1, np.nan, np.inf]), sy)

    def ref(x, y):
        # PyTorch's definition: a finite difference within tolerance, or equal (so 1.04 is not close to inf, even
        # though inf <= atol + rtol * inf).
        with np.errstate(invalid="ignore"):
            diff = np.abs(x - y)
            close = (np.isfinite(diff) & (diff <= atol + rtol * np.abs(y))) | (x == y)
        return close | (equal_nan & np.isnan(x) & np.isnan(y))
    return Example([x, y], {"rtol": rtol, "atol": atol, "equal_nan": equal_nan}, ref)


def _wrap(v: int, bits: int) -> int:
    """A Python int as the two's-complement value of `bits` bits."""
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _ref_shift(left: bool):
    def ref(x, y):
        bits = x.dtype.itemsize * 8
        x, y = np.broadcast_arrays(x, y)
        out = [(_wrap(int(a) << int(b), bits) if 0 <= b < bits else 0) if left else
               (int(a) >> int(b) if 0 <= b < bits else (-1 if a < 0 else 0)) for a, b in zip(x.flat, y.flat)]
        return np.array(out, dtype=x.dtype).reshape(x.shape)
    return ref


BITWISE = {"bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor,
           "bitwise_left_shift": _ref_shift(True), "bitwise_right_shift": _ref_shift(False)}
REFUSED.update({(n, d): "not implemented for" for n in (*BITWISE, "bitwise_not") for d in ("float32", "float64")})
REFUSED.update({(n, "bool"): "not implemented for 'Bool'" for n in ("bitwise_left_shift", "bitwise_right_shift")})


@case(*BITWISE)
def _bitwise(name, data, rng):
    sx, sy = two_shapes(data)
    dtype = data.draw(st.sampled_from([np.int32, np.int64]))
    x = rng.integers(-2**31, 2**31 - 1, sx).astype(dtype)
    y = rng.integers(-2, 70, sy).astype(dtype) if "shift" in name else rng.integers(-50, 50, sy).astype(dtype)
    return Example([x, y], {}, BITWISE[name])


@case("bitwise_not")
def _bitwise_not(name, data, rng):
    shp = shape(data)
    x = rng.random(shp) < 0.5 if data.draw(st.booleans()) else rng.integers(-100, 100, shp)
    return Example([x], {}, np.invert)


REFUSED.update({(n, d): "not implemented for" for n in ("gcd", "lcm") for d in ("float32", "float64", "bool")})
REFUSED.update({("nextafter", d): "not implemented for" for d in ("int32", "int64", "bool")})


@case("gcd", "lcm")
def _gcd_lcm(name, data, rng):
    sx, sy = two_shapes(data)
    dtype = data.draw(st.sampled_from([np.int32, np.int64]))
    x, y = rng.integers(-60, 60, sx).astype(dtype), rng.integers(-60, 60, sy).astype(dtype)
    fn = math.gcd if name == "gcd" else math.lcm
    return Example([x, y], {}, lambda x, y: np.vectorize(fn, otypes=[dtype])(x, y).astype(dtype))


@case("nextafter")
def _nextafter(name, data, rng):
    sx, sy = two_shapes(data)
    return Example([smooth(rng, sx), rng.choice([-np.inf, 0.0, np.inf, 1.0], sy)], {}, np.nextafter)
