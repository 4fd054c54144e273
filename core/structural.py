"""Signatures of structural ops (reshape, transpose, slicing, indexing, joining, views and their scatters)
and of products (dot, matmul)."""
from __future__ import annotations

from . import shapes
from .dtypes import LEGACY_NAMES, NUMBERS, promote
from .signature import Attr, Aval, defsig

BIG = 2 ** 62   # a slice bound at least every dim's size: "to the end"
_CPP = {"float32": "float", "float64": "double", "int32": "int", "int64": "long int", "bool": "bool",
        "uint8": "unsigned char", "int8": "signed char", "int16": "short int", "float16": "c10::Half"}


def _same_dtype(avals, what: str):
    """Scatter-style ops write src into base: the engine takes them in one dtype (clients cast first)."""
    base, src = avals[0], avals[1]
    if src.dtype != base.dtype:
        raise RuntimeError(f"{what}: src has dtype {src.dtype} but the base has {base.dtype}: cast it first")


# transpose -------------------------------------------------------------------------------------
def _transpose_shape(avals, attrs):
    (x,) = avals
    perm = attrs["perm"]
    if perm is None:
        perm = tuple(reversed(range(x.ndim)))
    else:
        if len(perm) != x.ndim:
            raise RuntimeError("permute(sparse_coo): number of dimensions in the tensor input does not match the "
                               "length of the desired ordering of dimensions i.e. input.dim() = "
                               f"{x.ndim} is not equal to len(dims) = {len(perm)}")
        perm = tuple(shapes.axis(a, x.ndim) for a in perm)
        if len(set(perm)) != len(perm):
            raise RuntimeError("permute(): duplicate dims are not allowed.")
    attrs["perm"] = perm
    return Aval(tuple(x.shape[a] for a in perm), x.dtype)


defsig("transpose", inputs=1, attrs={"perm": Attr("optints", None, "dim order; none = reversed")},
       shape=_transpose_shape, doc="permute dims")


# reshape, broadcast_to, sum_to, squeeze, unsqueeze -----------------------------------------------
def _reshape_shape(avals, attrs):
    (x,) = avals
    attrs["shape"] = shapes.reshape(x.shape, attrs["shape"])
    return Aval(attrs["shape"], x.dtype)


defsig("reshape", inputs=1, attrs={"shape": Attr("ints", doc="new shape; one -1 is inferred")},
       shape=_reshape_shape, doc="same elements, new shape (C order)")


def _broadcast_shape(avals, attrs):
    (x,) = avals
    target = tuple(attrs["shape"])
    if len(target) < x.ndim:
        raise RuntimeError(f"expand(torch.{LEGACY_NAMES[x.dtype]}Tensor{{{list(x.shape)}}}, size={list(target)}): "
                           f"the number of sizes provided ({len(target)}) must be greater or equal to the number "
                           f"of dimensions in the tensor ({x.ndim})")
    lead = len(target) - x.ndim
    for k in range(len(target) - 1, -1, -1):
        d = target[k]
        if k < lead:
            if d < 0:
                raise RuntimeError(f"The expanded size of the tensor ({d}) isn't allowed in a leading, "
                                   f"non-existing dimension {k}")
        elif d < 0 or (x.shape[k - lead] != d and x.shape[k - lead] != 1):
            raise RuntimeError(f"The expanded size of the tensor ({d}) must match the existing size "
                               f"({x.shape[k - lead]}) at non-singleton dimension {k}.  Target sizes: "
                               f"{list(target)}.  Tensor sizes: {list(x.shape)}")
    return Aval(target, x.dtype)


defsig("broadcast_to", inputs=1, attrs={"shape": Attr("ints", doc="the target shape")}, shape=_broadcast_shape,
       doc="broadcasting to an explicit shape (PyTorch's expand)")


def _sum_to_shape(avals, attrs):
    (x,) = avals
    target = tuple(attrs["shape"])
    lead = x.ndim - len(target)
    if any(d < 0 for d in target) or lead < 0 or any(
            d != 1 and d != x.shape[lead + k] for k, d in enumerate(target)):
        raise ValueError(f"cannot sum {list(x.shape)} down to {list(target)}")
    return Aval(target, x.dtype)


defsig("sum_to", inputs=1, attrs={"shape": Attr("ints", doc="the target shape")}, shape=_sum_to_shape,
       doc="sum a broadcast value back down to shape (the adjoint of broadcast_to)")


def _squeeze_shape(avals, attrs):
    (x,) = avals
    ax = attrs["axes"]
    ax = [k for k, d in enumerate(x.shape) if d == 1] if ax is None else shapes.axes(ax, x.ndim)
    attrs["axes"] = tuple(k for k in ax if x.shape[k] == 1)  # PyTorch ignores non-1 dims
    return Aval(tuple(d for k, d in enumerate(x.shape) if k not in attrs["axes"]), x.dtype)


defsig("squeeze", inputs=1, attrs={"axes": Attr("axes", None, "size-1 dims to drop; none = all")},
       shape=_squeeze_shape, doc="drop size-1 dims (others named are ignored, as in PyTorch)")


def _unsqueeze_shape(avals, attrs):
    (x,) = avals
    a = attrs["axis"] = shapes.axis(attrs["axis"], x.ndim + 1)
    return Aval(x.shape[:a] + (1,) + x.shape[a:], x.dtype)


defsig("unsqueeze", inputs=1, attrs={"axis": Attr("int", doc="where the new dim goes")}, shape=_unsqueeze_shape,
       doc="insert a size-1 dim")


# concat, stack ---------------------------------------------------------------------------------
def _concat_shape(avals, attrs):
    first = avals[0]
    for j, x in enumerate(avals):
        if x.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {j}) cannot be concatenated")
    a = attrs["axis"] = shapes.axis(attrs["axis"], first.ndim)
    for j, x in enumerate(avals[1:], 1):
        if x.ndim != first.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {first.ndim} and {x.ndim}")
        for k in range(x.ndim):
            if k != a and x.shape[k] != first.shape[k]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {a}. Expected size "
                                   f"{first.shape[k]} but got size {x.shape[k]} for tensor number {j} in the list.")
    shape = list(first.shape)
    shape[a] = sum(x.shape[a] for x in avals)
    return Aval(tuple(shape), promote(*(x.dtype for x in avals)))


def _stack_shape(avals, attrs):
    first = avals[0]
    a = attrs["axis"] = shapes.axis(attrs["axis"], first.ndim + 1)
    for j, x in enumerate(avals[1:], 1):
        if x.shape != first.shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(first.shape)} at "
                               f"entry 0 and {list(x.shape)} at entry {j}")
    return Aval(first.shape[:a] + (len(avals),) + first.shape[a:], promote(*(x.dtype for x in avals)))


defsig("concat", inputs=(1, -1), attrs={"axis": Attr("int", 0, "the dim to join along")}, shape=_concat_shape,
       doc="join along an existing dim (inputs promoted)")
defsig("stack", inputs=(1, -1), attrs={"axis": Attr("int", 0, "where the new dim goes")}, shape=_stack_shape,
       doc="join along a new dim (inputs promoted)")


# slice, unslice, slice_scatter -------------------------------------------------------------------
SLICE = {"starts": Attr("ints", doc="first index per leading dim (negative counts from the end)"),
         "stops": Attr("ints", doc=f"end per leading dim, exclusive; {BIG} (2**62) or more means to the end"),
         "steps": Attr("ints", doc="step per leading dim, nonzero")}


def _slice_shape(avals, attrs):
    (x,) = avals
    return Aval(shapes.slice_shape(x.shape, attrs["starts"], attrs["stops"], attrs["steps"]), x.dtype)


defsig("slice", inputs=1, attrs=dict(SLICE), shape=_slice_shape,
       doc="basic slicing: Python's slice(start, stop, step) on the first k dims")


def _unslice_shape(avals, attrs):
    (g,) = avals
    want = shapes.slice_shape(attrs["shape"], attrs["starts"], attrs["stops"], attrs["steps"])
    if want != g.shape:
        raise ValueError(f"input has shape {list(g.shape)}, but the slice of {list(attrs['shape'])} has {list(want)}")
    return Aval(tuple(attrs["shape"]), g.dtype)


defsig("unslice", inputs=1, attrs={"shape": Attr("ints", doc="the result's shape"), **SLICE},
       shape=_unslice_shape, doc="zeros of shape with the input placed at the slice (the adjoint of slice)")


def _slice_scatter_shape(avals, attrs):
    base, src = avals
    _same_dtype(avals, "slice_scatter")
    want = shapes.slice_shape(base.shape, attrs["starts"], attrs["stops"], attrs["steps"])
    if want != src.shape:
        raise RuntimeError(f"slice_scatter: src has shape {list(src.shape)}, but the slice has {list(want)}")
    return Aval(base.shape, base.dtype)


defsig("slice_scatter", inputs=2, attrs=dict(SLICE), shape=_slice_scatter_shape,
       doc="the base with the slice replaced by src (a write through a sliced view)")


# diagonal, diagonal_scatter ----------------------------------------------------------------------
DIAGONAL = {"offset": Attr("int", 0, "0: main diagonal; > 0 above it; < 0 below it"),
            "axis1": Attr("int", 0, "first dim of the 2-D planes"), "axis2": Attr("int", 1, "second dim")}


def diagonal_shape(shape, attrs) -> tuple[int, ...]:
    nd = len(shape)
    a1 = attrs["axis1"] = shapes.axis(attrs["axis1"], nd)
    a2 = attrs["axis2"] = shapes.axis(attrs["axis2"], nd)
    if a1 == a2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {a1}, {a2}")
    off = attrs["offset"]
    n = min(shape[a1], shape[a2] - off) if off >= 0 else min(shape[a1] + off, shape[a2])
    return tuple(d for k, d in enumerate(shape) if k not in (a1, a2)) + (max(n, 0),)


def _diagonal_shape(avals, attrs):
    (x,) = avals
    if x.ndim < 2:
        raise RuntimeError(f"diagonal(): input must have at least 2 dimensions, but got {x.ndim}")
    return Aval(diagonal_shape(x.shape, attrs), x.dtype)


def _diagonal_scatter_shape(avals, attrs):
    base, src = avals
    _same_dtype(avals, "diagonal_scatter")
    want = _diagonal_shape([base], attrs).shape
    if want != src.shape:
        raise RuntimeError(f"diagonal_scatter: src has shape {list(src.shape)}, but the diagonal has {list(want)}")
    return Aval(base.shape, base.dtype)


defsig("diagonal", inputs=1, attrs=dict(DIAGONAL), shape=_diagonal_shape,
       doc="the diagonal of the planes (axis1, axis2), as a new last dim")
defsig("diagonal_scatter", inputs=2, attrs=dict(DIAGONAL), shape=_diagonal_scatter_shape,
       doc="the base with that diagonal replaced by src (a write through a diagonal view)")


# take / scatter_add, gather / gather_add, put ----------------------------------------------------
def _index_check(avals, j=1):
    if avals[j].dtype not in ("int32", "int64"):
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")


def _take_shape(avals, attrs):
    _index_check(avals)
    x, idx = avals
    if x.ndim == 0:
        raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` "
                         "in C++ to convert a 0-dim tensor to a number")
    a = attrs["axis"] = shapes.axis(attrs["axis"], x.ndim)
    if x.shape[a] == 0 and idx.size:
        raise IndexError(f"index is out of bounds for dimension {a} with size 0")
    return Aval(x.shape[:a] + idx.shape + x.shape[a + 1:], x.dtype)


defsig("take", inputs=2, attrs={"axis": Attr("int", 0, "the dim indexed")}, shape=_take_shape,
       doc="integer-array indexing along a dim (numpy.take); indices checked, negative ones wrap once")


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


defsig("scatter_add", inputs=2, attrs={"axis": Attr("int", doc="the dim written"),
                                       "size": Attr("int", doc="the result's size on that dim")},
       shape=_scatter_shape, doc="zeros with `size` rows on axis, input rows added at indices (the adjoint of take)")


def _gather_shape(avals, attrs):
    _index_check(avals)
    x, idx = avals
    if x.ndim == 0:
        raise IndexError("cannot gather from a 0-d tensor")
    a = attrs["axis"] = shapes.axis(attrs["axis"], x.ndim)
    if idx.ndim != x.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    for k, (i, d) in enumerate(zip(idx.shape, x.shape)):
        if k != a and i > d:
            raise RuntimeError(f"Size does not match at dimension {k} expected index {list(idx.shape)} to be no "
                               f"larger than self {list(x.shape)} apart from dimension {a}")
    if x.shape[a] == 0 and idx.size:
        raise IndexError(f"index is out of bounds for dimension {a} with size 0")
    return Aval(idx.shape, x.dtype)


defsig("gather", inputs=2, attrs={"axis": Attr("int", doc="the dim indexed")}, shape=_gather_shape,
       doc="torch.gather: out[i][j] = x[index[i][j]][j] along axis (numpy.take_along_axis where the index may be "
           "smaller than x on the other dims)")


def _gather_add_shape(avals, attrs):
    _index_check(avals)
    g, idx = avals
    shape = attrs["shape"]
    if g.shape != idx.shape or len(shape) != g.ndim or g.ndim == 0:
        raise ValueError(f"input {list(g.shape)} and indices {list(idx.shape)} must match, with {len(shape)} "
                         f"(at least 1) dims")
    a = attrs["axis"] = shapes.axis(attrs["axis"], g.ndim)
    if shape[a] < 0 or any(s < d for k, (s, d) in enumerate(zip(shape, g.shape)) if k != a):
        raise ValueError(f"shape {list(shape)} must hold input {list(g.shape)} except on axis {a}")
    return Aval(tuple(shape), g.dtype)


defsig("gather_add", inputs=2, attrs={"axis": Attr("int", doc="the dim written"),
                                      "shape": Attr("ints", doc="the result's shape")},
       shape=_gather_add_shape, doc="zeros of shape with the input added at indices along axis (the adjoint of gather; "
                                     "torch.scatter_add into zeros)")


def _put_shape(avals, attrs):
    x, idx, v = avals
    _index_check(avals)
    _same_dtype((x, v), "put")
    bd = attrs["batch_dims"]
    if not 0 <= bd <= x.ndim:
        raise ValueError(f"batch_dims {bd} is out of range for a {x.ndim}-d input")
    if v.shape != x.shape[:bd] + idx.shape:
        raise RuntimeError(f"put: values have shape {list(v.shape)}, expected {list(x.shape[:bd] + idx.shape)} "
                           f"(the batch dims, then the indices' shape)")
    if Aval(x.shape[bd:], x.dtype).size == 0 and idx.size:
        raise IndexError("out of range: tried to access index 0 on a tensor of 0 elements.")
    return Aval(x.shape, x.dtype)


defsig("put", inputs=3, attrs={"batch_dims": Attr("int", 0, "leading dims that x and the values share")},
       shape=_put_shape,
       doc="x with x.flat[index] = values, per batch element (indices into the flattened dims after batch_dims, "
           "checked; negative ones wrap once; with repeated indices the last write wins): writes through "
           "advanced indexing")


# dot, matmul -----------------------------------------------------------------------------------
def _dot_shape(avals, attrs):
    x, y = avals
    if x.ndim != 1 or y.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {x.ndim}D and {y.ndim}D tensors")
    if x.shape != y.shape:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{x.shape[0]}] and src [{y.shape[0]}] "
                           f"to have the same number of elements, but got {x.shape[0]} and {y.shape[0]} elements "
                           f"respectively")
    if x.dtype != y.dtype:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found {LEGACY_NAMES[x.dtype]} and "
                           f"{LEGACY_NAMES[y.dtype]}")
    return Aval((), x.dtype)


defsig("dot", inputs=2, shape=_dot_shape, dtypes=NUMBERS, doc="inner product of two 1-D tensors of one dtype")


def _matmul_shape(avals, attrs):
    x, y = avals
    shape = shapes.matmul(x.shape, y.shape)
    if x.dtype != y.dtype:
        a, b = LEGACY_NAMES[x.dtype], LEGACY_NAMES[y.dtype]
        if x.ndim == y.ndim == 1:
            raise RuntimeError(f"dot : expected both vectors to have same dtype, but found {a} and {b}")
        if y.ndim == 1:
            raise RuntimeError(f"addmv input tensors must have the same dtype, but got {b}, {a}, and {b}")
        if x.ndim <= 2 and y.ndim == 2:
            raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {_CPP[x.dtype]} != "
                               f"{_CPP[y.dtype]}")
        raise RuntimeError(f"expected scalar type {a} but found {b}")
    return Aval(shape, x.dtype)


defsig("matmul", inputs=2, shape=_matmul_shape, dtypes=NUMBERS,
       doc="torch.matmul: 1-D, 2-D and batched with broadcasting; both inputs of one dtype")
