"""Kernels and derivatives of the scatters along a dim (scatter, scatter_reduce); signatures in
gradwire.core.indexing. Derivative rules follow PyTorch's (tools/autograd/FunctionsManual.cpp,
scatter_reduce_backward): ties of amax/amin share the gradient evenly, prod is exact where values are zero."""
from __future__ import annotations

import numpy as np

from .kernels import _checked
from .registry import defop

_UFUNCS = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}


def _along(idx, axis, size):
    """The fancy index naming base[..., idx[i], ...] along axis for every position i of idx."""
    grids = np.indices(idx.shape, sparse=True)
    return tuple(_checked(idx, size) if k == axis else g for k, g in enumerate(grids))


def _as_1d(fn):
    """0-d base, index and src act as one element on one dim (PyTorch's rule)."""
    def impl(base, idx, src, **attrs):
        if base.ndim:
            return fn(base, idx, src, **attrs)
        return fn(base.reshape(1), np.reshape(idx, 1), src.reshape(1), **attrs).reshape(())
    return impl


@_as_1d
def scatter(base, idx, src, axis):
    out = base.copy()
    out[_along(idx, axis, base.shape[axis])] = src
    return out


def _identity(reduce, dtype):
    """The value a position written only by src starts from (include_self=False)."""
    if dtype.kind == "b":
        return {"sum": False, "mean": False, "prod": True, "amax": False, "amin": True}[reduce]
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    big = np.inf if dtype.kind == "f" else np.iinfo(dtype).max
    return -big if reduce == "amax" else big


@_as_1d
def scatter_reduce(base, idx, src, axis, reduce, include_self):
    at = _along(idx, axis, base.shape[axis])
    out = base.copy()
    if not include_self:
        out[at] = _identity(reduce, base.dtype)
    _UFUNCS[reduce].at(out, at, src)
    if reduce == "mean":
        count = np.zeros(base.shape, np.int64)
        np.add.at(count, at, 1)
        count += include_self
        if out.dtype.kind == "f":
            out = np.where(count > 0, out / np.maximum(count, 1), out).astype(base.dtype)
        else:
            out = np.where(count > 0, np.floor_divide(out, np.maximum(count, 1)), out).astype(base.dtype)
    return out


def _scatter_vjp_base(g, out, base, idx, src, axis):
    return g.scatter(idx, src.zeros_like(), axis=axis)


def _scatter_jvp(tangents, out, base, idx, src, axis):
    tb, _, ts = tangents
    return (tb if tb is not None else base.zeros_like()).scatter(idx, ts if ts is not None else src.zeros_like(),
                                                                 axis=axis)


defop("scatter", impl=scatter,
      vjp=(_scatter_vjp_base, None, lambda g, out, base, idx, src, axis: g.gather(idx, axis=axis)),
      jvp=_scatter_jvp)


def _partials(out, base, idx, src, axis, reduce, include_self):
    """(d out / d base, d out / d src gathered back to src's positions), elementwise, or None for ones."""
    b = out.b
    if reduce == "sum":
        return None, None
    if reduce == "mean":
        n = src.ones_like().gather_add(idx, axis=axis, shape=base.shape)
        if include_self:
            n = n + 1.0
        n = b.op("where", n.eq(0.0), n.ones_like(), n)
        return 1.0 / n, 1.0 / n.gather(idx, axis=axis)
    if reduce in ("amax", "amin"):
        value = out.gather(idx, axis=axis)
        self_is = base.eq(out).cast(dtype=base.dtype)
        src_is = src.eq(value).cast(dtype=base.dtype)
        n = self_is + src_is.gather_add(idx, axis=axis, shape=base.shape)
        return self_is / n, src_is / n.gather(idx, axis=axis)
    # prod: the product of the others, exact where values are zero
    self_zero = base.eq(0.0)
    masked_self = b.op("where", self_zero, base.ones_like(), base)
    d_self = masked_self.scatter_reduce(idx, src, axis=axis, reduce="prod", include_self=include_self) / masked_self
    src_zero = src.eq(0.0)
    zeros = src_zero.cast(dtype=base.dtype).gather_add(idx, axis=axis, shape=base.shape).gather(idx, axis=axis)
    single = b.op("logical_and", src_zero, zeros.eq(1.0))
    masked_src = b.op("where", single, src.ones_like(), src)
    others = base.scatter_reduce(idx, masked_src, axis=axis, reduce="prod", include_self=include_self)
    d_src = b.op("where", single, others.gather(idx, axis=axis),
                 out.gather(idx, axis=axis) / b.op("where", src_zero, src.ones_like(), src))
    return d_self, d_src


def _reduce_vjp_base(g, out, base, idx, src, axis, reduce, include_self):
    d_self, _ = _partials(out, base, idx, src, axis, reduce, include_self)
    gb = g if d_self is None else g * d_self
    return gb if include_self else gb.scatter(idx, src.zeros_like(), axis=axis)


def _reduce_vjp_src(g, out, base, idx, src, axis, reduce, include_self):
    _, d_src = _partials(out, base, idx, src, axis, reduce, include_self)
    gs = g.gather(idx, axis=axis)
    return gs if d_src is None else gs * d_src


def _reduce_jvp(tangents, out, base, idx, src, axis, reduce, include_self):
    tb, _, ts = tangents
    d_self, d_src = _partials(out, base, idx, src, axis, reduce, include_self)
    parts = []
    if tb is not None:
        t = tb if d_self is None else tb * d_self
        parts.append(t if include_self else t.scatter(idx, src.zeros_like(), axis=axis))
    if ts is not None:
        parts.append((ts if d_src is None else ts * d_src).gather_add(idx, axis=axis, shape=base.shape))
    return parts[0] if len(parts) == 1 else parts[0] + parts[1]


defop("scatter_reduce", impl=scatter_reduce, vjp=(_reduce_vjp_base, None, _reduce_vjp_src), jvp=_reduce_jvp)
