"""Declarations of PyTorch's further views (movedim, unflatten, tensor_split, hsplit/vsplit/dsplit, broadcast_to,
ravel, t, adjoint) and its out-of-place writes through views (slice_scatter, select_scatter, diagonal_scatter: the
engine ops in-place writes through views already use)."""
from __future__ import annotations

import math
import numbers

from gradwire import ops
from gradwire.core import shapes
from gradwire.core.dtypes import LEGACY_NAMES
from gradwire.core.structural import BIG, diagonal_shape
from gradwire.declare import declare
from gradwire.ops import _dim, _slice_dim, apply, view_op
from gradwire.tensor import Tensor


def _int_list(dims) -> tuple:
    return (int(dims),) if isinstance(dims, numbers.Integral) else tuple(int(d) for d in dims)


# -- views: movedim, unflatten, tensor_split, broadcast_to -------------------------
@declare(aliases=("moveaxis",))
def movedim(input, source, destination):
    """A view with dims source moved to positions destination (the others keep their order), as torch.movedim."""
    if isinstance(source, numbers.Integral) != isinstance(destination, numbers.Integral):
        raise TypeError(f"movedim() received an invalid combination of arguments - got "
                        f"({type(source).__name__}, {type(destination).__name__}), but expected one of:")
    src, dst = _int_list(source), _int_list(destination)
    n = input.ndim
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} dims) should "
                           f"contain the same number of dims as destination ({list(dst)} dims)")
    src_n, dst_n = [_dim(d, n) for d in src], [_dim(d, n) for d in dst]
    for name, given, norm in (("source", src, src_n), ("destination", dst, dst_n)):
        if len(set(norm)) != len(norm):
            raise RuntimeError(f"movedim: repeated dim in `{name}` ({list(given)})")
    perm = [-1] * n
    for s, d in zip(src_n, dst_n):
        perm[d] = s
    rest = iter(k for k in range(n) if k not in src_n)
    perm = tuple(p if p >= 0 else next(rest) for p in perm)
    return view_op(input, "transpose", {"perm": perm})


@declare()
def unflatten(input, dim, sizes):
    """Dim split into sizes (one -1 inferred), a view where strides allow, as torch.unflatten."""
    sizes = _int_list(sizes)
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    d = _dim(dim, input.ndim)
    shape = tuple(input.shape)
    known = math.prod(s for s in sizes if s != -1)
    if sizes.count(-1) > 1:
        raise RuntimeError("unflatten got an unexpected error:")
    if (-1 in sizes and (known == 0 or shape[d] % known)) or (-1 not in sizes and known != shape[d]):
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {d} "
                           f"({shape[d]}) in the input tensor")
    sizes = tuple(shape[d] // known if s == -1 else s for s in sizes)
    return ops.reshape(input, shape[:d] + sizes + shape[d + 1:])


@declare()
def tensor_split(input, indices_or_sections=None, dim=0, *, sections=None, indices=None):
    """Views of input split into `sections` near-equal parts or at `indices` along dim, as torch.tensor_split."""
    spec = indices_or_sections if indices_or_sections is not None else sections if sections is not None else indices
    if input.ndim == 0:
        raise RuntimeError("tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims")
    if isinstance(spec, Tensor):
        if spec.dtype.name != "int64":
            raise RuntimeError(f"tensor_split expected tensor_indices_or_sections to have dtype of long, but got "
                               f"{LEGACY_NAMES[spec._node.dtype]}")
        if spec.ndim > 1:
            raise RuntimeError(f"tensor_split expected tensor_indices_or_sections to be a zero-dimensional or "
                               f"one-dimensional tensor, but got a tensor with {spec.ndim} dims")
        value = spec._value()
        spec = int(value) if spec.ndim == 0 else [int(i) for i in value]
    d = _dim(dim, input.ndim)
    n = input.shape[d]
    if isinstance(spec, numbers.Integral):
        k = int(spec)
        if k <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {k}")
        size, extra = divmod(n, k)
        bounds, start = [], 0
        for j in range(k):
            bounds.append((start, start + size + (j < extra)))
            start = bounds[-1][1]
    else:
        cuts = [int(i) for i in spec]
        edges = [0] + cuts + [n]
        bounds = [(a, b) for a, b in zip(edges[:-1], edges[1:])]
    out = []
    for a, b in bounds:
        lo, hi, _ = slice(a, b).indices(n)
        out.append(_slice_dim(input, d, lo, max(hi, lo)))
    return tuple(out)


@declare()
def broadcast_to(input, size):
    """A view of input broadcast to size (-1 keeps a dim), as torch.broadcast_to."""
    return ops.expand(input, _int_list(size))


@declare()
def ravel(input):
    """The elements as a 1-d tensor: a view of a contiguous input, else of a contiguous copy, as torch.ravel."""
    return ops.view(input if input.is_contiguous() else input.clone(), (-1,))


@declare()
def t(input):
    """A view with the two dims of a matrix swapped (0-d and 1-d tensors as they are), as torch.t."""
    return input.t()


@declare()
def adjoint(input):
    """A view with the last two dims swapped (the conjugate transpose of real matrices), as torch.adjoint."""
    if input.ndim == 0:
        from gradwire.tensor import _warn_once
        _warn_once("adjoint() is deprecated on 0-D tensors. Consider using x.conj().")
        return input
    if input.ndim < 2:
        raise RuntimeError(f"tensor.adjoint() is only supported on matrices or batches of matrices. Got "
                           f"{input.ndim}-D tensor.")
    return ops.transpose(input, -2, -1)


def _splitter(name: str, dim: int, rank: int):
    def fn(input, indices_or_sections):
        if input.ndim < rank:
            raise RuntimeError(f"torch.{name} requires a tensor with at least {rank} dimension, but got a tensor "
                               f"with {input.ndim} dimensions!")
        d = 0 if name == "hsplit" and input.ndim == 1 else dim
        if isinstance(indices_or_sections, numbers.Integral):
            k, n = int(indices_or_sections), input.shape[d]
            if k == 0 or n % k:
                raise RuntimeError(f"torch.{name} attempted to split along dimension {d}, but the size of the "
                                   f"dimension {n} is not divisible by the split_size {k}!")
        return tensor_split(input, indices_or_sections, d)
    fn.__name__ = name
    return fn


declare("hsplit", doc="Views split along dim 1 (dim 0 of a 1-d tensor) into equal sections or at indices, as "
        "torch.hsplit.")(_splitter("hsplit", 1, 1))
declare("vsplit", doc="Views split along dim 0 into equal sections or at indices, as torch.vsplit.")(
    _splitter("vsplit", 0, 2))
declare("dsplit", doc="Views split along dim 2 into equal sections or at indices, as torch.dsplit.")(
    _splitter("dsplit", 2, 3))


# -- slice_scatter, select_scatter, diagonal_scatter -------------------------------------------------
def _fits(src, want) -> None:
    if tuple(src.shape) != tuple(want):
        raise RuntimeError(f"expected src to have a size equal to the slice of self. src size = {list(src.shape)}, "
                           f"slice size = {list(want)}")


@declare(tensors=("input", "src"))
def slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    """input with src written into input[start:end:step] along dim (src cast to input's dtype), as
    torch.slice_scatter."""
    d = _dim(dim, input.ndim)
    attrs = {"starts": (0,) * d + (0 if start is None else int(start),),
             "stops": (BIG,) * d + (BIG if end is None else int(end),), "steps": (1,) * d + (int(step),)}
    _fits(src, shapes.slice_shape(tuple(input.shape), attrs["starts"], attrs["stops"], attrs["steps"]))
    return apply("slice_scatter", input, ops.cast(src, input.dtype), attrs=attrs, label="SliceScatterBackward0")


@declare(tensors=("input", "src"))
def select_scatter(input, src, dim, index):
    """input with src written at input.select(dim, index) (src cast to input's dtype), as torch.select_scatter."""
    target = ops.select(input, dim, index)      # checks dim and index with PyTorch's messages
    _fits(src, target.shape)
    d = _dim(dim, input.ndim)
    i = int(index) % input.shape[d]
    row = apply("unsqueeze", ops.cast(src, input.dtype), attrs={"axis": d})
    return apply("slice_scatter", input, row, attrs={"starts": (0,) * d + (i,), "stops": (BIG,) * d + (i + 1,),
                                                     "steps": (1,) * (d + 1)}, label="SelectScatterBackward0")


@declare(tensors=("input", "src"))
def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):
    """input with src written on the diagonal of the planes (dim1, dim2) (src cast to input's dtype), as
    torch.diagonal_scatter."""
    _dim(dim1, input.ndim), _dim(dim2, input.ndim)
    if input.ndim < 2:
        raise RuntimeError(f"diagonal(): input must have at least 2 dimensions, but got {input.ndim}")
    attrs = {"offset": int(offset), "axis1": int(dim1), "axis2": int(dim2)}
    _fits(src, diagonal_shape(tuple(input.shape), attrs))
    return apply("diagonal_scatter", input, ops.cast(src, input.dtype), attrs=attrs,
                 label="DiagonalScatterBackward0")
