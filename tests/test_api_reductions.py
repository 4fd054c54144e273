"""The declared reductions, scans, sorts and order statistics against torch: values, dtypes, gradients (first
and second order) and errors, over random shapes (0-d and empty too), dtypes and arguments."""
from __future__ import annotations

import numpy as np
import pytest

from client_fixtures import counter, session  # noqa: F401
from torch_diff import same_as_torch

pytestmark = pytest.mark.usefixtures("session")
DTYPES = ("float32", "float64", "int32", "int64", "bool")
SHAPES = [(), (0,), (4,), (2, 3), (2, 0, 3)]


def array(seed, shape, dtype, *, zeros=0.0, nans=0.0, ties=False):
    rng = np.random.default_rng(seed)
    a = rng.integers(-2, 3, shape).astype(np.float64) if ties else rng.uniform(-2, 2, shape)
    a = np.where(rng.random(shape) < zeros, 0.0, a)
    if dtype == "bool":
        return a > 0
    if dtype.startswith("int"):
        return np.round(a * 2).astype(dtype)
    return np.where(rng.random(shape) < nans, np.nan, a).astype(dtype)


def tol(dtype):
    return {"rtol": 1e-4, "atol": 1e-4} if dtype == "float32" else {"rtol": 1e-6, "atol": 1e-6}


def dims(shape):
    return [0, -1] if not shape else list(range(-len(shape), len(shape)))


# -- scans ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["cumsum", "cumprod", "logcumsumexp", "cummax", "cummin"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_scans(name, dtype, shape):
    x = array(1, shape, dtype, zeros=0.3 if name == "cumprod" else 0.0, ties=name in ("cummax", "cummin"))
    for dim in dims(shape) + [len(shape) + 1]:
        same_as_torch(lambda lib, x: (getattr(lib, name)(x, dim), getattr(x, name)(dim=dim)), x,
                      second_order=dtype.startswith("float") and x.size > 0, **tol(dtype))


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_scan_gradients_at_zeros(name):
    for x in ([0.0, 2.0, 3.0], [1.5, 0.0, 2.0, 0.0, 3.0], [0.0, 0.0, 2.0], [2.0, -1.0, 0.0],
              [[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]):
        same_as_torch(lambda lib, x: getattr(lib, name)(x, -1), np.array(x), second_order=True)


def test_scans_nan_and_extremes():
    x = np.array([3.0, 1.0, np.nan, 3.0, np.nan, 0.5])
    same_as_torch(lambda lib, x: (lib.cummax(x, 0), lib.cummin(x, 0), lib.cumsum(x, 0)), x)
    big = np.array([-1000.0, 0.0, 1000.0, -50.0, 3.0])
    same_as_torch(lambda lib, x: lib.logcumsumexp(x, 0), big, second_order=True)
    same_as_torch(lambda lib, x: lib.logcumsumexp(x, 0), np.array([-np.inf, -np.inf, 1.0]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("out", [None, "float64", "int32", "int64"])
def test_scan_dtype(dtype, out):
    x = array(2, (2, 3), dtype)
    same_as_torch(lambda lib, x: (lib.cumsum(x, 1, dtype=out and getattr(lib, out)),
                                  x.cumprod(0, dtype=out and getattr(lib, out))), x)


def test_scans_in_place_and_names():
    x = array(3, (2, 3), "float32")
    same_as_torch(lambda lib, x: x.detach().clone().cumsum_(1), x)
    same_as_torch(lambda lib, x: x.clone().cumprod_(0), x, second_order=True, **tol("float32"))
    same_as_torch(lambda lib, x: x.detach().clone().cumsum_(0, dtype=lib.float64), x)
    same_as_torch(lambda lib, x: x.to(lib.int32).cumsum_(0), x)
    same_as_torch(lambda lib, x: [x.cumsum(0).grad_fn.name(), x.cumprod(0).grad_fn.name(),
                                  x.logcumsumexp(0).grad_fn.name(), x.cummax(0)[0].grad_fn.name(),
                                  x.cummin(0).values.grad_fn.name(), x.cummin(0).indices.grad_fn is None,
                                  repr(x.detach().cummax(1)), repr(x.detach().cummin(1))], x)
    for name in ("cumsum", "cumprod", "logcumsumexp", "cummax", "cummin"):
        same_as_torch(lambda lib, x: getattr(lib, name)(x), x)
    same_as_torch(lambda lib, x: x.detach().cumsum_(), x)
    same_as_torch(lambda lib, x: lib.std(x.detach() * 0 + 1, 0), x)


# -- reductions with dtype= and their relatives -----------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("out", [None, "float32", "float64", "int32", "int64"])
@pytest.mark.parametrize("name", ["sum", "mean", "prod", "nansum", "nanmean"])
def test_reductions_with_dtype(name, dtype, out):
    x = array(4, (2, 3), dtype, nans=0.2 if name.startswith("nan") else 0.0)
    for dim in (None, 0, -1, (0, 1)):
        if name == "prod" and isinstance(dim, tuple):
            continue
        kw = {} if dim is None else {"dim": dim}
        same_as_torch(lambda lib, x: (getattr(lib, name)(x, dtype=out and getattr(lib, out), **kw),
                                      getattr(x, name)(keepdim=True, dtype=out and getattr(lib, out),
                                                       **({"dim": 0} if dim is None else kw))), x,
                      second_order=x.size > 0, **tol("float32" if "float32" in (out, dtype) else "float64"))


def test_reduction_names_and_errors():
    x = array(5, (2, 3), "float32")
    same_as_torch(lambda lib, x: [x.sum(dtype=lib.float64).grad_fn.name(), x.prod().grad_fn.name(),
                                  x.prod(1).grad_fn.name(), x.nansum().grad_fn.name(),
                                  x.nanmean(0).grad_fn.name()], x)
    same_as_torch(lambda lib, x: lib.prod(x, (0, 1)), x)
    same_as_torch(lambda lib, x: lib.mean(x, dtype=lib.int64), x)
    same_as_torch(lambda lib, x: lib.nanmean(x.to(lib.int64)), x)
    same_as_torch(lambda lib, x: lib.mean(x.to(lib.int32)), x)
    same_as_torch(lambda lib, x: lib.sum(x, 2), x)
    same_as_torch(lambda lib, x: lib.nansum(x, (0, -3)), x)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["std_mean", "var_mean"])
def test_std_var_mean(name, shape):
    x = array(6, shape, "float64")
    f = lambda lib: getattr(lib, name)  # noqa: E731
    # With no degrees of freedom left (n <= correction) PyTorch's gradient is a closed form (inf, or NaN where
    # x is the mean) that gradwire's composition does not reproduce: values only there.
    for kw in ({}, {"dim": 0}, {"dim": -1, "keepdim": True}, {"correction": 0}, {"dim": (0,), "correction": 2}):
        n = x.size if "dim" not in kw or not shape else shape[kw["dim"] if isinstance(kw["dim"], int) else 0]
        live = n > kw.get("correction", 1)
        same_as_torch(lambda lib, x: f(lib)(x, **kw), x, second_order=live, requires_grad=live)
    same_as_torch(lambda lib, x: [f(lib)(x, False), f(lib)(x, 0, True) if shape else ()], x)
    same_as_torch(lambda lib, x: [t.grad_fn.name() for t in f(lib)(x)], x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_count_nonzero_and_aminmax(dtype, shape):
    x = array(7, shape, dtype, zeros=0.3, ties=True)
    for dim in [None] + dims(shape) + [5]:
        same_as_torch(lambda lib, x: lib.count_nonzero(x, dim), x)
        same_as_torch(lambda lib, x: (lib.aminmax(x, dim=dim), x.aminmax(dim=dim, keepdim=True)), x,
                      second_order=x.size > 0)
    if len(shape) > 1:
        same_as_torch(lambda lib, x: x.count_nonzero(dim=(0, -1)), x)
    same_as_torch(lambda lib, x: (repr(lib.aminmax(x.detach())), lib.aminmax(x).min.grad_fn.name())
                  if x.dtype.is_floating_point and x.numel() else lib.aminmax(x), x)
