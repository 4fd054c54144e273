"""Kernels and derivatives of structural ops (reshape, transpose, slicing, indexing, joining, the writes
through views), of products (dot, matmul) and of rearrangements (flip, roll, tril/triu, repeat, diag_embed,
unfold); signatures in gradwire.core.structural and gradwire.core.rearranging."""
from __future__ import annotations

import math

import numpy as np

from gradwire.core.rearranging import diag_embed_shape

from . import kernels
from .composite import defcomposite
from .registry import defop


def _linear_jvp(name):
    """For a linear op, the tangent is the op applied to the tangents (zeros where none)."""
    def rule(tangents, out, *inputs, **attrs):
        ts = [t if t is not None else x.zeros_like() for t, x in zip(tangents, inputs)]
        return ts[0].b.op(name, *ts, **attrs)
    return rule


def _first_linear_jvp(name):
    """Linear in the first input only (the others are integer indices)."""
    def rule(tangents, out, x, *rest, **attrs):
        return tangents[0].b.op(name, tangents[0], *rest, **attrs)
    return rule


def _back_to_input_shape(g, out, x, **attrs):
    return g.reshape(shape=x.shape)


defop("transpose", impl=lambda x, perm: np.transpose(x, perm),
      vjp=(lambda g, out, x, perm: g.transpose(perm=tuple(int(i) for i in np.argsort(perm))),),
      jvp=_linear_jvp("transpose"))
defop("reshape", impl=lambda x, shape: np.reshape(x, shape), vjp=(_back_to_input_shape,),
      jvp=_linear_jvp("reshape"))
defop("broadcast_to", impl=lambda x, shape: np.broadcast_to(x, shape),
      vjp=(lambda g, out, x, shape: g.sum_to(shape=x.shape),), jvp=_linear_jvp("broadcast_to"))


def sum_to(x, shape):
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + k for k, d in enumerate(shape) if d == 1 and x.shape[lead + k] != 1)
    return np.sum(x, axis=axes).reshape(shape) if axes else x


defop("sum_to", impl=sum_to, vjp=(lambda g, out, x, shape: g.broadcast_to(shape=x.shape),),
      jvp=_linear_jvp("sum_to"))
defop("squeeze", impl=lambda x, axes: np.squeeze(x, axis=axes), vjp=(_back_to_input_shape,),
      jvp=_linear_jvp("squeeze"))
defop("unsqueeze", impl=lambda x, axis: np.expand_dims(x, axis), vjp=(_back_to_input_shape,),
      jvp=_linear_jvp("unsqueeze"))


# concat, stack ---------------------------------------------------------------------------------
def _joined(join):
    def impl(*xs, axis):
        dt = np.result_type(*xs) if len({x.dtype for x in xs}) > 1 else xs[0].dtype
        return join([x.astype(dt, copy=False) for x in xs], axis=axis)
    return impl


def _concat_vjp(k):
    def rule(g, out, *xs, axis):
        start = sum(x.shape[axis] for x in xs[:k])
        n = xs[k].shape[axis]
        lead = axis + 1
        return g.slice(starts=(0,) * axis + (start,), stops=(2**62,) * axis + (start + n,), steps=(1,) * lead)
    return rule


def _stack_vjp(k):
    def rule(g, out, *xs, axis):
        part = g.slice(starts=(0,) * axis + (k,), stops=(2**62,) * axis + (k + 1,), steps=(1,) * (axis + 1))
        return part.reshape(shape=xs[k].shape)
    return rule


class _PerInput:
    """vjp rules for variadic ops: rule k is made on demand."""

    def __init__(self, make):
        self.make = make

    def __getitem__(self, k):
        return self.make(k)

    def __iter__(self):  # `differentiable` asks whether any rule exists
        yield self.make(0)


defop("concat", impl=_joined(np.concatenate), vjp=_PerInput(_concat_vjp), jvp=_linear_jvp("concat"))
defop("stack", impl=_joined(np.stack), vjp=_PerInput(_stack_vjp), jvp=_linear_jvp("stack"))


# slice / unslice / slice_scatter ---------------------------------------------------------------
def _slices(starts, stops, steps):
    return tuple(slice(a, b, s) for a, b, s in zip(starts, stops, steps))


def _unslice_impl(g, shape, starts, stops, steps):
    out = np.zeros(shape, g.dtype)
    out[_slices(starts, stops, steps)] = g
    return out


def _slice_scatter_impl(base, src, starts, stops, steps):
    out = base.copy()
    out[_slices(starts, stops, steps)] = src
    return out


defop("slice", impl=lambda x, starts, stops, steps: x[_slices(starts, stops, steps)],
      vjp=(lambda g, out, x, **sl: g.unslice(shape=x.shape, **sl),), jvp=_linear_jvp("slice"))
defop("unslice", impl=_unslice_impl, vjp=(lambda g, out, x, shape, **sl: g.slice(**sl),),
      jvp=_linear_jvp("unslice"))
defop("slice_scatter", impl=_slice_scatter_impl,
      vjp=(lambda g, out, base, src, **sl: g.slice_scatter(src.zeros_like(), **sl),
           lambda g, out, base, src, **sl: g.slice(**sl)),
      jvp=_linear_jvp("slice_scatter"))


# diagonal / diagonal_scatter -------------------------------------------------------------------
def _diagonal_scatter_impl(base, src, offset, axis1, axis2):
    out = base.copy()
    k = np.arange(src.shape[-1])        # the diagonal's length, as the signature checked it
    np.moveaxis(out, (axis1, axis2), (-2, -1))[..., k + max(-offset, 0), k + max(offset, 0)] = src
    return out


defop("diagonal", impl=lambda x, offset, axis1, axis2: np.diagonal(x, offset, axis1, axis2).copy(),
      vjp=(lambda g, out, x, **d: x.zeros_like().diagonal_scatter(g, **d),), jvp=_linear_jvp("diagonal"))
defop("diagonal_scatter", impl=_diagonal_scatter_impl,
      vjp=(lambda g, out, base, src, **d: g.diagonal_scatter(src.zeros_like(), **d),
           lambda g, out, base, src, **d: g.diagonal(**d)),
      jvp=_linear_jvp("diagonal_scatter"))


# take / scatter_add, gather / gather_add, put --------------------------------------------------
defop("take", impl=kernels.take,
      vjp=(lambda g, out, x, idx, axis: g.scatter_add(idx, axis=axis, size=x.shape[axis]), None),
      jvp=_first_linear_jvp("take"))
defop("scatter_add", impl=kernels.scatter_add,
      vjp=(lambda g, out, x, idx, axis, size: g.take(idx, axis=axis), None), jvp=_first_linear_jvp("scatter_add"))
defop("gather", impl=kernels.gather,
      vjp=(lambda g, out, x, idx, axis: g.gather_add(idx, axis=axis, shape=x.shape), None),
      jvp=_first_linear_jvp("gather"))
defop("gather_add", impl=kernels.gather_add,
      vjp=(lambda g, out, x, idx, axis, shape: g.gather(idx, axis=axis), None), jvp=_first_linear_jvp("gather_add"))


def _put_jvp(tangents, out, x, idx, v, batch_dims):
    tx, _, tv = tangents
    return (tx if tx is not None else x.zeros_like()).put(idx, tv if tv is not None else v.zeros_like(),
                                                          batch_dims=batch_dims)


defop("put", impl=kernels.put,
      vjp=(lambda g, out, x, idx, v, batch_dims: g.put(idx, v.zeros_like(), batch_dims=batch_dims), None,
           lambda g, out, x, idx, v, batch_dims: g.reshape(
               shape=x.shape[:batch_dims] + (math.prod(x.shape[batch_dims:]),)).take(idx, axis=batch_dims)),
      jvp=_put_jvp)


# dot, matmul -----------------------------------------------------------------------------------
def _product_jvp(name):
    def rule(tangents, out, x, y):
        tx, ty = tangents
        parts = ([tx.b.op(name, tx, y)] if tx is not None else []) + ([x.b.op(name, x, ty)] if ty is not None else [])
        return parts[0] if len(parts) == 1 else parts[0] + parts[1]
    return rule


defop("dot", impl=kernels.dot, vjp=(lambda g, out, x, y: g * y, lambda g, out, x, y: g * x), jvp=_product_jvp("dot"))


def _mT(s):
    perm = tuple(range(s.ndim - 2)) + (s.ndim - 1, s.ndim - 2)
    return s.transpose(perm=perm)


def _promoted(g, x, y):
    """View 1-D operands as matrices (NumPy's rule) and the cotangent to match."""
    x2 = x.unsqueeze(axis=0) if x.ndim == 1 else x
    y2 = y.unsqueeze(axis=1) if y.ndim == 1 else y
    g2 = g
    if x.ndim == 1:
        g2 = g2.unsqueeze(axis=g2.ndim - 1 if y.ndim > 1 else g2.ndim)
    if y.ndim == 1:
        g2 = g2.unsqueeze(axis=g2.ndim)
    return g2, x2, y2


def _matmul_vjp_x(g, out, x, y):
    g2, x2, y2 = _promoted(g, x, y)
    gx = g2.matmul(_mT(y2))
    gx = gx.sum_to(shape=x2.shape) if gx.shape != x2.shape else gx
    return gx.reshape(shape=x.shape) if x.ndim == 1 else gx


def _matmul_vjp_y(g, out, x, y):
    g2, x2, y2 = _promoted(g, x, y)
    gy = _mT(x2).matmul(g2)
    gy = gy.sum_to(shape=y2.shape) if gy.shape != y2.shape else gy
    return gy.reshape(shape=y.shape) if y.ndim == 1 else gy


defop("matmul", impl=kernels.matmul, vjp=(_matmul_vjp_x, _matmul_vjp_y), jvp=_product_jvp("matmul"), into=np.matmul)


# flip, roll (primitives: each is its own adjoint, up to the sign of the shifts) ------------------
defop("flip", impl=lambda x, dims: np.flip(x, dims).copy(), vjp=(lambda g, out, x, dims: g.flip(dims=dims),),
      jvp=_linear_jvp("flip"))
defop("roll", impl=lambda x, shifts, dims: np.roll(x, shifts, dims) if dims else x.copy(),
      vjp=(lambda g, out, x, shifts, dims: g.roll(shifts=tuple(-s for s in shifts), dims=dims),),
      jvp=_linear_jvp("roll"))


# tril, triu, repeat, diag_embed, unfold: composites (exact rearrangements of table ops) ---------
def _triangle(keep):
    def expand(x, diagonal):
        mask = keep(np.ones(x.shape[-2:], np.bool_), diagonal)
        return x.b.op("where", x.b.const(mask, "bool"), x, x.zeros_like())
    return expand


def _repeat(x, repeats):
    shape = (1,) * (len(repeats) - x.ndim) + x.shape
    spread = tuple(v for d in shape for v in (1, d))
    tiled = tuple(v for r, d in zip(repeats, shape) for v in (r, d))
    return x.reshape(shape=spread).broadcast_to(shape=tiled).reshape(shape=tuple(r * d for r, d in
                                                                                 zip(repeats, shape)))


def _diag_embed(x, offset, dim1, dim2):
    shape, _, _ = diag_embed_shape(x.shape, offset, dim1, dim2)
    zeros = x.b.scalar(0, x).broadcast_to(shape=shape)
    return zeros.diagonal_scatter(x, offset=offset, axis1=dim1, axis2=dim2)


def _unfold(x, dimension, size, step):
    if x.ndim == 0:
        return x.reshape(shape=(1,)).take(x.b.const(np.zeros(size, np.int64), "int64"), axis=0)
    windows = (x.shape[dimension] - size) // step + 1
    index = np.arange(windows, dtype=np.int64)[:, None] * step + np.arange(size, dtype=np.int64)
    out = x.take(x.b.const(index, "int64"), axis=dimension)     # x.shape[:d] + (windows, size) + x.shape[d+1:]
    perm = tuple(k for k in range(out.ndim) if k != dimension + 1) + (dimension + 1,)
    return out.transpose(perm=perm)


defcomposite("tril", _triangle(np.tril))
defcomposite("triu", _triangle(np.triu))
defcomposite("repeat", _repeat)
defcomposite("diag_embed", _diag_embed)
defcomposite("unfold", _unfold)
