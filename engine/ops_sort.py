"""Kernels of the order statistics (signatures in gradwire.core.sorting): sort orders and the indices of
medians and modes, which carry no gradient (values are gathered at them), and the median of all elements."""
from __future__ import annotations

import numpy as np

from .registry import defop


def _argsort_impl(x, axis, descending):
    if x.ndim == 0:
        return np.zeros((), np.int64)
    if not descending:
        return np.argsort(x, axis=axis, kind="stable").astype(np.int64)
    # Stable and descending: sort the reversed slices stably, then read that order backwards, so ties keep
    # their order and NaNs (NumPy's largest) come first, as in PyTorch.
    order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return (x.shape[axis] - 1 - np.flip(order, axis)).astype(np.int64)


defop("argsort", impl=_argsort_impl, vjp=None)


def _lower_median_index(row: np.ndarray, ignore_nan: bool) -> int:
    nan = np.isnan(row) if row.dtype.kind == "f" else np.zeros(row.shape, bool)
    if nan.any() and (not ignore_nan or nan.all()):
        return int(np.argmax(nan))                    # the first NaN
    order = np.argsort(row, kind="stable")            # NaNs last
    return int(order[(row.size - int(nan.sum()) - 1) // 2])


def _mode_index(row: np.ndarray) -> int:
    values, counts = np.unique(row, return_counts=True)
    v = values[np.argmax(counts)]                     # the first (smallest) of the most frequent
    return int(np.flatnonzero(row == v)[-1])


def _per_slice(pick):
    def impl(x, axis, **attrs):
        if x.ndim == 0:
            return np.zeros((), np.int64)
        xm = np.moveaxis(x, axis, -1)
        rows = xm.reshape(-1, xm.shape[-1])
        idx = np.array([pick(r, **attrs) for r in rows], np.int64).reshape(xm.shape[:-1] + (1,))
        return np.moveaxis(idx, -1, axis)
    return impl


defop("median_index", impl=_per_slice(_lower_median_index), vjp=None)
defop("mode_index", impl=_per_slice(_mode_index), vjp=None)


def _median_impl(x, ignore_nan):
    flat = x.reshape(-1)
    if flat.size == 0:
        with np.errstate(invalid="ignore"):
            return np.array(np.nan).astype(x.dtype)      # ints: NaN cast, as PyTorch's kernel gives
    return flat[_lower_median_index(flat, ignore_nan)].copy()


def _is_nan(s):
    return s.ne(s)


def _median_vjp(g, out, x, ignore_nan):
    """PyTorch's evenly_distribute_backward: the elements equal to the median (the NaNs, when it is NaN)
    share the gradient."""
    o = out.broadcast_to(shape=x.shape)
    hit = x.eq(o).logical_or(_is_nan(x).logical_and(_is_nan(o))).cast(dtype=x.dtype)
    return g.broadcast_to(shape=x.shape) * hit / hit.sum(axes=None, keepdims=False).broadcast_to(shape=x.shape)


defop("median", impl=_median_impl, vjp=(_median_vjp,),
      jvp=lambda tangents, out, x, ignore_nan: (_median_vjp(out.ones_like(), out, x, ignore_nan) * tangents[0])
      .sum(axes=None, keepdims=False))
