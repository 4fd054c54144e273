"""Kernels and derivatives of reductions and normalizations over axes (signatures in gradwire.core.reductions)."""
from __future__ import annotations

import math

import numpy as np

from gradwire.core import shapes

from .registry import defop


def _expand(g, x, axes, keepdims):
    """Broadcast a reduced cotangent back over the reduced axes."""
    if not keepdims:
        g = g.reshape(shape=shapes.reduced(x.shape, axes, True))
    return g.broadcast_to(shape=x.shape)


def _reduce_jvp(vjp):
    """out_k = f(slice_k of x): d out = sum over the slice of (d out/dx) * t."""
    def rule(tangents, out, x, axes, keepdims):
        (t,) = tangents
        return (vjp(out.ones_like(), out, x, axes, keepdims) * t).sum(axes=axes, keepdims=keepdims)
    return rule


def _count(x, axes) -> int:
    return math.prod(x.shape[k] for k in axes)


def _extreme_vjp(g, out, x, axes, keepdims):
    # Ties share the gradient evenly, as PyTorch's amax/amin (and full max()/min()) do.
    hit = x.eq(_expand(out, x, axes, keepdims)).cast(dtype=x.dtype)
    return _expand(g, x, axes, keepdims) * hit / _expand(hit.sum(axes=axes, keepdims=keepdims), x, axes, keepdims)


def _defreduce(name, impl, vjp, *, jvp=None):
    defop(name, impl=impl, vjp=(vjp,) if vjp else None, jvp=jvp or (_reduce_jvp(vjp) if vjp else None))


def _sum_jvp(tangents, out, x, axes, keepdims):
    return tangents[0].sum(axes=axes, keepdims=keepdims)


def _mean_jvp(tangents, out, x, axes, keepdims):
    return tangents[0].mean(axes=axes, keepdims=keepdims)


_defreduce("sum", lambda x, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims,
                                                   dtype=None if x.dtype.kind == "f" else np.int64),
           lambda g, out, x, axes, keepdims: _expand(g, x, axes, keepdims), jvp=_sum_jvp)
_defreduce("mean", lambda x, axes, keepdims: np.mean(x, axis=axes, keepdims=keepdims),
           lambda g, out, x, axes, keepdims: _expand(g, x, axes, keepdims) / float(max(_count(x, axes), 1)),
           jvp=_mean_jvp)
def _prod_vjp(g, out, x, axes, keepdims):
    """g * out / x, with exact zeros handled as PyTorch does: at the only zero of a slice the gradient is
    the product of the others; with two or more zeros every gradient of the slice is 0."""
    zero = x.eq(0.0)
    safe = zero.where(x.ones_like(), x)
    ge, oe = _expand(g, x, axes, keepdims), _expand(out, x, axes, keepdims)
    zeros = _expand(zero.cast(dtype=x.dtype).sum(axes=axes, keepdims=keepdims), x, axes, keepdims)
    others = _expand(safe.prod(axes=axes, keepdims=keepdims), x, axes, keepdims)
    return zero.where(zeros.eq(1.0).where(ge * others, ge.zeros_like()), ge * oe / safe)


_defreduce("prod", lambda x, axes, keepdims: np.prod(x, axis=axes, keepdims=keepdims,
                                                     dtype=None if x.dtype.kind == "f" else np.int64),
           _prod_vjp)
_defreduce("max", lambda x, axes, keepdims: np.max(x, axis=axes, keepdims=keepdims), _extreme_vjp)
_defreduce("min", lambda x, axes, keepdims: np.min(x, axis=axes, keepdims=keepdims), _extreme_vjp)
_defreduce("all", lambda x, axes, keepdims: np.all(x, axis=axes, keepdims=keepdims).astype(
    np.uint8 if x.dtype == np.uint8 else np.bool_, copy=False), None)
_defreduce("any", lambda x, axes, keepdims: np.any(x, axis=axes, keepdims=keepdims).astype(
    np.uint8 if x.dtype == np.uint8 else np.bool_, copy=False), None)
# g * (x == x) rather than a `where`: an infinite or NaN cotangent (nanmean of all-NaN) reaches the NaNs as NaN.
_defreduce("nansum", lambda x, axes, keepdims: np.nansum(x, axis=axes, keepdims=keepdims,
                                                         dtype=None if x.dtype.kind == "f" else np.int64),
           lambda g, out, x, axes, keepdims: _expand(g, x, axes, keepdims) * x.eq(x).cast(dtype=x.dtype),
           jvp=lambda tangents, out, x, axes, keepdims: (tangents[0] * x.eq(x).cast(dtype=x.dtype))
           .sum(axes=axes, keepdims=keepdims))


def _arg(fn):
    def impl(x, axis, keepdims):
        # The first index of the extreme, as PyTorch's CPU kernels and NumPy give it; NaN counts as largest.
        if axis is None:
            r = fn(x.reshape(-1))
            return np.full((1,) * x.ndim, r, np.int64) if keepdims else np.asarray(r, np.int64)
        if x.ndim == 0:
            return np.zeros((), np.int64)
        return fn(x, axis=axis, keepdims=keepdims).astype(np.int64)
    return impl


for _name, _fn in (("argmax", np.argmax), ("argmin", np.argmin)):
    defop(_name, impl=_arg(_fn), vjp=None)


def _norm_impl(x, p, axes, keepdims):
    if p == 2.0:
        return np.sqrt(np.sum(x * x, axis=axes, keepdims=keepdims))
    a = np.abs(x)
    if p == math.inf:
        return np.max(a, axis=axes, keepdims=keepdims, initial=0)
    if p == -math.inf:
        return np.min(a, axis=axes, keepdims=keepdims)
    if p == 1.0:
        return np.sum(a, axis=axes, keepdims=keepdims)
    if p == 0.0:
        return np.sum(a != 0, axis=axes, keepdims=keepdims).astype(x.dtype)
    return np.power(np.sum(np.power(a, p), axis=axes, keepdims=keepdims), 1.0 / p).astype(x.dtype)


def _norm_vjp(g, out, x, p, axes, keepdims):
    ge, oe = _expand(g, x, axes, keepdims), _expand(out, x, axes, keepdims)
    if p == 0.0:
        return x.zeros_like()
    if abs(p) == math.inf:
        return _extreme_vjp(g, out, x.abs(), axes, keepdims) * x.sign()
    if p == 1.0:
        return ge * x.sign()
    zero = oe.eq(0.0)
    safe = zero.where(oe.ones_like(), oe)  # the subgradient at 0 is 0, as in PyTorch
    if p == 2.0:
        return zero.where(x.zeros_like(), ge * x / safe)
    ratio = x.abs() / safe
    return zero.where(x.zeros_like(), ge * x.sign() * ratio.pow_scalar(exponent=p - 1.0))


def _norm_jvp(tangents, out, x, p, axes, keepdims):
    (t,) = tangents
    return (_norm_vjp(out.ones_like(), out, x, p, axes, keepdims) * t).sum(axes=axes, keepdims=keepdims)


defop("norm", impl=_norm_impl, vjp=(_norm_vjp,), jvp=_norm_jvp)


def _logsumexp_impl(x, axes, keepdims):
    m = np.max(x, axis=axes, keepdims=True) if x.size else np.zeros(shapes.reduced(x.shape, axes, True), x.dtype)
    m = np.where(np.isfinite(m), m, np.zeros((), x.dtype))
    out = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axes)


def _logsumexp_vjp(g, out, x, axes, keepdims):
    return _expand(g, x, axes, keepdims) * (x - _expand(out, x, axes, keepdims)).exp()


defop("logsumexp", impl=_logsumexp_impl, vjp=(_logsumexp_vjp,), jvp=_reduce_jvp(_logsumexp_vjp))


def _softmax_impl(x, axis):
    if x.ndim == 0:
        return np.ones_like(x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True)) if x.size else x.copy()
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax_impl(x, axis):
    if x.ndim == 0:
        return np.zeros_like(x)
    # (x - max) - log(sum(exp(x - max))), as PyTorch: x - logsumexp(x) rounds the large max into the log's
    # sum and back out, which for logits near 1e4 in float32 left the result (and its gradient) 2e-4 off. An
    # infinite max makes the row NaN, as PyTorch's kernel does.
    if not x.size:
        return x.copy()
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _softmax_vjp(g, out, x, axis):
    if x.ndim == 0:
        return g.zeros_like()
    return out * (g - (g * out).sum(axes=(axis,), keepdims=True))


def _log_softmax_vjp(g, out, x, axis):
    if x.ndim == 0:
        return g.zeros_like()
    return g - out.exp() * g.sum(axes=(axis,), keepdims=True)


def _log_softmax_jvp(tangents, out, x, axis):
    (t,) = tangents
    if x.ndim == 0:
        return t.zeros_like()
    return t - (t * out.exp()).sum(axes=(axis,), keepdims=True)


defop("softmax", impl=_softmax_impl, vjp=(_softmax_vjp,),
      jvp=lambda tangents, out, x, axis: _softmax_vjp(tangents[0], out, x, axis))  # symmetric Jacobian
defop("log_softmax", impl=_log_softmax_impl, vjp=(_log_softmax_vjp,), jvp=_log_softmax_jvp)
