"""Declarations of PyTorch's sorts and order statistics (sort, argsort, msort, topk, kthvalue, median, nanmedian,
mode, quantile, nanquantile) and of unique / unique_consecutive. Values come back as `gather`s of the input at
the chosen indices, so their gradient goes to the selected elements, as PyTorch's; indices are int64 without
history."""
from __future__ import annotations

import numpy as np

from gradwire._grad_mode import is_grad_enabled
from gradwire.api_reductions import gather_at, return_type
from gradwire.core import shapes
from gradwire.core.dtypes import FLOATS
from gradwire.core.elementwise import not_implemented
from gradwire.core.structural import BIG
from gradwire.declare import autograd, declare
from gradwire.ops import apply
from gradwire.tensor import Tensor, leaf_from_data

for _op in ("argsort", "median_index", "mode_index"):
    autograd(_op, history=False)
autograd("median", "MedianBackward0", saves="all", saves_output=True)

_Sort, _Topk, _Kthvalue = return_type("sort"), return_type("topk"), return_type("kthvalue")
_Median, _Nanmedian, _Mode = return_type("median"), return_type("nanmedian"), return_type("mode")


def _slice(x, d: int, start: int, stop: int):
    return apply("slice", x, attrs={"starts": (0,) * d + (start,), "stops": (BIG,) * d + (stop,),
                                    "steps": (1,) * (d + 1)})


def _size(x, d: int) -> int:
    return x.shape[d] if x.ndim else 1


def _picked(cls, input, index, d: int, keepdim: bool, label: str):
    """(values, indices) at index (the reduced dim kept with size 1), that dim dropped unless keepdim."""
    values = gather_at(input, index, d, label)
    if not keepdim and input.ndim:
        values = apply("squeeze", values, attrs={"axes": (d,)}, label=label)
        index = apply("squeeze", index, attrs={"axes": (d,)})
    return cls(values, index)


# -- sorts ---------------------------------------------------------------------------------------
def _order(input, dim, descending):
    d = shapes.axis(int(dim), input.ndim)
    return d, apply("argsort", input, attrs={"axis": d, "descending": bool(descending)})


@declare()
def sort(input, dim=-1, descending=False, *, stable=False):
    """(sorted values, their indices) along dim; a stable sort (ties keep their order, NaN sorts largest), as
    torch.sort, whose CPU sort is stable too."""
    d, index = _order(input, dim, descending)
    return _Sort(gather_at(input, index, d, "SortBackward0"), index)


@declare()
def argsort(input, dim=-1, descending=False, *, stable=False):
    """The indices that sort input along dim (stable), as torch.argsort."""
    return _order(input, dim, descending)[1]


@declare()
def msort(input):
    """input sorted along its first dim, as torch.msort."""
    return sort(input, 0).values


@declare()
def topk(input, k, dim=-1, largest=True, sorted=True):
    """(the k largest or smallest values along dim, their indices), sorted; which of equal values PyTorch
    picks is not specified (gradwire takes the first in order), as torch.topk."""
    d, index = _order(input, dim, largest)
    k = int(k)
    if not 0 <= k <= _size(input, d):
        raise RuntimeError("selected index k out of range")
    if input._node.dtype == "bool":
        raise RuntimeError("topk does not support bool dtypes on CPU")
    if input.ndim:
        index = _slice(index, d, 0, k)
    return _Topk(gather_at(input, index, d, "TopkBackward0"), index)


@declare()
def kthvalue(input, k, dim=-1, keepdim=False):
    """(the k-th smallest value along dim, its index), as torch.kthvalue (of equal values, the index of one)."""
    d = shapes.axis(int(dim), input.ndim)
    if input.ndim and input.shape[d] == 0:
        raise IndexError(f"kthvalue(): Expected reduction dim {d} to have non-zero size.")
    k = int(k)
    if not 1 <= k <= _size(input, d):
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    if input._node.dtype == "bool" and input.ndim:
        raise not_implemented("kthvalue_cpu", "bool")
    _, index = _order(input, d, False)
    if input.ndim:
        index = _slice(index, d, k - 1, k)
    return _picked(_Kthvalue, input, index, d, keepdim, "KthvalueBackward0")


# -- medians and modes -----------------------------------------------------------------------------
def _median(input, dim, keepdim, ignore_nan):
    name = "Nanmedian" if ignore_nan else "Median"
    if dim is None and not keepdim:
        return apply("median", input, attrs={"ignore_nan": ignore_nan}, label=f"{name}Backward0")
    d = shapes.axis(-1 if dim is None else int(dim), input.ndim)
    index = apply("median_index", input, attrs={"axis": d, "ignore_nan": ignore_nan})
    return _picked(_Nanmedian if ignore_nan else _Median, input, index, d, keepdim, f"{name}Backward1")


@declare()
def median(input, dim=None, keepdim=False):
    """median(x): the lower median of all elements (NaN if one is NaN; ties share the gradient);
    median(x, dim) -> (values, indices) along dim, as torch.median (of equal values, the index of one)."""
    return _median(input, dim, keepdim, False)


@declare()
def nanmedian(input, dim=None, keepdim=False):
    """The lower median of the non-NaN values (NaN when there are none), as torch.nanmedian."""
    return _median(input, dim, keepdim, True)


@declare()
def mode(input, dim=-1, keepdim=False):
    """(the most frequent value along dim, the index of its last occurrence); of equally frequent values the
    smallest, as torch.mode (inputs with NaN are not matched)."""
    d = shapes.axis(int(dim), input.ndim)
    index = apply("mode_index", input, attrs={"axis": d})
    return _picked(_Mode, input, index, d, keepdim, "ModeBackward0")


# -- quantiles -------------------------------------------------------------------------------------
_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _q_values(input, q) -> np.ndarray:
    """q as an array of the input's dtype, checked as PyTorch checks it (before the input's own checks)."""
    dtype = input._node.dtype
    if isinstance(q, Tensor):
        return q
    q = float(q)
    if not 0 <= q <= 1:
        raise RuntimeError(f"quantile() q must be in the range [0, 1] but got {q:g}")
    return np.asarray(q, dtype if dtype in FLOATS else "float64")


def _quantile(input, q, dim, keepdim, interpolation, ignore_nan):
    """PyTorch's algorithm (aten quantile_compute): sort along the dim, ranks q * (n - 1) in the input's dtype
    (n: the non-NaN count for nanquantile; the last index where a slice has NaN, for quantile), values at
    the ranks below and above blended by lerp. The input's NaNs decide the ranks: one request reads its value.
    q (a tensor) gets its gradient through the linear weights, as in PyTorch."""
    q = _q_values(input, q)
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError("quantile() interpolation must be one of linear, lower, higher, midpoint or nearest, "
                           f"but got {interpolation}")
    dtype = input._node.dtype
    if input.numel() == 0:
        raise RuntimeError("quantile() input tensor must be non-empty")
    qv = q._value() if isinstance(q, Tensor) else q
    if qv.ndim > 1:
        raise RuntimeError("quantile() q must be a scalar or 1D tensor")
    if dtype not in FLOATS:
        raise RuntimeError("quantile() input tensor must be either float or double dtype")
    if qv.dtype.name != dtype:
        raise RuntimeError("quantile() q tensor must be same dtype as the input tensor")
    shape = tuple(input.shape)
    d = shapes.axis(0 if dim is None else int(dim), len(shape))
    if not ((qv >= 0) & (qv <= 1)).all():
        raise RuntimeError("quantile() q values must be in the range [0, 1]")
    if dim is None:
        moved = apply("reshape", input, attrs={"shape": (-1,)})
        out_shape = (1,) * len(shape) if keepdim else ()
    else:
        perm = tuple(k for k in range(len(shape)) if k != d) + (d,)
        moved = apply("transpose", input, attrs={"perm": perm}) if len(shape) > 1 else \
            apply("reshape", input, attrs={"shape": (-1,)})
        out_shape = shapes.reduced(shape, (d,) if shape else (), bool(keepdim))
    x = np.asarray(input._value())
    x = x.reshape(-1) if dim is None or len(shape) <= 1 else np.transpose(x, perm)
    rest, n = x.shape[:-1], x.shape[-1]
    sorted_ = sort(moved, -1).values
    qs = qv.reshape(-1)
    nan = np.isnan(x)
    t = np.dtype(dtype).type
    grid = rest + (qs.size,)
    if ignore_nan:
        scale = np.broadcast_to((n - nan.sum(-1, keepdims=True) - 1).astype(dtype), grid)
        ranks = qs * scale
        fixed = ranks < 0
        ranks = np.where(fixed, t(0), ranks)
    else:
        scale = np.broadcast_to(np.asarray(n - 1, dtype), grid)
        fixed = np.broadcast_to(nan.any(-1, keepdims=True), grid)
        ranks = np.where(fixed, t(n - 1), qs * t(n - 1))
    ranks = np.broadcast_to(ranks, grid).astype(dtype)
    ranks = {"lower": np.floor, "higher": np.ceil, "nearest": np.round}.get(interpolation, lambda r: r)(ranks)
    below = ranks.astype(np.int64)
    session = input._node.session
    out = apply("gather", sorted_, leaf_from_data(session, below), attrs={"axis": -1})
    if interpolation in ("linear", "midpoint"):
        weights = np.where(ranks == below, t(0), t(0.5)) if interpolation == "midpoint" else ranks - below
        w = leaf_from_data(session, weights.astype(dtype))
        if interpolation == "linear" and isinstance(q, Tensor) and q.requires_grad and is_grad_enabled():
            # The weights as PyTorch computes them, q * scale - below, so q gets its gradient too.
            qb = apply("broadcast_to", apply("reshape", q, attrs={"shape": (qs.size,)}), attrs={"shape": grid})
            live = qb * leaf_from_data(session, np.ascontiguousarray(scale)) - leaf_from_data(session,
                                                                                            below.astype(dtype))
            w = apply("where", leaf_from_data(session, np.ascontiguousarray(fixed)), w, live)
        above = apply("gather", sorted_, leaf_from_data(session, np.ceil(ranks).astype(np.int64)),
                      attrs={"axis": -1})
        out = apply("lerp", out, above, w)
    if qv.ndim:
        out = apply("transpose", out, attrs={"perm": (len(rest),) + tuple(range(len(rest)))})
        out_shape = (qs.size,) + out_shape
    return apply("reshape", out, attrs={"shape": out_shape}, label="SqueezeBackward4")


@declare()
def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The q-th quantiles (q a number or a 1-d tensor) over dim or all elements, as torch.quantile; reads the
    input's value (one request) for its NaNs."""
    return _quantile(input, q, dim, keepdim, interpolation, False)


@declare()
def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """quantile ignoring NaNs, as torch.nanquantile; reads the input's value (one request)."""
    return _quantile(input, q, dim, keepdim, interpolation, True)


# -- unique ----------------------------------------------------------------------------------------
def _unique_dim(x: np.ndarray, dim) -> int | None:
    if dim is None:
        return None
    if x.ndim == 0:
        raise IndexError(f"Dimension specified as {int(dim)} but tensor has no dimensions")
    d = shapes.axis(int(dim), x.ndim)
    if x.size == 0 and any(s == 0 for k, s in enumerate(x.shape) if k != d):
        raise RuntimeError("There are 0 sized dimensions, and they aren't selected, so unique cannot be applied")
    return d


def _results(input, values, inverse, counts, return_inverse, return_counts):
    session = input._node.session
    out = [leaf_from_data(session, np.asarray(values), input._node.dtype)]
    if return_inverse:
        out.append(leaf_from_data(session, np.asarray(inverse, np.int64)))
    if return_counts:
        out.append(leaf_from_data(session, np.asarray(counts, np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


@declare()
def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values (or slices along dim), sorted (PyTorch's CPU kernel sorts for sorted=False too; NaNs
    stay distinct), with the inverse indices and counts on request, as torch.unique. The result's shape depends
    on the input's values: one request reads them; the results have no gradient (PyTorch's have none)."""
    x = np.asarray(input._value())
    d = _unique_dim(x, dim)
    if d is None:
        values, inverse, counts = np.unique(x.reshape(-1), return_inverse=True, return_counts=True, equal_nan=False)
        inverse = inverse.reshape(x.shape)
    elif x.shape[d] == 0:
        values, inverse, counts = x, np.zeros(0, np.int64), np.zeros(0, np.int64)
    else:
        values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True, axis=d)
        inverse = inverse.reshape(-1)
    return _results(input, values, inverse, counts, return_inverse, return_counts)


@declare()
def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """Collapse runs of equal consecutive values (or slices along dim; NaNs never equal), as
    torch.unique_consecutive; reads the input's values (one request), no gradient."""
    x = np.asarray(input._value())
    d = _unique_dim(x, dim)
    rows = x.reshape(-1) if d is None else np.moveaxis(x, d, 0)
    n = rows.shape[0]
    changed = np.ones(n, bool)
    if n > 1:
        diff = rows[1:] != rows[:-1]
        changed[1:] = diff.reshape(n - 1, -1).any(axis=1) if diff.ndim > 1 else diff
    starts = np.flatnonzero(changed)
    values = rows[starts] if d is None else np.moveaxis(rows[starts], 0, d)
    inverse = np.cumsum(changed) - 1
    counts = np.diff(np.append(starts, n))
    return _results(input, values, inverse.reshape(x.shape) if d is None else inverse, counts, return_inverse,
                    return_counts)

