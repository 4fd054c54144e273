"""The declared elementwise functions against torch: values, dtypes, gradients (first and second order) and
errors, over random shapes and dtypes."""
from __future__ import annotations

import numpy as np
import pytest

import gradwire as gw

from client_fixtures import counter, session  # noqa: F401
from torch_diff import same_as_torch

pytestmark = pytest.mark.usefixtures("session")
DTYPES = ("float32", "float64", "int32", "int64", "bool")
SHAPES = [((3,), (3,)), ((2, 1), (1, 3)), ((), (2, 2)), ((0, 2), (2,))]


def arrays(seed, shapes, dtypes):
    rng = np.random.default_rng(seed)
    out = []
    for shp, dt in zip(shapes, dtypes):
        a = rng.uniform(-3, 3, shp)
        out.append(a > 0 if dt == "bool" else np.round(a).astype(dt) if dt.startswith("int") else a.astype(dt))
    return out


@pytest.mark.parametrize("dx", DTYPES)
@pytest.mark.parametrize("dy", DTYPES)
@pytest.mark.parametrize("shapes", SHAPES)
def test_hypot(dx, dy, shapes):
    same_as_torch(lambda lib, x, y: lib.hypot(x, y), *arrays(1, shapes, (dx, dy)), second_order=True,
                  rtol=1e-5, atol=1e-6)


def test_hypot_forms_and_overflow():
    big = np.array([3e30, 1.0], np.float32)
    same_as_torch(lambda lib, x, y: (x.hypot(y), lib.hypot(x, 4.0)), big, np.array([4e30, 2.0], np.float32))
    same_as_torch(lambda lib, x, y: x.detach().clone().hypot_(y), big, big)


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.5, 1.0, 2.0, "tensor", "0-d float64", "int"])
@pytest.mark.parametrize("dtypes", [("float32", "float32"), ("float64", "float64"), ("float32", "float64"),
                                    ("int64", "int64")])
def test_lerp(weight, dtypes):
    start, end, w = arrays(2, [(2, 3), (3,), (2, 3)], dtypes + (dtypes[0],))
    if weight == "tensor":
        same_as_torch(lambda lib, s, e, w: lib.lerp(s, e, w), start, end, w, second_order=True)
    elif weight == "0-d float64":
        same_as_torch(lambda lib, s, e, w: lib.lerp(s, e, w), start, end, np.array(0.25))
    elif weight == "int":
        same_as_torch(lambda lib, s, e: s.lerp(e, 2), start, end)
    else:
        same_as_torch(lambda lib, s, e: (lib.lerp(s, e, weight), s.lerp(e, weight)), start, end, second_order=True)


def test_lerp_grad_fn_and_in_place():
    same_as_torch(lambda lib, s, e, w: [s.lerp(e, 0.5).grad_fn.name(), s.lerp(e, w).grad_fn.name()],
                  *arrays(3, [(2,), (2,), (2,)], ("float32",) * 3))
    same_as_torch(lambda lib, s, e: s.detach().clone().lerp_(e, 0.25), *arrays(4, [(2,), (2,)], ("float64",) * 2))
    same_as_torch(lambda lib, s, e: s.detach().lerp_(e.unsqueeze(0).expand(2, 2), 0.25),
                  *arrays(4, [(2,), (2,)], ("float64",) * 2))


# -- operators and bitwise ops on ints and bools ---------------------------------------------------------
INT_DTYPES = ("int32", "int64", "bool")
OPERATORS = {
    "&": lambda x, y: x & y, "|": lambda x, y: x | y, "^": lambda x, y: x ^ y, "<<": lambda x, y: x << y,
    ">>": lambda x, y: x >> y, "%": lambda x, y: x % y, "//": lambda x, y: x // y,
}


def ints(seed, shape, dtype, lo=-50, hi=50):
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    return rng.integers(lo, hi, shape).astype(dtype)


@pytest.mark.parametrize("op", sorted(OPERATORS))
@pytest.mark.parametrize("dx", INT_DTYPES + ("float32",))
@pytest.mark.parametrize("dy", INT_DTYPES)
def test_operators(op, dx, dy):
    fn = OPERATORS[op]
    x = ints(11, (2, 3), dx) if dx != "float32" else np.linspace(-3, 3, 6, dtype=np.float32).reshape(2, 3)
    y = ints(12, (3,), dy, 1, 40) if op in "%//" or dy == "bool" else ints(12, (3,), dy, -3, 70)
    if op in ("%", "//") and dy == "bool":
        y = np.ones(3, bool)
    same_as_torch(lambda lib, x, y: [fn(x, y), fn(x, 3), fn(7, y) if dy != "bool" or op not in "%//" else x],
                  x, y, requires_grad=False)


@pytest.mark.parametrize("op", ["&", "|", "^", "<<", ">>", "%", "//"])
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_in_place_operators(op, dtype):
    x, y = ints(13, (4,), dtype), ints(14, (4,), dtype, 1, 9) if dtype != "bool" else np.ones(4, bool)

    def fn(lib, x, y):
        z = x.clone()
        if op == "&":
            z &= y
        elif op == "|":
            z |= y
        elif op == "^":
            z ^= y
        elif op == "<<":
            z <<= y
        elif op == ">>":
            z >>= y
        elif op == "%":
            z %= y
        else:
            z //= y
        return z
    same_as_torch(fn, x, y)


@pytest.mark.parametrize("dtype", INT_DTYPES + ("float64",))
def test_invert_and_bitwise_functions(dtype):
    x = ints(15, (5,), dtype) if dtype != "float64" else np.linspace(-2, 2, 5)
    same_as_torch(lambda lib, x: [~x, lib.bitwise_not(x), x.bitwise_not(), x.clone().bitwise_not_()], x,
                  requires_grad=False)
    same_as_torch(lambda lib, x: [lib.bitwise_and(x, x), x.bitwise_or(x), lib.bitwise_xor(x, 5), x.bitwise_and_(x),
                                  lib.bitwise_and(5, x), lib.logical_not(x), x.logical_and(x), lib.logical_xor(x, x)],
                  x, requires_grad=False)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_shift_overflow_wraps(dtype):
    bits = 32 if dtype == "int32" else 64
    x = np.array([1, -1, 3, np.iinfo(dtype).max, np.iinfo(dtype).min, 5, -5, 7], dtype)
    s = np.array([bits - 1, bits - 2, bits, bits + 1, 1, 0, -1, 2], dtype)
    same_as_torch(lambda lib, x, s: [x << s, x >> s, lib.bitwise_left_shift(x, s), x.bitwise_right_shift(s),
                                     x << 1, 1 << s % 8, x >> 100], x, s)


def test_mixed_float_and_int_bitwise_errors():
    x, f = np.array([1, 2]), np.array([1.5, 2.5], np.float32)
    for fn in (lambda lib, x, f: x & f, lambda lib, x, f: x | 1.5, lambda lib, x, f: ~f, lambda lib, x, f: f << x,
               lambda lib, x, f: x >> 1.0, lambda lib, x, f: lib.bitwise_xor(f, f)):
        same_as_torch(fn, x, f)


def test_comparison_methods_and_aliases():
    x, y = np.array([1.0, 2.0, np.nan, 4.0], np.float32), np.array([1.0, 3.0, np.nan, 0.0], np.float32)
    same_as_torch(lambda lib, x, y: [x.eq(y), x.ne(y), x.lt(2), x.le(y), x.gt(y), x.ge(1), lib.greater(x, y),
                                     lib.greater_equal(x, y), lib.less(x, y), lib.less_equal(x, 2), lib.not_equal(x, y),
                                     x.greater(y).requires_grad, x.eq(y).grad_fn, lib.eq(x, y), lib.ne(x, 2.0),
                                     x.detach().clone().lt_(y.detach()), x.detach().clone().not_equal_(2)], x, y)


def test_where_forms():
    x, y = np.array([1.0, -2.0, 3.0], np.float32), np.array([0.5, 0.5, -0.5], np.float64)
    same_as_torch(lambda lib, x, y: [lib.where(x > 0, x, y), lib.where(x > 0, x, 0.0), lib.where(x > 0, 2, 0),
                                     lib.where(x > 0, 2.5, 0), x.where(x > 0, y), x.where(x < 0, 1.5),
                                     lib.where(x > 0)], x, y, second_order=True)
    same_as_torch(lambda lib, x, y: lib.where(x, x, y), x, y)


def test_arithmetic_spellings():
    x, y = np.array([1.0, -2.0, 3.0], np.float32), np.array([0.5, 0.25, -1.5], np.float32)
    same_as_torch(lambda lib, x, y: [lib.add(x, y), x.add(y), lib.sub(x, y), x.sub(1), lib.mul(x, y), x.mul(2),
                                     lib.multiply(x, y), x.multiply(y), lib.div(x, y), x.div(2), lib.divide(x, y),
                                     x.true_divide(y), lib.true_divide(x, 2), lib.subtract(x, y), x.subtract(y),
                                     lib.pow(x, 2), x.pow(y.abs()), lib.pow(2, y), lib.maximum(x, y), x.minimum(y),
                                     x.detach().clone().mul_(y), x.detach().clone().div_(y), x.detach().clone().pow_(2),
                                     x.detach().clone().multiply_(2), x.detach().clone().divide_(y, rounding_mode="trunc")],
                  x, y, second_order=True)
    same_as_torch(lambda lib, x, y: lib.maximum(x, 1.0), x, y)
    same_as_torch(lambda lib, x, y: lib.add(x, y, 2), x, y)


def test_forms_match_torch():
    """Every declared elementwise name exists in torch with the same function, method and in-place forms."""
    import torch

    import gradwire.api_elementwise
    import gradwire.api_pointwise
    from gradwire.declare import DECLARATIONS
    mine = {"gradwire.api_elementwise", "gradwire.api_pointwise"}
    for decl in DECLARATIONS.values():
        if decl.impl.__module__ not in mine and getattr(decl.fn, "__module__", "") not in mine:
            continue
        for n in (decl.name, *decl.aliases):
            assert hasattr(torch, n) == hasattr(gw, n), n
            assert hasattr(torch.Tensor, n) == hasattr(gw.Tensor, n), n
            assert hasattr(torch.Tensor, n + "_") == hasattr(gw.Tensor, n + "_"), n + "_"
    assert gradwire.api_elementwise and gradwire.api_pointwise
