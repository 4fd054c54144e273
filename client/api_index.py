"""Declarations of PyTorch's indexing functions: gather and the scatters, index_select/index_add/index_copy/
index_fill/index_reduce, index_put, take, take_along_dim (masked_* and nonzero are in api_masked.py).

Index values are checked at the call where the client already holds them (leaves made from data), with
PyTorch's messages; an index computed on the server is checked there."""
from __future__ import annotations

import warnings

import numpy as np

from gradwire import ops
from gradwire.core import shapes
from gradwire.core.dtypes import LEGACY_NAMES
from gradwire.declare import autograd, declare
from gradwire.ops import apply, leaf_from_data
from gradwire.tensor import Tensor

autograd("scatter", "ScatterBackward0", saves=None)   # PyTorch saves the index only
autograd("scatter_reduce", "ScatterReduceBackward0", saves="all", saves_output=True)

INTS = ("int32", "int64")


def _dt(t) -> str:
    return t._node.dtype


def _known(index):
    """The index's value where the client holds it (no request), else None."""
    return index._node.value


def _check_range(index, size: int, message, negative_ok: bool = False, error=RuntimeError) -> None:
    value = _known(index)
    if value is None or not value.size:
        return
    lo = -size if negative_ok else 0
    bad = value[(value < lo) | (value >= size)]
    if bad.size:
        raise error(message(int(bad.flat[0])))


def _constant(like: Tensor, value, shape, dtype: str) -> Tensor:
    return leaf_from_data(like._node.session, np.full(shape, value, dtype=dtype))


def _cut(src: Tensor, shape) -> Tensor:
    """src's leading block of shape (scatter reads only the part of src its index covers)."""
    if tuple(src.shape) == tuple(shape):
        return src
    return apply("slice", src, attrs={"starts": (0,) * len(shape), "stops": tuple(shape), "steps": (1,) * len(shape)})


def _along(index: Tensor, d: int, shape) -> Tensor:
    """A 1-d index of positions along dim d, broadcast to shape (as index_copy/index_fill address rows)."""
    nd = len(shape)
    view = apply("reshape", index, attrs={"shape": (1,) * d + (-1,) + (1,) * (nd - d - 1)})
    return apply("broadcast_to", view, attrs={"shape": tuple(shape)})


# -- gather, scatter, scatter_add, scatter_reduce --------------------------------------------------------
@declare(tensors=("input", "index"))
def gather(input, dim, index, *, sparse_grad=False):
    """out[i][j] = input[index[i][j]][j] along dim (index no larger than input elsewhere), as torch.gather."""
    d = shapes.axis(int(dim), input.ndim)
    if _dt(index) not in INTS:
        raise RuntimeError("gather(): Expected dtype int32/int64 for index")
    if input.ndim == 0 and index.ndim == 0:
        _check_range(index, 1, lambda i: f"index {i} is out of bounds for dimension 0 with size 1")
        flat = apply("reshape", input, attrs={"shape": (1,)})
        out = apply("gather", flat, apply("reshape", index, attrs={"shape": (1,)}), attrs={"axis": 0})
        return apply("reshape", out, attrs={"shape": ()}, label="GatherBackward0")
    out = apply("gather", input, index, attrs={"axis": d})
    _check_range(index, input.shape[d], lambda i: f"index {i} is out of bounds for dimension {d} with size "
                                                  f"{input.shape[d]}")
    return out


def _scatter_checks(input, dim, index, src) -> int:
    # PyTorch's scatter_add and scatter_reduce share scatter's checks, and its messages name scatter().
    if _dt(index) not in INTS:
        raise RuntimeError("scatter(): Expected dtype int32/int64 for index")
    if src is not None and _dt(src) != _dt(input):
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    if index.ndim != input.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    d = shapes.axis(int(dim), input.ndim)
    if src is not None and src.ndim != input.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
    ish, xsh = tuple(index.shape), tuple(input.shape)
    ssh = tuple(src.shape) if src is not None else ish
    if any(i > s or (k != d and i > x) for k, (i, s, x) in enumerate(zip(ish, ssh, xsh))):
        raise RuntimeError(f"Expected index {list(ish)} to be no larger than self {list(xsh)} apart from dimension "
                           f"{d} and to be no larger size than src {list(ssh)}")
    size = xsh[d] if xsh else 1
    _check_range(index, size, lambda i: f"index {i} is out of bounds for dimension {d} with size {size}")
    return d


@declare(inplace=True, tensors=("input", "index"))
def scatter(input, dim, index, src=None, value=None, *, reduce=None):
    """input with input[index[i][j]][j] = src[i][j] along dim (or = value), as torch.scatter.

    reduce="add" or "multiply" combines instead (PyTorch has no derivative for that form, so neither has
    gradwire)."""
    if src is not None and not isinstance(src, Tensor):
        src, value = None, src
    if src is None and value is None:
        raise TypeError("scatter() missing required argument 'src' or 'value'")
    d = _scatter_checks(input, dim, index, src)
    label = "ScatterBackward0"
    if src is None:
        src, label = _constant(input, value, tuple(index.shape), _dt(input)), "ScatterBackward1"
    src = _cut(src, tuple(index.shape))
    if reduce is not None:
        if reduce not in ("add", "multiply"):
            raise RuntimeError("reduce argument must be either add or multiply.")
        if ops.is_grad_enabled() and (input.requires_grad or src.requires_grad):
            raise NotImplementedError("the derivative for 'scatter' with reduce= is not implemented (as in "
                                      "PyTorch); use scatter_reduce")
        return apply("scatter_reduce", input, index, src, attrs={
            "axis": d, "reduce": "sum" if reduce == "add" else "prod", "include_self": True})
    return apply("scatter", input, index, src, attrs={"axis": d}, label=label)


@declare(inplace=True, tensors=("input", "index", "src"))
def scatter_add(input, dim, index, src):
    """input with src[i][j] added at input[index[i][j]][j] along dim, as torch.scatter_add."""
    d = _scatter_checks(input, dim, index, src)
    src = _cut(src, tuple(index.shape))
    if input.ndim == 0:
        one = (1,)
        added = apply("gather_add", apply("reshape", src, attrs={"shape": one}),
                      apply("reshape", index, attrs={"shape": one}), attrs={"axis": 0, "shape": one})
        return apply("add", input, apply("reshape", added, attrs={"shape": ()}), label="ScatterAddBackward0")
    added = apply("gather_add", src, index, attrs={"axis": d, "shape": tuple(input.shape)})
    return apply("add", input, added, label="ScatterAddBackward0")


@declare(inplace=True, tensors=("input", "index", "src"))
def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """src reduced into input at index along dim (sum, prod, mean, amax, amin), as torch.scatter_reduce.

    include_self: whether input's own values take part."""
    d = _scatter_checks(input, dim, index, src)
    return apply("scatter_reduce", input, index, _cut(src, tuple(index.shape)),
                 attrs={"axis": d, "reduce": str(reduce), "include_self": bool(include_self)})


# -- index_select, index_add, index_copy, index_fill --------------------------------------------------
def _vector(index: Tensor) -> Tensor:
    return apply("reshape", index, attrs={"shape": (1,)}) if index.ndim == 0 else index


@declare(tensors=("input", "index"))
def index_select(input, dim, index):
    """The entries of input at index (a vector) along dim, as torch.index_select."""
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    if _dt(index) not in INTS:
        raise RuntimeError("index_select(): Expected dtype int32 or int64 for index")
    d = shapes.axis(int(dim), input.ndim)
    size = input.shape[d] if input.ndim else 1
    if d == 0:
        _check_range(index, size, lambda i: "index out of range in self", error=IndexError)
    else:   # PyTorch's kernel for the other dims words it so
        _check_range(index, size, lambda i: f"INDICES element is out of DATA bounds, id={i} axis_dim={size}")
    if input.ndim == 0:
        flat = apply("reshape", input, attrs={"shape": (1,)})
        out = apply("take", flat, _vector(index), attrs={"axis": 0})
        return apply("reshape", out, attrs={"shape": tuple(index.shape)}, label="IndexSelectBackward0")
    return apply("take", input, _vector(index), attrs={"axis": d}, label="IndexSelectBackward0")


def _index_common(name: str, input, dim, index, source) -> int:
    d = shapes.axis(int(dim), input.ndim)
    n_src = source.shape[d] if source.ndim else 1
    if index.numel() != n_src:
        raise (RuntimeError if name == "index_add_" else IndexError)(
            f"{name}(): Number of indices ({index.numel()}) should be equal to source.size(dim)"
            + (f": ({n_src}), for dim: {d}" if name == "index_add_" else f" ({n_src})"))
    return d


@declare(inplace=True, tensors=("input", "index", "source"))
def index_add(input, dim, index, source, *, alpha=1):
    """input with alpha * source's slices added at index along dim, as torch.index_add."""
    if index.ndim > 1:
        raise IndexError(f"index_add_(): Index is supposed to be a vector, but got dim: {index.ndim} with type: "
                         f"{LEGACY_NAMES[_dt(index)]} and size: {list(index.shape)}")
    if _dt(index) not in INTS:
        raise RuntimeError(f"index_add_(): Expected dtype int32/int64 for index but got: {LEGACY_NAMES[_dt(index)]}")
    if _dt(source) != _dt(input):
        raise RuntimeError(f"index_add_(): self ({LEGACY_NAMES[_dt(input)]}) and source ({LEGACY_NAMES[_dt(source)]}) "
                           f"must have the same scalar type")
    d = _index_common("index_add_", input, dim, index, source)
    if input.ndim and (source.ndim != input.ndim or any(
            a != b for k, (a, b) in enumerate(zip(input.shape, source.shape)) if k != d)):
        raise RuntimeError(f"source tensor shape must match self tensor shape, excluding the specified dimension. "
                           f"Got self.shape = {list(input.shape)} source.shape = {list(source.shape)}")
    size = input.shape[d] if input.ndim else 1
    _check_range(index, size, lambda i: f"index {i} is out of bounds for dimension {d} with size {size}")
    src = source if alpha == 1 else apply("mul", source, alpha)
    if input.ndim == 0:
        src = apply("reshape", src, attrs={"shape": (1,)})
        added = apply("scatter_add", src, _vector(index), attrs={"axis": 0, "size": 1})
        added = apply("reshape", added, attrs={"shape": ()})
    else:
        added = apply("scatter_add", src, _vector(index), attrs={"axis": d, "size": size})
    return apply("add", input, added, label="IndexAddBackward0")


@declare(inplace=True, tensors=("input", "index", "source"))
def index_copy(input, dim, index, source):
    """input with its slices at index along dim replaced by source's, as torch.index_copy."""
    if index.ndim > 1:
        raise IndexError(f"index_copy_(): Index should have dimension 1 or 0 (got {index.ndim})")
    if input.ndim and source.ndim and input.ndim != source.ndim:
        raise IndexError(f"index_copy_(): When source and destination are not scalars, their dimensionality must "
                         f"match. Source dimensionality ({source.ndim}), destination dimensionality ({input.ndim})")
    d = _index_common("index_copy_", input, dim, index, source)
    if input.ndim and source.ndim == input.ndim:
        for k in range(input.ndim):
            if k != d and input.shape[k] != source.shape[k]:
                j = k - (k > d)
                raise RuntimeError(f"index_copy_(): Source/destination tensor must have same slice shapes. "
                                   f"Destination slice shape: {input.shape[k]} at dimension {j} and source slice "
                                   f"shape: {source.shape[k]} at dimension {j}.")
    if _dt(index) != "int64":
        raise RuntimeError(f"index_copy_(): Expected a long tensor for index, but got {LEGACY_NAMES[_dt(index)]}")
    if _dt(source) != _dt(input):
        raise RuntimeError(f"index_copy_(): self and source expected to have the same dtype, but got (self) "
                           f"{LEGACY_NAMES[_dt(input)]} and (source) {LEGACY_NAMES[_dt(source)]}")
    size = input.shape[d] if input.ndim else 1
    _check_range(index, size, lambda i: f"index_copy_(): index {i} is out of bounds for dimension {d} with size "
                                        f"{size}", error=IndexError)
    if input.ndim == 0:
        flat = apply("reshape", input, attrs={"shape": (1,)})
        out = apply("scatter", flat, _vector(index), apply("reshape", source, attrs={"shape": (1,)}),
                    attrs={"axis": 0})
        return apply("reshape", out, attrs={"shape": ()}, label="IndexCopyBackward0")
    return apply("scatter", input, _along(_vector(index), d, tuple(source.shape)), source, attrs={"axis": d},
                 label="IndexCopyBackward0")


@declare(inplace=True, tensors=("input", "index"))
def index_fill(input, dim, index, value):
    """input with its slices at index along dim set to value (a number or a 0-d tensor), as torch.index_fill."""
    if _dt(index) != "int64":
        raise IndexError("index_fill_(): Expected dtype int64 for index.")
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(f"index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                           f"{value.ndim} dimension(s).")
    if index.ndim > 1:
        raise RuntimeError("Index has to be a vector/scalar")
    d = shapes.axis(int(dim), input.ndim)
    size = input.shape[d] if input.ndim else 1
    _check_range(index, size, lambda i: f"index {i} is out of bounds for dimension {d} with size {size}",
                 negative_ok=True, error=IndexError)
    # The filled positions as a mask (a position named twice is filled once, and value's gradient counts it once)
    x_shape = tuple(input.shape) or (1,)
    shape = list(x_shape)
    shape[d] = index.numel()
    mask = apply("scatter", _constant(input, False, x_shape, "bool"), _along(_vector(index), d, tuple(shape)),
                 _constant(input, True, tuple(shape), "bool"), attrs={"axis": d})
    if not input.ndim:
        mask = apply("reshape", mask, attrs={"shape": ()})
    if isinstance(value, Tensor):
        return apply("where", mask, ops.cast(value, input.dtype), input, label="IndexFillBackward1")
    return apply("where", mask, value, input, ref_args=(input,), label="IndexFillBackward0")


# -- take, take_along_dim -----------------------------------------------------------------------------
@declare(tensors=("input", "index"))
def take(input, index):
    """input's entries at index into its flattened values (negative ones count from the end), as torch.take."""
    if _dt(index) != "int64":
        raise RuntimeError(f"take(): Expected a long tensor for index, but got {LEGACY_NAMES[_dt(index)]}")
    n = input.numel()
    _check_range(index, n, lambda i: f"out of range: tried to access index {i} on a tensor of {n} elements.",
                 negative_ok=True, error=IndexError)
    flat = apply("reshape", input, attrs={"shape": (n,)})
    return apply("take", flat, index, attrs={"axis": 0}, label="TakeBackward0")


@declare(tensors=("input", "indices"))
def take_along_dim(input, indices, dim=None):
    """numpy.take_along_axis with broadcasting (of the flattened input when dim is None), as torch.take_along_dim."""
    if _dt(indices) != "int64":
        raise RuntimeError(f"torch.take_along_dim(): dtype of indices should be Long but got "
                           f"{LEGACY_NAMES[_dt(indices)]}")
    if dim is None:
        flat = apply("reshape", input, attrs={"shape": (input.numel(),)})
        return gather(flat, 0, apply("reshape", indices, attrs={"shape": (indices.numel(),)}))
    if input.ndim != indices.ndim:
        raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same number of dimensions, "
                           f"but got {input.ndim} dimensions for input, and {indices.ndim} dimensions for indices")
    d = shapes.axis(int(dim), input.ndim)
    _check_range(indices, input.shape[d], lambda i: f"index {i} is out of bounds for dimension {d} with size "
                                                    f"{input.shape[d]}", negative_ok=True)
    sizes = list(input.shape)
    sizes[d] = indices.shape[d]
    shape = shapes.broadcast(tuple(sizes), tuple(indices.shape))
    idx = indices if tuple(indices.shape) == shape else apply("broadcast_to", indices, attrs={"shape": shape})
    target = shape[:d] + (input.shape[d],) + shape[d + 1:]
    x = input if tuple(input.shape) == target else ops.expand(input, target)
    return gather(x, d, idx)


@declare(inplace=True, tensors=("input", "index", "source"))
def index_reduce(input, dim, index, source, reduce, *, include_self=True):
    """source's slices reduced into input at index along dim (prod, mean, amax, amin), as torch.index_reduce.

    include_self: whether input's own values take part."""
    warnings.warn("index_reduce() is in beta and the API may change at any time.", UserWarning, stacklevel=2)
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}.")
    if _dt(index) not in INTS:
        raise RuntimeError(f"index_reduce_(): Expected dtype int32/int64 for index but got: "
                           f"{LEGACY_NAMES[_dt(index)]}")
    if index.ndim > 1:
        raise IndexError(f"index_reduce_(): Index is supposed to be a vector, but got dim: {index.ndim} with type: "
                         f"{LEGACY_NAMES[_dt(index)]} and size: {list(index.shape)}")
    if _dt(source) != _dt(input):
        raise RuntimeError(f"index_reduce_(): self ({LEGACY_NAMES[_dt(input)]}) and source "
                           f"({LEGACY_NAMES[_dt(source)]}) must have the same scalar type")
    d = shapes.axis(int(dim), input.ndim)
    n_src = source.shape[d] if source.ndim else 1
    if index.numel() != n_src:
        raise RuntimeError(f"index_reduce_(): Number of indices ({index.numel()}) should be equal to "
                           f"source.size(dim): ({n_src}), for dim: {d}")
    size = input.shape[d] if input.ndim else 1
    if include_self:
        _check_range(index, size, lambda i: "index out of range in self", error=IndexError)
    else:   # PyTorch's include_self=False path words it so
        _check_range(index, size, lambda i: f"index {i} is out of bounds for dimension {d} with size {size}",
                     error=IndexError)
    if not input.ndim:
        raise NotImplementedError("gradwire's index_reduce takes tensors of at least one dim")
    return apply("scatter_reduce", input, _along(_vector(index), d, tuple(source.shape)), source,
                 attrs={"axis": d, "reduce": str(reduce), "include_self": bool(include_self)},
                 label="IndexReduceBackward0")


@declare(inplace=True, tensors=("input", "values"))
def index_put(input, indices, values, accumulate=False):
    """input with input[indices] = values (added with accumulate), as torch.index_put."""
    if _dt(values) != _dt(input):
        raise RuntimeError(f"Index put requires the source and destination dtypes match, got "
                           f"{LEGACY_NAMES[_dt(input)]} for the destination and {LEGACY_NAMES[_dt(values)]} for "
                           f"the source.")
    key = tuple(indices)
    if not accumulate:
        out = input.clone()
        ops.setitem(out, key, values)
        return out
    shape = tuple(input.shape)
    n = input.numel()
    positions = ops._torch_order(np.arange(n, dtype=np.int64).reshape(shape), ops._numpy_key(key))
    if not ops.shapes_broadcast_to(tuple(values.shape), positions.shape):
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(values.shape)} cannot be broadcast to "
                           f"indexing result of shape {list(positions.shape)}")
    flat = apply("reshape", apply("broadcast_to", values, attrs={"shape": positions.shape}),
                 attrs={"shape": (positions.size,)})
    added = apply("scatter_add", flat, leaf_from_data(input._node.session, positions.reshape(-1)),
                  attrs={"axis": 0, "size": n})
    out = apply("add", apply("reshape", input, attrs={"shape": (n,)}), added)
    return apply("reshape", out, attrs={"shape": shape}, label="IndexPutBackward0")
