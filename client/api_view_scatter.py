"""Declarations of PyTorch's out-of-place writes through views: slice_scatter, select_scatter, diagonal_scatter
(the engine ops that in-place writes through views already use)."""
from __future__ import annotations

from gradwire import ops
from gradwire.core import shapes
from gradwire.core.structural import BIG, diagonal_shape
from gradwire.declare import declare
from gradwire.ops import _dim, apply


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
