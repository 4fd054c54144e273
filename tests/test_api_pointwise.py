"""The elementwise math of issue 9 (client/api_pointwise.py) against torch: values, dtypes, gradients (first and
second order), grad_fn names, special values (NaN, ±inf, -0.0), the function, method, in-place and alias forms,
and errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gradwire as gw
from client_fixtures import counter, session  # noqa: F401
from torch_diff import same_as_torch

pytestmark = pytest.mark.usefixtures("session")
DTYPES = ("float32", "float64", "int32", "int64", "bool")
SHAPES = [(2, 3), (), (0, 2)]

# name: (low, high) of the values drawn (ints: rounded), and whether PyTorch has a second derivative.
UNARY = {
    "asin": (-0.9, 0.9), "acos": (-0.9, 0.9), "atan": (-3, 3), "sinh": (-3, 3), "cosh": (-3, 3), "asinh": (-3, 3),
    "acosh": (1.1, 4), "atanh": (-0.9, 0.9), "exp2": (-3, 3), "expm1": (-3, 3), "log2": (0.2, 4),
    "log10": (0.2, 4), "log1p": (-0.5, 3), "rsqrt": (0.2, 4), "reciprocal": (0.3, 3), "erf": (-3, 3),
    "erfc": (-3, 3), "erfinv": (-0.95, 0.95), "floor": (-3, 3), "ceil": (-3, 3), "trunc": (-3, 3),
    "round": (-3, 3), "frac": (-3, 3), "nan_to_num": (-3, 3), "sign": (-3, 3), "isnan": (-3, 3),
    "isinf": (-3, 3), "isposinf": (-3, 3), "isneginf": (-3, 3), "isfinite": (-3, 3), "signbit": (-3, 3),
}
ALIASES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh", "arccosh": "acosh",
           "arctanh": "atanh", "fix": "trunc", "arctan2": "atan2", "clip": "clamp", "negative": "neg",
           "absolute": "abs"}
SPECIAL = np.array([0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 1.0, -1.0, np.nan, np.inf, -np.inf, 1e-30, 3e38])


def array(seed, shape, dtype, lo=-3.0, hi=3.0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(lo, hi, shape)
    if dtype == "bool":
        return a > (lo + hi) / 2
    return np.round(a).astype(dtype) if dtype.startswith("int") else a.astype(dtype)


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_unary(name, dtype, shape):
    lo, hi = UNARY[name]
    x = array(1, shape, dtype, lo, hi)
    if dtype.startswith("float") and name in ("floor", "ceil", "trunc", "round", "frac", "sign"):
        x = x + np.asarray(0.25, dtype)          # off the integers and the halves: the gradient is zero
    same_as_torch(lambda lib, x: [getattr(lib, name)(x), getattr(x, name)()], x, second_order=True,
                  rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", ("float32", "float64"))
def test_unary_special_values(name, dtype):
    same_as_torch(lambda lib, x: getattr(lib, name)(x), SPECIAL.astype(dtype), requires_grad=False,
                  rtol=2e-6, atol=1e-30)


@pytest.mark.parametrize("name", sorted(n for n in UNARY if hasattr(torch.Tensor, n + "_")))
@pytest.mark.parametrize("dtype", ("float32", "int64"))
def test_unary_in_place(name, dtype):
    lo, hi = UNARY[name]
    x = array(2, (3,), dtype, lo, hi)
    same_as_torch(lambda lib, x: getattr(x.detach().clone(), name + "_")(), x)
    # The in-place form records history through a non-leaf (PyTorch has no derivative of asinh_, acosh_, atanh_:
    # their backward raises; gradwire differentiates them).
    if dtype == "float32" and name not in ("asinh", "acosh", "atanh"):
        same_as_torch(lambda lib, x: getattr(x * 1.0, name + "_")(), x, second_order=True, rtol=1e-5)


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_aliases(alias):
    name = ALIASES[alias]
    x = array(3, (4,), "float32", -0.9, 0.9) + (2.0 if name == "acosh" else 0.0)
    y = array(4, (4,), "float32", 0.5, 1.0)
    if name in ("atan2",):
        fn = lambda lib, x, y: [getattr(lib, alias)(x, y), getattr(x, alias)(y)]  # noqa: E731
    elif name == "clamp":
        fn = lambda lib, x, y: [getattr(lib, alias)(x, -0.5, 0.5), getattr(x, alias)(min=0.1)]  # noqa: E731
    else:
        fn = lambda lib, x, y: [getattr(lib, alias)(x), getattr(x, alias)()]  # noqa: E731
    same_as_torch(fn, x, y, second_order=alias != "absolute")   # torch's double backward of absolute fails
    assert getattr(gw.Tensor, alias + "_", None) is not None or not hasattr(torch.Tensor, alias + "_")


@pytest.mark.parametrize("decimals", [0, 1, 2, -1, -2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_decimals(decimals, dtype):
    x = array(5, (6,), dtype, -300, 300) if dtype != "bool" else array(5, (6,), dtype)
    same_as_torch(lambda lib, x: [lib.round(x, decimals=decimals), x.round(decimals=decimals)], x)
    same_as_torch(lambda lib, x: lib.round(x), np.array([0.5, 1.5, 2.5, -0.5, -1.5], dtype)
                  if dtype.startswith("float") else x)


@pytest.mark.parametrize("kw", [{}, {"nan": 1.0}, {"nan": 1.0, "posinf": 2.0}, {"neginf": -7}, {"posinf": 1e300}])
@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_to_num(kw, dtype):
    x = SPECIAL.astype(dtype) if dtype.startswith("float") else array(6, (4,), dtype)
    same_as_torch(lambda lib, x: [lib.nan_to_num(x, **kw), x.nan_to_num(**kw)], x, second_order=True)


def test_zero_gradients_not_none():
    """floor/ceil/round/trunc/sign: PyTorch's gradient is zeros (not None, not an error)."""
    x = np.array([0.3, -1.7, 2.2], np.float32)
    for name in ("floor", "ceil", "round", "trunc", "sign"):
        same_as_torch(lambda lib, x: getattr(lib, name)(x) * x, x, second_order=True)


def test_grad_fn_names():
    x = np.array([0.3, 0.6], np.float32)
    same_as_torch(lambda lib, x: [getattr(lib, n)(x).grad_fn.name() for n in UNARY
                                  if not n.startswith("is") and n != "signbit"]
                  + [x.round(decimals=1).grad_fn.name(), x.isnan().grad_fn, x.signbit().requires_grad], x)


@pytest.mark.parametrize("dtype", ("int32", "int64", "bool"))
def test_refusals(dtype):
    x = array(7, (3,), dtype)
    for name in ("floor", "ceil", "trunc", "round", "frac"):
        same_as_torch(lambda lib, x: getattr(lib, name)(x), x)
    same_as_torch(lambda lib, x: x.round(decimals=1), x)
    same_as_torch(lambda lib, x: x.asin_(), x)          # a float result cannot be written into an int tensor
    same_as_torch(lambda lib, x: lib.asin(1.0), x)


def test_erfinv_tails():
    y = np.array([1 - 1e-16, -1 + 1e-12, 1e-300, 0.999, -0.5, 1.0, -1.0, 1.5])
    same_as_torch(lambda lib, y: lib.erfinv(y), y, rtol=1e-14, atol=0)
    same_as_torch(lambda lib, y: lib.erfinv(y), y.astype(np.float32), rtol=1e-6, atol=0)
    same_as_torch(lambda lib, y: [lib.erf(y), lib.erfc(y)], np.linspace(-6, 27, 67), rtol=1e-14, atol=1e-300)


# -- two inputs --------------------------------------------------------------------------------------------
BINARY = {  # name: (x range, y range)
    "atan2": ((-3, 3), (-3, 3)), "copysign": ((-3, 3), (-3, 3)), "xlogy": ((-3, 3), (0.2, 3)),
    "logaddexp": ((-3, 3), (-3, 3)), "logaddexp2": ((-3, 3), (-3, 3)), "fmod": ((-5, 5), (0.5, 3)),
    "remainder": ((-5, 5), (-3, -0.5)), "fmax": ((-3, 3), (-3, 3)), "fmin": ((-3, 3), (-3, 3)),
    "clamp_min": ((-3, 3), (-3, 3)), "clamp_max": ((-3, 3), (-3, 3)), "maximum": ((-3, 3), (-3, 3)),
    "minimum": ((-3, 3), (-3, 3)), "hypot": ((-3, 3), (-3, 3)), "float_power": ((0.5, 3), (-2, 2)),
    "heaviside": ((-1, 1), (-3, 3)), "logical_and": ((-1, 1), (-1, 1)), "logical_or": ((-1, 1), (-1, 1)),
    "logical_xor": ((-1, 1), (-1, 1)), "true_divide": ((-3, 3), (0.5, 3)), "floor_divide": ((-9, 9), (1, 3)),
    "isclose": ((-1, 1), (-1, 1)), "eq": ((-1, 1), (-1, 1)), "greater": ((-1, 1), (-1, 1)),
    "less_equal": ((-1, 1), (-1, 1)), "not_equal": ((-1, 1), (-1, 1)), "multiply": ((-3, 3), (-3, 3)),
    "subtract": ((-3, 3), (-3, 3)), "divide": ((-3, 3), (0.5, 3)),
}
# PyTorch records these with a grad_fn whose backward raises ("derivative for aten::floor_divide is not
# implemented"); gradwire gives floor_divide zero gradients and heaviside none.
NO_DERIVATIVE = ("floor_divide", "heaviside")
BIN_SHAPES = [((3,), (3,)), ((2, 1), (1, 3)), ((), (2, 2)), ((0, 2), (2,))]
PAIRS = [("float32", "float32"), ("float64", "float32"), ("float32", "int64"), ("int64", "int64"), ("int32", "int64"),
         ("bool", "bool"), ("int32", "bool"), ("float64", "float64")]


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dtypes", PAIRS)
@pytest.mark.parametrize("shapes", BIN_SHAPES)
def test_binary(name, dtypes, shapes):
    (xl, xh), (yl, yh) = BINARY[name]
    x = array(8, shapes[0], dtypes[0], xl, xh)
    y = array(9, shapes[1], dtypes[1], yl, yh)
    if name in ("fmod", "remainder", "floor_divide") and dtypes[1] == "bool":
        y = np.ones_like(y)     # not 0: integer division by zero raises (test_integer_division_by_zero)
    if name in ("fmax", "fmin", "maximum", "minimum", "clamp_min", "clamp_max") and dtypes[0] == dtypes[1]:
        y = y + (0.125 if dtypes[0].startswith("float") else 0)  # no ties where ties split the gradient
    same_as_torch(lambda lib, x, y: [getattr(lib, name)(x, y), getattr(x, name)(y)], x, y, second_order=True,
                  rtol=1e-5, atol=1e-5, requires_grad=name not in NO_DERIVATIVE)


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("scalar", [2, -1.5, True, 0.0])
@pytest.mark.parametrize("dtype", ("float32", "int64", "bool"))
def test_binary_with_numbers(name, scalar, dtype):
    """A number as `other` and as `input`, where PyTorch's signatures take one (TypeErrors where not)."""
    (xl, xh), _ = BINARY[name]
    x = array(10, (4,), dtype, xl, xh)
    if name in ("fmod", "remainder", "floor_divide") and not scalar and dtype != "float32":
        return      # integer division by zero: test_integer_division_by_zero
    grads = name not in NO_DERIVATIVE
    same_as_torch(lambda lib, x: getattr(lib, name)(x, scalar), x, second_order=scalar is not True,
                  requires_grad=grads)
    same_as_torch(lambda lib, x: getattr(x, name)(scalar), x, requires_grad=grads)
    if name not in ("remainder", "floor_divide", "true_divide", "xlogy", "float_power", "multiply"):
        return
    # A number as input: PyTorch has no derivative of remainder(Scalar, Tensor) (its backward raises).
    x = x if dtype == "float32" else np.ones_like(x)
    same_as_torch(lambda lib, x: getattr(lib, name)(scalar, x), x, rtol=1e-5,
                  requires_grad=grads and name != "remainder")


def test_special_values_and_nan_propagation():
    v = np.array([0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 2.5])
    x, y = np.meshgrid(v, v)
    for name in ("atan2", "copysign", "xlogy", "logaddexp", "fmod", "remainder", "fmax", "fmin",
                 "maximum", "minimum", "clamp_min", "clamp_max", "hypot", "heaviside", "float_power", "true_divide",
                 "floor_divide", "isclose"):
        same_as_torch(lambda lib, x, y: getattr(lib, name)(x, y), x, y, requires_grad=False, atol=0, rtol=1e-15)
    same_as_torch(lambda lib, x, y: lib.logaddexp2(x, y), x, y, requires_grad=False, atol=1e-15, rtol=1e-15)  # FMA
    same_as_torch(lambda lib, x, y: [lib.div(x, y, rounding_mode="trunc"), lib.div(x, y, rounding_mode="floor"),
                                     lib.isclose(x, y, equal_nan=True), lib.signbit(lib.copysign(x, y))], x, y,
                  requires_grad=False, atol=0, rtol=1e-15)


@pytest.mark.parametrize("mode", [None, "trunc", "floor"])
@pytest.mark.parametrize("dtypes", [("float32", "float32"), ("int64", "int64"), ("int32", "float64"), ("int32", "int32")])
def test_div_rounding_modes(mode, dtypes):
    x = np.array([7, -7, 7, -7, 0, 5, -6, 9]).astype(dtypes[0])
    y = np.array([2, 2, -2, -2, 3, 5, 4, -4]).astype(dtypes[1])
    same_as_torch(lambda lib, x, y: [lib.div(x, y, rounding_mode=mode), x.div(y, rounding_mode=mode),
                                     x.divide(y, rounding_mode=mode), lib.div(x, 3, rounding_mode=mode),
                                     lib.divide(-7, y, rounding_mode=mode), x % y],
                  x, y, second_order=mode is None)
    # PyTorch's backward of x // y, 2 // y, 9 % y raises (no derivative): values only.
    same_as_torch(lambda lib, x, y: [x // y, -13 // y, 9 % y, -9.5 % y], x, y, requires_grad=False)
    same_as_torch(lambda lib, x, y: lib.div(x, y, rounding_mode="round"), x, y)
    if mode is not None and dtypes[0].startswith("float"):
        same_as_torch(lambda lib, x, y: [lib.div(x, y, rounding_mode=mode).grad_fn.name()], x, y)


@pytest.mark.parametrize("fn", [lambda lib, x, y: x // y, lambda lib, x, y: x % y, lambda lib, x, y: lib.fmod(x, y),
                                lambda lib, x, y: lib.div(x, y, rounding_mode="trunc"),
                                lambda lib, x, y: lib.remainder(x, 0), lambda lib, x, y: 7 // y])
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_division_by_zero(fn, dtype):
    """PyTorch raises RuntimeError("ZeroDivisionError") on CPU; gradwire's server names the node too."""
    x, y = np.array([7, -7], dtype), np.array([2, 0], dtype)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        fn(torch, torch.tensor(x), torch.tensor(y)).tolist()
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        fn(gw, gw.tensor(x), gw.tensor(y)).tolist()
    same_as_torch(lambda lib, x, y: [x / y, lib.fmod(x.float(), y), x.double() // y], x, y)   # floats: inf, NaN


def test_remainder_fmod_gradients_and_names():
    x, y = np.array([7.0, -7.0, 5.5, -0.5], np.float32), np.array([2.0, 3.0, -2.0, 0.25], np.float32)
    same_as_torch(lambda lib, x, y: [lib.fmod(x, y), lib.remainder(x, y), x % y, lib.fmod(x, 2.0), x % 1.5,
                                     lib.copysign(x, y), lib.copysign(x, -0.0), lib.xlogy(x, y), lib.xlogy(2, y),
                                     lib.xlogy(x, 3.0)], x, y, second_order=True)
    same_as_torch(lambda lib, x, y: [o.grad_fn.name() for o in (
        lib.fmod(x, y), lib.fmod(x, 2), lib.remainder(x, y), lib.remainder(x, 2), lib.copysign(x, y),
        lib.copysign(x, 2), lib.xlogy(x, y), lib.xlogy(2, y), lib.xlogy(x, 2), lib.clamp_min(x, y),
        lib.clamp_min(x, 0.5), lib.clamp_max(x, y), lib.clamp_max(x, 0.5), lib.clamp(x, min=y),
        lib.float_power(x, y), lib.float_power(x, 2), lib.float_power(2, y), lib.pow(2, y), lib.atan2(x, y),
        lib.fmax(x, y), lib.logaddexp(x, y), lib.sub(2, x), 2 - x, lib.rsub(x, 2))], x, y)


def test_fmax_ties_and_nan_gradients():
    x = np.array([1.0, np.nan, 2.0, np.nan, 3.0], np.float32)
    y = np.array([1.0, 1.0, np.nan, np.nan, 0.0], np.float32)
    for name in ("fmax", "fmin", "maximum", "minimum", "clamp_min", "clamp_max"):
        same_as_torch(lambda lib, x, y: getattr(lib, name)(x, y), x, y)


def test_isclose_allclose_equal():
    x = np.array([1.0, 1.00001, np.nan, np.inf, -np.inf, 0.0])
    y = np.array([1.0, 1.0, np.nan, np.inf, np.inf, 1e-9])
    same_as_torch(lambda lib, x, y: [lib.isclose(x, y), lib.isclose(x, y, equal_nan=True), x.isclose(y, rtol=0),
                                     lib.isclose(x, y, 0.1, 0.2), lib.allclose(x, y), lib.allclose(x[:2], y[:2]),
                                     x.allclose(y, equal_nan=True, atol=1.0), lib.equal(x, x), lib.equal(x[:2], x[:2]),
                                     lib.equal(x, y), x.equal(x[:3]), lib.equal(x[:2], y[:2])], x, y)
    i = np.array([1, 2, 3])
    same_as_torch(lambda lib, x, y: [lib.isclose(x, y), lib.allclose(x, y), lib.equal(x, y)], i, i + 1)
    same_as_torch(lambda lib, x, y: lib.isclose(x, y), x[:3], i)
    same_as_torch(lambda lib, x, y: lib.isclose(x, y, rtol=-1.0), x, y)
    same_as_torch(lambda lib, x, y: lib.allclose(x, 1.0), x, y)


def test_clamp_forms():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0], np.float32)
    lo, hi = np.array([-1.0, 0.0, 0.0, 1.0, 1.0], np.float32), np.array([1.0, 0.0, 0.5, 1.0, 3.0], np.float32)
    same_as_torch(lambda lib, x, lo, hi: [lib.clamp(x, lo, hi), x.clamp(min=lo), x.clamp(max=hi), lib.clip(x, lo),
                                          lib.clamp(x, -1, 1), lib.clamp(x, 1, -1), x.clamp_min(lo), x.clamp_max(0.2),
                                          lib.clamp_min(x, lo), lib.clamp_max(x, hi)], x, lo, hi, second_order=True)
    i = np.array([-3, 0, 4])
    same_as_torch(lambda lib, x: [lib.clamp(x, 0.5), lib.clamp(x, -1, 1), lib.clamp(x, max=2.5), x.clamp_min(1),
                                  lib.clamp_max(x, 0.5)], i)
    same_as_torch(lambda lib, x: lib.clamp(x), x)
    same_as_torch(lambda lib, x: [x.detach().clone().clamp_(0, 1), x.detach().clone().clip_(max=0.1),
                                  x.detach().clone().clamp_min_(0.0), x.detach().clone().clamp_max_(0.0)], x)


@pytest.mark.parametrize("n", [9, 40_000])   # one op at a time, and in fused groups' blocks
def test_relu_and_clamp_keep_negative_zero_and_nan(n):
    """PyTorch's relu and clamp keep x where it equals the bound (-0.0 stays -0.0), keep NaN, make every element
    NaN for a NaN bound; relu's gradient passes g at NaN, clamp's does not."""
    x = np.resize(np.array([-0.0, 0.0, np.nan, -np.inf, np.inf, -1.5, 2.0, 0.25, -0.0], np.float32), n)
    def signs(lib, ys):
        return [t for y in ys for t in (y, lib.signbit(y))]
    same_as_torch(lambda lib, x: signs(lib, [lib.relu(x * 1.0) * 1.0, lib.clamp(x * 1.0, min=0) * 1.0,
                                             x.clamp(0.0, 1.0), x.clamp(max=-0.0), lib.clamp(x, -1.0, float("nan"))]),
                  x, atol=0, rtol=0)
    same_as_torch(lambda lib, x: signs(lib, [lib.relu(x), x.clamp(-1, 0)]), np.resize(np.array([-3, 0, 4]), n))


def test_tensor_only_arguments_refuse_numbers():
    x = np.array([1.0, 2.0], np.float32)
    for name in ("atan2", "logaddexp", "logaddexp2", "fmax", "fmin", "maximum", "minimum", "hypot", "heaviside",
                 "isclose", "logical_and", "logical_xor"):
        same_as_torch(lambda lib, x: getattr(lib, name)(x, 2.0), x)
        same_as_torch(lambda lib, x: getattr(x, name)(1), x)
    same_as_torch(lambda lib, x: lib.heaviside(x, lib.tensor(0.5, dtype=lib.float64)), x)


def test_float_power_and_in_place():
    x, y = np.array([0.5, 2.0, 3.0]), np.array([2.0, -1.0, 0.5], np.float32)
    same_as_torch(lambda lib, x, y: [lib.float_power(x, y), x.float_power(2), lib.float_power(2, y),
                                     y.float_power(y), x.detach().clone().float_power_(y)], x, y, second_order=True)
    same_as_torch(lambda lib, x, y: y.detach().clone().float_power_(2), x, y)
    i = np.array([1, 2, 3])
    same_as_torch(lambda lib, x: [x.detach().clone().fmod_(2), x.detach().clone().remainder_(-2.0),
                                  x.detach().clone().copysign_(-1), x.detach().clone().xlogy_(2),
                                  x.detach().clone().atan2_(x), x.detach().clone().arctan2_(x * 2),
                                  x.detach().clone().heaviside_(x.detach()), x.detach().clone().logical_xor_(x),
                                  x.detach().clone().true_divide_(3), x.detach().clone().floor_divide_(0.7),
                                  x.detach().clone().div_(2, rounding_mode="floor"), x.detach().clone().eq_(x.detach()),
                                  x.detach().clone().greater_(1), x.detach().clone().multiply_(x),
                                  x.detach().clone().subtract_(x, alpha=2), x.detach().clone().nan_to_num_(1.0)],
                  x)
    same_as_torch(lambda lib, x: [x.clone().fmod_(2), x.clone().div_(2, rounding_mode="trunc"), x.clone() // 2,
                                  x.clone().remainder_(2)], i)
    same_as_torch(lambda lib, x: x.clone().true_divide_(2), i)


def test_add_sub_alpha():
    x, y = np.array([1.0, -2.0, 3.0], np.float32), np.array([0.5, 0.25, -1.0], np.float32)
    i = np.array([1, 2, 3])
    same_as_torch(lambda lib, x, y: [lib.add(x, y, alpha=2), x.add(y, alpha=-0.5), lib.sub(x, y, alpha=3),
                                     x.sub(2, alpha=2), lib.subtract(x, y, alpha=0.5), lib.add(2, y),
                                     lib.sub(2, y), lib.rsub(x, y, alpha=2), x.detach().clone().add_(y, alpha=3),
                                     x.detach().clone().sub_(y, alpha=3)], x, y, second_order=True)
    same_as_torch(lambda lib, x: lib.add(x, x, alpha=0.5), i)
    same_as_torch(lambda lib, x: lib.add(x, 2, alpha=3), i)
    same_as_torch(lambda lib, x: [x.add(x, alpha=True), lib.sub(x, x > 1)], i)


def test_torch_special_spellings():
    x, y = np.array([0.25, -0.5, 0.75]), np.array([0.5, 2.0, 3.0], np.float32)
    same_as_torch(lambda lib, x, y: [lib.special.erf(x), lib.special.erfc(x), lib.special.erfinv(x),
                                     lib.special.expm1(x), lib.special.exp2(x), lib.special.log1p(x),
                                     lib.special.round(x), lib.special.round(x, decimals=1), lib.special.xlogy(x, y),
                                     lib.special.xlogy(2, y), lib.special.xlogy(x, 3.0)], x, y, second_order=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_compositions(dtype):
    x = array(16, (2, 3), dtype, -2, 2)
    z = array(17, (2, 3), dtype, 0.05, 0.95) if dtype.startswith("float") else x
    same_as_torch(lambda lib, x, z: [lib.deg2rad(x), x.rad2deg(), lib.sgn(x), lib.sinc(x), x.sinc(),
                                     lib.logit(z), z.logit(eps=0.1), lib.logit(x, 0.2), lib.special.sinc(x),
                                     lib.special.logit(z), lib.special.expit(x) if dtype != "bool" else x],
                  x, z, second_order=True, rtol=1e-5, atol=1e-6)
    same_as_torch(lambda lib, x: [lib.positive(x), x.positive() is x, (+x)], x)
    same_as_torch(lambda lib, x: [x.detach().clone().deg2rad_(), x.detach().clone().sgn_(), x.detach().clone().sinc_(),
                                  x.detach().clone().logit_(0.25)], x)
    sinc_at = np.array([0.0, 1e-20, -0.5, 3.0], np.float32)
    same_as_torch(lambda lib, x: [lib.sinc(x), lib.sinc(x * 0)], sinc_at)
    same_as_torch(lambda lib, x: lib.sinc(x[2:]), sinc_at, second_order=True)   # torch's is NaN at 0


@pytest.mark.parametrize("dtypes", PAIRS)
def test_gcd_lcm_nextafter(dtypes):
    x, y = array(18, (2, 3), dtypes[0], -40, 40), array(19, (3,), dtypes[1], -40, 40)
    for name in ("gcd", "lcm", "nextafter"):
        same_as_torch(lambda lib, x, y: [getattr(lib, name)(x, y), getattr(x, name)(y)], x, y, requires_grad=False)
        same_as_torch(lambda lib, x, y: getattr(x.clone(), name + "_")(y), x, y, requires_grad=False)
    same_as_torch(lambda lib, x, y: lib.gcd(x, 2), x, y)
    i = np.array([0, 0, -12, 7, 2**31 - 1])
    same_as_torch(lambda lib, x, y: [lib.gcd(x, y), lib.lcm(x, y)], i, np.array([0, 5, 18, -21, 2]))


def test_large_tensors_through_fused_groups():
    """Above the fusion threshold the rows run blockwise in fused groups: the same values and gradients."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.9, 0.9, (300, 400)).astype(np.float32)
    y = rng.uniform(0.5, 2, (400,)).astype(np.float32)
    same_as_torch(lambda lib, x, y: (lib.erfinv(x).asin().mul(y).fmod(y).remainder(0.7).atan2(y) + lib.xlogy(x, y)
                                     + lib.logaddexp(x, y) + lib.copysign(x, -y) + lib.fmax(x, y * 0.3)
                                     + lib.clamp_min(x, y - 1.5) + lib.round(x, decimals=1) + lib.floor(x * 3)
                                     + lib.erf(x).expm1().log1p() + lib.nan_to_num(x.log())).sum(),
                  x, y, rtol=1e-4, atol=1e-3)
    i, j = rng.integers(-1000, 1000, (300, 400)), rng.integers(1, 30, (400,))
    same_as_torch(lambda lib, i, j: [((i // j) % 7 ^ (i << (j % 5)) | (i >> 2) & ~j).sum(), lib.gcd(i, j).sum(),
                                     lib.isclose(i, i + (j > 15)).sum()], i, j)
