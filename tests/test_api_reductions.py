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


# -- sorts ---------------------------------------------------------------------------------------
def distinct(seed, shape, dtype, nans=0.0):
    """All values different (index choices among ties are PyTorch's implementation detail)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    a = (rng.permutation(n) - n // 2).reshape(shape) * 0.75
    if dtype.startswith("int"):
        return (a * 4).astype(dtype)
    return np.where(rng.random(shape) < nans, np.nan, a).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_sort_argsort_msort(dtype, shape):
    for x in (array(8, shape, dtype, ties=True), array(9, shape, dtype, nans=0.3, ties=True)):
        for dim in dims(shape) + [3]:
            same_as_torch(lambda lib, x: (lib.sort(x, dim), x.sort(dim=dim, descending=True),
                                          lib.sort(x, stable=True, dim=dim), x.sort(dim=dim, descending=True, stable=True),
                                          lib.argsort(x, dim), x.argsort(dim, descending=True),
                                          lib.argsort(x, dim=dim, stable=True)), x,
                          second_order=x.size > 0 and dtype.startswith("float"))
        same_as_torch(lambda lib, x: (lib.msort(x), x.msort(), lib.sort(x), x.argsort()), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_topk_kthvalue(dtype, shape):
    x = distinct(10, shape, dtype)
    for dim in dims(shape) + [4]:
        n = shape[dim] if shape and -len(shape) <= dim < len(shape) else 1
        for k in (0, 1, n, n + 1, -1):
            # (k=0 leaves outputs like (0, 3), which the harness cannot weight: no gradient check there)
            same_as_torch(lambda lib, x: (lib.topk(x, k, dim), x.topk(k, dim=dim, largest=False)), x,
                          second_order=x.size > 0, requires_grad=k != 0)
            same_as_torch(lambda lib, x: (lib.kthvalue(x, k, dim), x.kthvalue(k, dim, keepdim=True)), x,
                          second_order=x.size > 0)
    same_as_torch(lambda lib, x: (lib.topk(x, 1), x.kthvalue(1)), x)
    if x.size and dtype.startswith("float"):    # NaN is the largest value; NaNs tie: values only
        x = distinct(10, shape, dtype, nans=0.3)
        same_as_torch(lambda lib, x: (lib.topk(x, 1).values, x.topk(1, largest=False).values,
                                      x.kthvalue(1, 0).values), x, requires_grad=False)


def test_ties_compare_values():
    """Where values tie, PyTorch's topk/kthvalue/median/mode index choice is its kernel's: values only."""
    x = array(11, (3, 6), "float64", ties=True)
    for fn in (lambda lib, x: lib.topk(x, 3).values, lambda lib, x: lib.topk(x, 2, 0, False, False).values,
               lambda lib, x: lib.kthvalue(x, 4).values, lambda lib, x: lib.median(x, 1).values,
               lambda lib, x: lib.nanmedian(x, 0).values, lambda lib, x: lib.mode(x, 1).values):
        same_as_torch(fn, x, requires_grad=False)


def test_sort_names_and_reprs():
    x = distinct(12, (2, 3), "float32")
    same_as_torch(lambda lib, x: [x.sort().values.grad_fn.name(), x.topk(1).values.grad_fn.name(),
                                  x.kthvalue(1).values.grad_fn.name(), x.msort().grad_fn.name(),
                                  x.sort().indices.grad_fn is None, x.argsort().requires_grad,
                                  repr(x.detach().sort()), repr(x.detach().topk(2)),
                                  repr(x.detach().kthvalue(2, 0))], x)


# -- medians, modes, quantiles -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_median_nanmedian_mode(dtype, shape):
    for x in (distinct(13, shape, dtype), distinct(14, shape, dtype, nans=0.3)):
        same_as_torch(lambda lib, x: (lib.median(x), x.nanmedian()), x, second_order=x.size > 0)
        for dim in dims(shape) + [3]:
            same_as_torch(lambda lib, x: (lib.median(x, dim), x.median(dim, keepdim=True),
                                          lib.nanmedian(x, dim), x.nanmedian(dim=dim, keepdim=True)), x,
                          second_order=x.size > 0)
            if not np.isnan(x.astype(float)).any():
                same_as_torch(lambda lib, x: (lib.mode(x, dim), x.mode(dim, True)), x, second_order=x.size > 0)
    x = array(15, shape, dtype, ties=True)
    same_as_torch(lambda lib, x: (lib.median(x), lib.nanmedian(x)), x, second_order=x.size > 0)   # ties share


def test_median_mode_names():
    x = distinct(16, (2, 3), "float64")
    same_as_torch(lambda lib, x: [x.median().grad_fn.name(), x.median(0).values.grad_fn.name(),
                                  x.nanmedian().grad_fn.name(), x.nanmedian(1).values.grad_fn.name(),
                                  x.mode(1).values.grad_fn.name(), repr(x.detach().median(0)),
                                  repr(x.detach().nanmedian(0)), repr(x.detach().mode(0))], x)
    same_as_torch(lambda lib, x: lib.median(lib.zeros(0, dtype=x.dtype)), x)
    same_as_torch(lambda lib, x: lib.mode(x, keepdim=True), x)


Q = [0.0, 0.3, 0.5, 1.0, 1.5, -0.1, "tensor", "1-d", "2-d", "float64 q", "bad range"]


@pytest.mark.parametrize("name", ["quantile", "nanquantile"])
@pytest.mark.parametrize("dtype", ("float32", "float64", "int64"))
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("q", Q)
def test_quantile(name, dtype, shape, q):
    x = array(17, shape, dtype, nans=0.25, ties=True)
    qs = {"tensor": np.array(0.4, "float32"), "1-d": np.array([0.0, 0.25, 0.7, 1.0], "float32"),
          "2-d": np.full((2, 2), 0.5, "float32"), "float64 q": np.array([0.5]), "bad range": np.array([0.5, 1.2])}
    if isinstance(q, str):
        qa = qs[q] if q == "float64 q" or dtype != "float64" else qs[q].astype("float64")
        args, fq = (x, qa), lambda lib, x, q: q
    else:
        args, fq = (x,), lambda lib, x, *q_: q
    for dim in [None] + dims(shape)[:2] + [5]:
        for interpolation in ("linear", "lower", "higher", "midpoint", "nearest")[::1 if dim is None else 2]:
            same_as_torch(lambda lib, x, *q_: (getattr(lib, name)(x, fq(lib, x, *q_), dim,
                                                                  interpolation=interpolation),
                                               getattr(x, name)(fq(lib, x, *q_), dim=dim, keepdim=True,
                                                                interpolation=interpolation)),
                          *args, requires_grad=not isinstance(q, str), rtol=1e-5, atol=1e-5)
    same_as_torch(lambda lib, x, *q_: getattr(lib, name)(x, fq(lib, x, *q_), interpolation="cubic"), *args)


def test_quantile_gradients_and_names():
    x = distinct(18, (3, 4), "float64")
    for interpolation in ("linear", "lower", "higher", "midpoint", "nearest"):
        same_as_torch(lambda lib, x: (lib.quantile(x, 0.35, 1, interpolation=interpolation),
                                      lib.nanquantile(x, 0.8, interpolation=interpolation)), x, second_order=True)
    x[0, 1] = np.nan
    same_as_torch(lambda lib, x: (lib.quantile(x, 0.35, 1), lib.nanquantile(x, 0.6, 0)), x, second_order=True)
    same_as_torch(lambda lib, x: [lib.quantile(x, 0.5).grad_fn.name(), lib.nanquantile(x, 0.5, 0).grad_fn.name()],
                  x)
    q = np.array([0.0, 0.35, 0.9, 1.0])
    for interpolation in ("linear", "midpoint", "nearest"):
        same_as_torch(lambda lib, x, q: (lib.quantile(x, q, 1, interpolation=interpolation),
                                         lib.nanquantile(x, q, 0, True, interpolation=interpolation),
                                         lib.nanquantile(x, q[1], interpolation=interpolation)), x, q,
                      second_order=True)
    x[:, 2] = np.nan
    same_as_torch(lambda lib, x, q: (lib.nanquantile(x, q, 0), lib.quantile(x, q, 0)), x, q, second_order=True)


# -- unique ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES + [(4, 2), (3, 2, 2)])
def test_unique(dtype, shape):
    x = array(19, shape, dtype, nans=0.2, ties=True)
    if len(shape) >= 2:
        x[1] = x[0]                      # a repeated slice along dim 0
    for dim in [None] + dims(shape) + [4]:
        if dim is not None and dtype.startswith("float"):
            x = np.nan_to_num(x)     # slices holding NaN: PyTorch's order of them is its sort's detail
        for flags in ((False, False), (True, False), (False, True), (True, True)):
            same_as_torch(lambda lib, x: (lib.unique(x, True, *flags, dim=dim),
                                          x.unique(sorted=False, return_inverse=flags[0], return_counts=flags[1],
                                                   dim=dim),
                                          lib.unique_consecutive(x, return_inverse=flags[0], return_counts=flags[1],
                                                                 dim=dim),
                                          x.unique_consecutive(return_inverse=flags[0], return_counts=flags[1],
                                                               dim=dim)), x, requires_grad=False)
    # PyTorch's float results carry a grad_fn (Unique2Backward0) whose backward raises "not implemented";
    # gradwire's carry none (see the README's table of differences).


@pytest.mark.parametrize("shape", SHAPES)
def test_nan_reductions_shapes(shape):
    x = array(20, shape, "float64", nans=0.4)
    for dim in [None] + dims(shape) + [(0, -1) if len(shape) > 1 else 7]:
        kw = {} if dim is None else {"dim": dim}
        same_as_torch(lambda lib, x: (lib.nansum(x, **kw), x.nanmean(keepdim=True, **kw),
                                      lib.count_nonzero(x, dim)), x, second_order=x.size > 0)


@pytest.mark.parametrize("name", ["sum", "mean", "prod", "amax", "amin", "max", "min", "argmax", "argmin", "all",
                                  "any", "logsumexp", "norm", "var", "std"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_reductions_over_shapes(name, dtype, shape):
    """Every dim form (none, one, negative, a tuple where PyTorch takes one, out of range) on 0-d and empty
    inputs: PyTorch's values, or its errors (max() of nothing, a dim of size 0 without identity)."""
    x = array(21, shape, dtype)
    forms = [None] + dims(shape) + [len(shape) + 2]
    if len(shape) > 1:
        forms.append((0, -1))
    # dim=(): every dim, as PyTorch reads an empty list (its var/std gradient there is a different formula's)
    if name not in ("max", "min", "argmax", "argmin", "logsumexp", "all", "any", "var", "std"):
        forms.append(())
    for dim in forms:
        if name in ("max", "min", "argmax", "argmin", "prod") and isinstance(dim, tuple):
            continue          # (prod's TypeError for a tuple is checked in test_reduction_names_and_errors)
        if name == "logsumexp" and dim is None:
            continue
        kw = {} if dim is None else {"dim": dim}
        same_as_torch(lambda lib, x: getattr(lib, name)(x, **kw), x, second_order=x.size > 1, **tol(dtype))
        if dim is not None:
            same_as_torch(lambda lib, x: getattr(x, name)(keepdim=True, **kw), x, **tol(dtype))
