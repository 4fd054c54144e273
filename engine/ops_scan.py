"""Kernels and derivatives of scans along a dim (signatures in gradwire.core.sorting)."""
from __future__ import annotations

import numpy as np

from gradwire.core.structural import BIG

from .registry import defop


def _flip(s, axis):
    """s reversed along axis (a slice with step -1, so it differentiates as one)."""
    return s.slice(starts=(0,) * axis + (BIG,), stops=(BIG,) * axis + (-BIG,), steps=(1,) * axis + (-1,))


def _revcumsum(s, axis):
    """out_i = sum over j >= i of s_j."""
    return _flip(_flip(s, axis).cumsum(axis=axis), axis)


def _accumulated(fn):
    """PyTorch's CPU scans accumulate floats in double and ints in int64."""
    def impl(x, axis):
        out = x.dtype if x.dtype.kind == "f" else np.dtype(np.int64)
        if x.ndim == 0:
            return x.astype(out)
        return fn(x, axis=axis, dtype=np.float64 if out.kind == "f" else np.int64).astype(out)
    return impl


defop("cumsum", impl=_accumulated(np.cumsum),
      vjp=(lambda g, out, x, axis: g if x.ndim == 0 else _revcumsum(g, axis),),
      jvp=lambda tangents, out, x, axis: tangents[0] if x.ndim == 0 else tangents[0].cumsum(axis=axis))


def _cumprod_parts(x, axis):
    """Masks and values for the exact derivative at zeros: `before` marks positions before a slice's first
    zero, `first` the first zero; x1 is x with its first zero replaced by 1, so cumprod(x1)_j is the product
    of x_k over k <= j without that zero (what d out_j / d x_z is)."""
    zero = x.eq(0.0)
    seen = zero.cast(dtype=x.dtype).cumsum(axis=axis)       # zeros so far, inclusive
    before, first = seen.eq(0.0), zero.logical_and(seen.eq(1.0))
    ones = x.ones_like()
    return before, first, before.where(x, ones), first.where(ones, x).cumprod(axis=axis)


def _simple_vjp(g, out, x, axis, parts):
    """d out_j / d x_i = out_j / x_i before the first zero, cumprod(x1)_j at it; 0 after it (exact values, but
    their derivative in the first zero is not: see _cumprod_vjp)."""
    before, first, safe, cp1 = parts
    zeros = g.zeros_like()
    return before.where(_revcumsum(g * out, axis) / safe, first.where(_revcumsum(g * cp1, axis), zeros))


def _simple_jvp(t, out, x, axis, parts):
    before, first, safe, cp1 = parts
    zeros = t.zeros_like()
    return out * before.where(t / safe, zeros).cumsum(axis=axis) + cp1 * first.where(t, zeros).cumsum(axis=axis)


def _after_first_zero(x, axis, parts):
    """(positions after the first zero, x1, the first zero's value x_z spread along the axis). After the
    first zero, d out_j / d x_i = x_z * (the same derivative of cumprod(x1)): 0 in value, but its derivative
    in x_z is not, which is what makes second derivatives exact too (as PyTorch's are)."""
    before, first, _, _ = parts
    x1 = first.where(x.ones_like(), x)
    xz = first.where(x, x.zeros_like()).sum(axes=(axis,), keepdims=True).broadcast_to(shape=x.shape)
    return before.logical_or(first).logical_not(), x1, xz


def _cumprod_vjp(g, out, x, axis):
    if x.ndim == 0:
        return g
    parts = _cumprod_parts(x, axis)
    after, x1, xz = _after_first_zero(x, axis, parts)
    cp1 = parts[3]
    inner = xz * _simple_vjp(g, cp1, x1, axis, _cumprod_parts(x1, axis))
    return after.where(inner, _simple_vjp(g, out, x, axis, parts))


def _cumprod_jvp(tangents, out, x, axis):
    (t,) = tangents
    if x.ndim == 0:
        return t
    parts = _cumprod_parts(x, axis)
    after, x1, xz = _after_first_zero(x, axis, parts)
    later = after.where(t, t.zeros_like())
    return _simple_jvp(t, out, x, axis, parts) + xz * _simple_jvp(later, parts[3], x1, axis, _cumprod_parts(x1, axis))


defop("cumprod", impl=_accumulated(np.cumprod), vjp=(_cumprod_vjp,), jvp=_cumprod_jvp)


def _logcumsumexp_impl(x, axis):
    if x.ndim == 0:
        return x.copy()
    return np.logaddexp.accumulate(x.astype(np.float64), axis=axis).astype(x.dtype)


def _signed_logs(s, shift):
    """(log|s| + shift where s > 0, the same where s < 0), the lowest float elsewhere (PyTorch's formula:
    the lowest finite float, not -inf, keeps exp and its derivatives free of NaN)."""
    lowest = s.b.scalar(float(np.finfo(s.dtype).min), s).broadcast_to(shape=s.shape)
    la = s.abs().log() + shift
    return (s > 0.0).where(la, lowest), (s < 0.0).where(la, lowest)


def _logcumsumexp_vjp(g, out, x, axis):
    """grad_i = sum over j >= i of g_j exp(x_i - out_j), summed in log space by sign."""
    if x.ndim == 0:
        return g
    pos, neg = _signed_logs(g, -out)
    rev = lambda s: _flip(_flip(s, axis).logcumsumexp(axis=axis), axis)  # noqa: E731
    return (rev(pos) + x).exp() - (rev(neg) + x).exp()


def _logcumsumexp_jvp(tangents, out, x, axis):
    """d out_j = sum over i <= j of t_i exp(x_i - out_j), the same way."""
    (t,) = tangents
    if x.ndim == 0:
        return t
    pos, neg = _signed_logs(t, x)
    return (pos.logcumsumexp(axis=axis) - out).exp() - (neg.logcumsumexp(axis=axis) - out).exp()


defop("logcumsumexp", impl=_logcumsumexp_impl, vjp=(_logcumsumexp_vjp,), jvp=_logcumsumexp_jvp)


def _cum_extreme_index(better):
    """PyTorch's rule: position i takes over when x_i is NaN, or when the running value is not NaN and
    better(x_i, running) (>= for cummax, <= for cummin: the latest of ties)."""
    def impl(x, axis):
        if x.ndim == 0:
            return np.zeros((), np.int64)
        xm = np.moveaxis(x, axis, 0)
        idx = np.zeros(xm.shape, np.int64)
        if xm.shape[0]:
            best, cur = xm[0].copy(), np.zeros(xm.shape[1:], np.int64)
            for i in range(1, xm.shape[0]):
                v = xm[i]
                take = better(v, best)
                if x.dtype.kind == "f":
                    take = np.isnan(v) | (~np.isnan(best) & take)
                best, cur = np.where(take, v, best), np.where(take, i, cur)
                idx[i] = cur
        return np.moveaxis(idx, 0, axis)
    return impl


defop("cummax_indices", impl=_cum_extreme_index(np.greater_equal), vjp=None)
defop("cummin_indices", impl=_cum_extreme_index(np.less_equal), vjp=None)
