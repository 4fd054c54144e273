"""Structural ops (reshape, transpose, slicing, indexing, joining) and products (dot, matmul)."""
from __future__ import annotations

import numpy as np

from . import kernels, shapes
from .dtypes import INTS, promote
from .registry import Attr, Aval, defop


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


# transpose -------------------------------------------------------------------------------------
def _transpose_shape(avals, attrs):
    (x,) = avals
    perm = attrs["perm"]
    perm = tuple(reversed(range(x.ndim))) if perm is None else tuple(shapes.axis(a, x.ndim) for a in perm)
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"perm {list(attrs['perm'])} is not a permutation of {x.ndim} axes")
    attrs["perm"] = perm
    return Aval(tuple(x.shape[a] for a in perm), x.dtype)


defop("transpose", inputs=1, attrs={"perm": Attr("optints", None, "axis order; none = reversed")},
      shape=_transpose_shape, impl=lambda x, perm: np.transpose(x, perm),
      vjp=(lambda g, out, x, perm: g.transpose(perm=tuple(int(i) for i in np.argsort(perm))),),
      jvp=_linear_jvp("transpose"), doc="permute axes")


# reshape, broadcast_to, squeeze, unsqueeze, sum_to ----------------------------------------------
def _reshape_shape(avals, attrs):
    (x,) = avals
    attrs["shape"] = shapes.reshape(x.shape, attrs["shape"])
    return Aval(attrs["shape"], x.dtype)


def _back_to_input_shape(g, out, x, **attrs):
    return g.reshape(shape=x.shape)


defop("reshape", inputs=1, attrs={"shape": Attr("ints", doc="new shape; one -1 allowed")},
      shape=_reshape_shape, impl=lambda x, shape: np.reshape(x, shape), vjp=(_back_to_input_shape,),
      jvp=_linear_jvp("reshape"), doc="same elements, new shape (C order)")


def _broadcasts_to(shape, target):
    """broadcast(shape, target), or None where they do not broadcast (the caller names the problem)."""
    try:
        return shapes.broadcast(shape, target)
    except ValueError:
        return None


def _broadcast_shape(avals, attrs):
    (x,) = avals
    target = attrs["shape"]
    if any(d < 0 for d in target) or len(target) < x.ndim or _broadcasts_to(x.shape, target) != target:
        raise ValueError(f"cannot broadcast {list(x.shape)} to {list(target)}")
    return Aval(target, x.dtype)


defop("broadcast_to", inputs=1, attrs={"shape": Attr("ints")}, shape=_broadcast_shape,
      impl=lambda x, shape: np.broadcast_to(x, shape),
      vjp=(lambda g, out, x, shape: g.sum_to(shape=x.shape),), jvp=_linear_jvp("broadcast_to"),
      doc="NumPy broadcasting to an explicit shape")


def _sum_to_shape(avals, attrs):
    (x,) = avals
    target = attrs["shape"]
    if any(d < 0 for d in target) or len(target) > x.ndim or _broadcasts_to(target, x.shape) != x.shape:
        raise ValueError(f"cannot sum {list(x.shape)} down to {list(target)}")
    return Aval(target, x.dtype)


def sum_to(x, shape):
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + k for k, d in enumerate(shape) if d == 1 and x.shape[lead + k] != 1)
    return np.sum(x, axis=axes).reshape(shape) if axes else x


defop("sum_to", inputs=1, attrs={"shape": Attr("ints")}, shape=_sum_to_shape, impl=sum_to,
      vjp=(lambda g, out, x, shape: g.broadcast_to(shape=x.shape),), jvp=_linear_jvp("sum_to"),
      doc="sum a broadcast value back down to shape (the adjoint of broadcast_to)")


def _squeeze_shape(avals, attrs):
    (x,) = avals
    ax = attrs["axes"]
    ax = [k for k, d in enumerate(x.shape) if d == 1] if ax is None else shapes.axes(ax, x.ndim)
    attrs["axes"] = tuple(k for k in ax if x.shape[k] == 1)  # PyTorch ignores non-1 dims
    return Aval(tuple(d for k, d in enumerate(x.shape) if k not in attrs["axes"]), x.dtype)


defop("squeeze", inputs=1, attrs={"axes": Attr("axes", None, "size-1 axes to drop; none = all")},
      shape=_squeeze_shape, impl=lambda x, axes: np.squeeze(x, axis=axes), vjp=(_back_to_input_shape,),
      jvp=_linear_jvp("squeeze"), doc="drop size-1 axes")


def _unsqueeze_shape(avals, attrs):
    (x,) = avals
    a = attrs["axis"] = shapes.axis(attrs["axis"], x.ndim + 1)
    return Aval(x.shape[:a] + (1,) + x.shape[a:], x.dtype)


defop("unsqueeze", inputs=1, attrs={"axis": Attr("int")}, shape=_unsqueeze_shape,
      impl=lambda x, axis: np.expand_dims(x, axis), vjp=(_back_to_input_shape,),
      jvp=_linear_jvp("unsqueeze"), doc="insert a size-1 axis")


# concat, stack ---------------------------------------------------------------------------------
def _concat_shape(avals, attrs):
    first = avals[0]
    if first.ndim == 0:
        raise ValueError("zero-dimensional tensors cannot be concatenated")
    a = attrs["axis"] = shapes.axis(attrs["axis"], first.ndim)
    for j, x in enumerate(avals[1:], 1):
        if x.ndim != first.ndim or any(x.shape[k] != first.shape[k] for k in range(x.ndim) if k != a):
            raise ValueError(f"input {j} has shape {list(x.shape)}, input 0 has {list(first.shape)}: "
                             f"all dims but axis {a} must match")
    shape = list(first.shape)
    shape[a] = sum(x.shape[a] for x in avals)
    return Aval(tuple(shape), promote(*(x.dtype for x in avals)))


def _concat_impl(*xs, axis):
    dt = np.result_type(*xs) if len({x.dtype for x in xs}) > 1 else xs[0].dtype
    return np.concatenate([x.astype(dt, copy=False) for x in xs], axis=axis)


def _concat_vjp(k):
    def rule(g, out, *xs, axis):
        start = sum(x.shape[axis] for x in xs[:k])
        n = xs[k].shape[axis]
        lead = axis + 1
        return g.slice(starts=(0,) * axis + (start,), stops=(2**62,) * axis + (start + n,), steps=(1,) * lead)
    return rule


def _stack_shape(avals, attrs):
    first = avals[0]
    a = attrs["axis"] = shapes.axis(attrs["axis"], first.ndim + 1)
    for j, x in enumerate(avals[1:], 1):
        if x.shape != first.shape:
            raise ValueError(f"stack expects each tensor to be equal size, but got {list(first.shape)} at "
                             f"entry 0 and {list(x.shape)} at entry {j}")
    return Aval(first.shape[:a] + (len(avals),) + first.shape[a:], promote(*(x.dtype for x in avals)))


def _stack_impl(*xs, axis):
    dt = np.result_type(*xs) if len({x.dtype for x in xs}) > 1 else xs[0].dtype
    return np.stack([x.astype(dt, copy=False) for x in xs], axis=axis)


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


defop("concat", inputs=(1, -1), attrs={"axis": Attr("int", 0)}, shape=_concat_shape, impl=_concat_impl,
      vjp=_PerInput(_concat_vjp), jvp=_linear_jvp("concat"), doc="join along an existing axis")
defop("stack", inputs=(1, -1), attrs={"axis": Attr("int", 0)}, shape=_stack_shape, impl=_stack_impl,
      vjp=_PerInput(_stack_vjp), jvp=_linear_jvp("stack"), doc="join along a new axis")


# slice / unslice -------------------------------------------------------------------------------
SLICE = {"starts": Attr("ints"), "stops": Attr("ints"), "steps": Attr("ints")}


def _slices(starts, stops, steps):
    return tuple(slice(a, b, s) for a, b, s in zip(starts, stops, steps))


def _slice_shape(avals, attrs):
    (x,) = avals
    return Aval(shapes.slice_shape(x.shape, attrs["starts"], attrs["stops"], attrs["steps"]), x.dtype)


defop("slice", inputs=1, attrs=dict(SLICE), shape=_slice_shape,
      impl=lambda x, starts, stops, steps: x[_slices(starts, stops, steps)],
      vjp=(lambda g, out, x, **sl: g.unslice(shape=x.shape, **sl),), jvp=_linear_jvp("slice"),
      doc="basic slicing: Python slice(start, stop, step) on the first k axes")


def _unslice_shape(avals, attrs):
    (g,) = avals
    want = shapes.slice_shape(attrs["shape"], attrs["starts"], attrs["stops"], attrs["steps"])
    if want != g.shape:
        raise ValueError(f"input has shape {list(g.shape)}, but the slice of {list(attrs['shape'])} has {list(want)}")
    return Aval(tuple(attrs["shape"]), g.dtype)


def _unslice_impl(g, shape, starts, stops, steps):
    out = np.zeros(shape, g.dtype)
    out[_slices(starts, stops, steps)] = g
    return out


defop("unslice", inputs=1, attrs={"shape": Attr("ints"), **SLICE}, shape=_unslice_shape, impl=_unslice_impl,
      vjp=(lambda g, out, x, shape, **sl: g.slice(**sl),), jvp=_linear_jvp("unslice"),
      doc="zeros of shape with the input placed at the slice (the adjoint of slice)")


# take / scatter_add, gather / gather_add -------------------------------------------------------
def _index_check(avals):
    if avals[1].dtype not in INTS:
        raise ValueError(f"indices must be int32 or int64, got {avals[1].dtype}")


def _take_shape(avals, attrs):
    _index_check(avals)
    x, idx = avals
    if x.ndim == 0:
        raise ValueError("cannot index a 0-d tensor")
    a = attrs["axis"] = shapes.axis(attrs["axis"], x.ndim)
    if x.shape[a] == 0 and idx.size:
        raise ValueError(f"cannot take from an empty axis {a}")
    return Aval(x.shape[:a] + idx.shape + x.shape[a + 1:], x.dtype)


defop("take", inputs=2, attrs={"axis": Attr("int", 0)}, shape=_take_shape, impl=kernels.take,
      vjp=(lambda g, out, x, idx, axis: g.scatter_add(idx, axis=axis, size=x.shape[axis]), None),
      jvp=_first_linear_jvp("take"), doc="integer-array indexing along axis (numpy.take); indices checked")


def _scatter_shape(avals, attrs):
    _index_check(avals)
    g, idx = avals
    a, size = attrs["axis"], attrs["size"]
    nd = g.ndim - idx.ndim + 1
    if nd < 1:
        raise ValueError("input has fewer dims than indices")
    a = attrs["axis"] = shapes.axis(a, nd)
    if g.shape[a:a + idx.ndim] != idx.shape or size < 0:
        raise ValueError(f"input shape {list(g.shape)} does not hold indices {list(idx.shape)} at axis {a}")
    return Aval(g.shape[:a] + (size,) + g.shape[a + idx.ndim:], g.dtype)


defop("scatter_add", inputs=2, attrs={"axis": Attr("int"), "size": Attr("int")}, shape=_scatter_shape,
      impl=kernels.scatter_add,
      vjp=(lambda g, out, x, idx, axis, size: g.take(idx, axis=axis), None), jvp=_first_linear_jvp("scatter_add"),
      doc="zeros with `size` rows on axis, input rows added at indices (the adjoint of take)")


def _gather_shape(avals, attrs):
    _index_check(avals)
    x, idx = avals
    if x.ndim == 0:
        raise ValueError("cannot gather from a 0-d tensor")
    a = attrs["axis"] = shapes.axis(attrs["axis"], x.ndim)
    if idx.ndim != x.ndim or any(i != d for k, (i, d) in enumerate(zip(idx.shape, x.shape)) if k != a):
        raise ValueError(f"indices {list(idx.shape)} must match input {list(x.shape)} except on axis {a}")
    if x.shape[a] == 0 and idx.size:
        raise ValueError(f"cannot gather from an empty axis {a}")
    return Aval(idx.shape, x.dtype)


defop("gather", inputs=2, attrs={"axis": Attr("int")}, shape=_gather_shape, impl=kernels.gather,
      vjp=(lambda g, out, x, idx, axis: g.gather_add(idx, axis=axis, shape=x.shape), None),
      jvp=_first_linear_jvp("gather"), doc="numpy.take_along_axis")


def _gather_add_shape(avals, attrs):
    _index_check(avals)
    g, idx = avals
    shape = attrs["shape"]
    if g.shape != idx.shape or len(shape) != g.ndim or g.ndim == 0:
        raise ValueError(f"input {list(g.shape)} and indices {list(idx.shape)} must match, with {len(shape)} "
                         f"(at least 1) dims")
    a = attrs["axis"] = shapes.axis(attrs["axis"], g.ndim)
    if shape[a] < 0 or any(s != d for k, (s, d) in enumerate(zip(shape, g.shape)) if k != a):
        raise ValueError(f"shape {list(shape)} must match input {list(g.shape)} except on axis {a}")
    return Aval(tuple(shape), g.dtype)


defop("gather_add", inputs=2, attrs={"axis": Attr("int"), "shape": Attr("ints")}, shape=_gather_add_shape,
      impl=kernels.gather_add,
      vjp=(lambda g, out, x, idx, axis, shape: g.gather(idx, axis=axis), None), jvp=_first_linear_jvp("gather_add"),
      doc="zeros of shape with the input added at indices along axis (the adjoint of gather)")


# dot, matmul -----------------------------------------------------------------------------------
def _dot_shape(avals, attrs):
    x, y = avals
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"1D tensors expected, but got {x.ndim}D and {y.ndim}D tensors")
    if x.shape != y.shape:
        raise ValueError(f"inconsistent tensor size, expected tensor [{x.shape[0]}] and src [{y.shape[0]}] "
                         f"to have the same number of elements, but got {x.shape[0]} and {y.shape[0]} elements "
                         f"respectively")
    return Aval((), promote(x.dtype, y.dtype))


def _dot_jvp(tangents, out, x, y):
    tx, ty = tangents
    parts = ([tx.dot(y)] if tx is not None else []) + ([x.dot(ty)] if ty is not None else [])
    return parts[0] if len(parts) == 1 else parts[0] + parts[1]


defop("dot", inputs=2, shape=_dot_shape, impl=kernels.dot,
      vjp=(lambda g, out, x, y: g * y, lambda g, out, x, y: g * x), jvp=_dot_jvp,
      dtypes=("float32", "float64", "int32", "int64"), doc="inner product of two 1-D tensors")


def _matmul_shape(avals, attrs):
    x, y = avals
    return Aval(shapes.matmul(x.shape, y.shape), promote(x.dtype, y.dtype))


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


def _matmul_jvp(tangents, out, x, y):
    tx, ty = tangents
    parts = ([tx.matmul(y)] if tx is not None else []) + ([x.matmul(ty)] if ty is not None else [])
    return parts[0] if len(parts) == 1 else parts[0] + parts[1]


defop("matmul", inputs=2, shape=_matmul_shape, impl=kernels.matmul, vjp=(_matmul_vjp_x, _matmul_vjp_y),
      jvp=_matmul_jvp, dtypes=("float32", "float64", "int32", "int64"),
      doc="NumPy matmul: 1-D, 2-D and batched with broadcasting")
