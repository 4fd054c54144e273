"""Op-table cases of the scans and order statistics (see op_table.py for the fields)."""
from __future__ import annotations

import autograd.numpy as anp
import hypothesis.strategies as st
import numpy as np

from op_table import Example, case, distinct, draw_axes, norm_axes, shape, signed, smooth


def _axis(data, shp):
    """A dim of shp (0 or -1 for 0-d), sometimes negative; returns (attr, normalized)."""
    if not shp:
        a = data.draw(st.sampled_from([0, -1]))
        return a, 0
    a = data.draw(st.integers(0, len(shp) - 1))
    return signed(data, a, len(shp)), a


def _chain(step, x, a):
    """out_i = step(out_{i-1}, x_i) along axis a, with autograd.numpy ops only (differentiable as written)."""
    if x.ndim == 0:
        return x
    xs = [x[(slice(None),) * a + (i,)] for i in range(x.shape[a])]
    if not xs:
        return x
    out = [xs[0]]
    for v in xs[1:]:
        out.append(step(out[-1], v))
    return anp.stack(out, axis=a)


@case("cumsum", "cumprod", "logcumsumexp")
def _scan(name, data, rng):
    shp = shape(data)
    attr, a = _axis(data, shp)
    x = smooth(rng, shp)
    if name == "cumprod" and x.size and data.draw(st.booleans()):
        x = np.where(rng.random(shp) < 0.3, 0.0, x)    # exact zeros: one, two or more per slice
    step = {"cumsum": lambda o, v: o + v, "cumprod": lambda o, v: o * v, "logcumsumexp": anp.logaddexp}[name]
    return Example([x], {"axis": attr}, lambda x: _chain(step, x, a), (0,))


def _per_row(fn, x, a, keep=False):
    """fn(row) -> int or index array, applied to every 1-d slice along a (a kept size-1 dim when keep)."""
    if x.ndim == 0:
        return np.zeros((), np.int64)
    xm = np.moveaxis(x, a, -1)
    if not x.size:
        return np.zeros(x.shape, np.int64)
    rows = xm.reshape(-1, xm.shape[-1])
    out = np.array([fn(r) for r in rows], np.int64).reshape(xm.shape[:-1] + ((1,) if keep else (xm.shape[-1],)))
    return np.moveaxis(out, -1, a)


def _ties(rng, shp):
    return rng.integers(-2, 3, shp).astype(np.float64)


def _running(row, better):
    out, best = [], 0
    for i, v in enumerate(row):
        if i == 0 or np.isnan(v) or (not np.isnan(row[best]) and better(v, row[best])):
            best = i
        out.append(best)
    return out


@case("cummax_indices", "cummin_indices")
def _cum_index(name, data, rng):
    shp = shape(data)
    attr, a = _axis(data, shp)
    x = _ties(rng, shp)
    if x.size and data.draw(st.booleans()):
        x = np.where(rng.random(shp) < 0.2, np.nan, x)
    better = (lambda v, b: v >= b) if name == "cummax_indices" else (lambda v, b: v <= b)
    return Example([x], {"axis": attr}, lambda x: _per_row(lambda r: _running(r, better), x, a))


@case("argsort")
def _argsort(name, data, rng):
    shp = shape(data)
    attr, a = _axis(data, shp)
    descending = data.draw(st.booleans())
    x = _ties(rng, shp)
    if x.size and data.draw(st.booleans()):
        x = np.where(rng.random(shp) < 0.2, np.nan, x)

    def order(r):   # Python's sort is stable; NaN sorts as the largest value
        key = [(bool(np.isnan(v)), 0.0 if np.isnan(v) else float(v)) for v in r]
        ix = sorted(range(len(r)), key=lambda i: key[i])
        if descending:
            ix = sorted(range(len(r)), key=lambda i: key[i], reverse=True)   # reverse=True is stable too
        return ix
    return Example([x], {"axis": attr, "descending": descending}, lambda x: _per_row(order, x, a))


@case("median_index")
def _median_index(name, data, rng):
    shp = shape(data, min_side=1)
    attr, a = _axis(data, shp)
    ignore_nan = data.draw(st.booleans())
    x = distinct(rng, shp)
    if data.draw(st.booleans()):
        x = np.where(rng.random(shp) < 0.3, np.nan, x)

    def pick(r):
        nan = np.isnan(r)
        if nan.any() and (not ignore_nan or nan.all()):
            return int(np.flatnonzero(nan)[0])
        live = np.flatnonzero(~nan)
        return int(live[np.argsort(r[live])[(live.size - 1) // 2]])
    return Example([x], {"axis": attr, "ignore_nan": ignore_nan}, lambda x: _per_row(pick, x, a, keep=True))


@case("mode_index")
def _mode_index(name, data, rng):
    shp = shape(data, min_side=1)
    attr, a = _axis(data, shp)
    x = _ties(rng, shp)

    def pick(r):
        counts = {v: int((r == v).sum()) for v in r}
        best = min(counts, key=lambda v: (-counts[v], v))
        return int(np.flatnonzero(r == best)[-1])
    return Example([x], {"axis": attr}, lambda x: _per_row(pick, x, a, keep=True))


@case("median")
def _median(name, data, rng):
    shp = shape(data, min_side=1)
    ignore_nan = data.draw(st.booleans())
    x = distinct(rng, shp)
    if ignore_nan and x.size > 1 and data.draw(st.booleans()):
        x = np.where(rng.random(shp) < 0.3, np.nan, x)
        x.flat[0] = 0.05
    flat = x.reshape(-1)
    live = np.flatnonzero(~np.isnan(flat))
    k = int(live[np.argsort(flat[live], kind="stable")[(live.size - 1) // 2]])
    return Example([x], {"ignore_nan": ignore_nan}, lambda x: anp.reshape(x, (-1,))[k], (0,))


@case("nansum")
def _nansum(name, data, rng):
    shp = shape(data)
    x = np.where(rng.random(shp) < 0.3, np.nan, smooth(rng, shp))
    axes, keepdims = draw_axes(data, len(shp)), data.draw(st.booleans())
    ax = norm_axes(axes, len(shp))
    nan = np.isnan(x)
    return Example([x], {"axes": axes, "keepdims": keepdims},
                   lambda x: anp.sum(anp.where(nan, 0.0, x), axis=ax, keepdims=keepdims), (0,))
