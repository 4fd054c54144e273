"""Declarations of PyTorch's masked functions and nonzero: masked_fill, masked_select, masked_scatter, nonzero,
argwhere. Results whose shape depends on data (masked_select, masked_scatter, nonzero) read the value that decides
it (one request where it is not known yet, as PyTorch itself synchronises there) and record the rest with known
shapes, so gradients flow as in PyTorch."""
from __future__ import annotations

import numpy as np

from gradwire import ops
from gradwire.core import shapes
from gradwire.core.dtypes import LEGACY_NAMES
from gradwire.core.structural import _CPP
from gradwire.declare import declare
from gradwire.ops import apply, leaf_from_data
from gradwire.tensor import Tensor


def _dt(t) -> str:
    return t._node.dtype


# -- masked_fill, masked_select, masked_scatter -------------------------------------------------------
@declare(inplace=True, tensors=("input", "mask"))
def masked_fill(input, mask, value):
    """input with value where mask (broadcast) is True, as torch.masked_fill (value: a number or a 0-d tensor)."""
    if _dt(mask) != "bool":
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {_CPP[_dt(mask)]}")
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        return apply("where", mask, ops.cast(value, input.dtype), input, label="MaskedFillBackward1")
    return apply("where", mask, value, input, ref_args=(input,), label="MaskedFillBackward0")


def _mask_positions(input, mask, name: str):
    """(broadcast shape, flat positions where the mask is True): the mask's value is read."""
    shape = shapes.broadcast(tuple(mask.shape), tuple(input.shape))
    value = np.broadcast_to(mask._value(), shape)
    return shape, np.flatnonzero(value).astype(np.int64)


def _flat(input, shape) -> Tensor:
    x = input if tuple(input.shape) == shape else apply("broadcast_to", input, attrs={"shape": shape})
    return apply("reshape", x, attrs={"shape": (int(np.prod(shape, dtype=np.int64)),)})


@declare(tensors=("input", "mask"))
def masked_select(input, mask):
    """The 1-d tensor of input's entries where mask (broadcast) is True, as torch.masked_select.

    The mask's value decides the result's shape: it is read (one request if not known yet)."""
    if _dt(mask) != "bool":
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    shape, pos = _mask_positions(input, mask, "masked_select")
    return apply("take", _flat(input, shape), leaf_from_data(input._node.session, pos), attrs={"axis": 0},
                 label="MaskedSelectBackward0")


@declare(inplace=True, tensors=("input", "mask", "source"))
def masked_scatter(input, mask, source):
    """input with source's leading entries written, in order, where mask is True, as torch.masked_scatter.

    The mask's value decides which entries of source are read: it is read (one request if not known yet)."""
    if _dt(mask) != "bool":
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with dtype "
                           f"{LEGACY_NAMES[_dt(mask)]}")
    if _dt(source) != _dt(input):
        raise RuntimeError(f"masked_scatter: expected self and source to have same dtypes but got"
                           f"{LEGACY_NAMES[_dt(input)]} and {LEGACY_NAMES[_dt(source)]}")
    shape, pos = _mask_positions(input, mask, "masked_scatter")
    if source.numel() < pos.size:
        raise RuntimeError("Number of elements of source < number of ones in mask")
    x = input if tuple(input.shape) == shape else apply("broadcast_to", input, attrs={"shape": shape})
    flat = apply("reshape", source, attrs={"shape": (source.numel(),)})
    flat = apply("slice", flat, attrs={"starts": (0,), "stops": (int(pos.size),), "steps": (1,)})
    return apply("put", x, leaf_from_data(input._node.session, pos), flat, attrs={"batch_dims": 0},
                 label="MaskedScatterBackward0")


# -- nonzero, argwhere ------------------------------------------------------------------------------
@declare()
def nonzero(input, *, as_tuple=False):
    """The (n, ndim) int64 indices of the nonzero entries (one 1-d tensor per dim with as_tuple), as torch.nonzero.

    Data decides the shape: the input's value is read (one request if not known yet)."""
    value = np.asarray(input._value())
    session = input._node.session
    if as_tuple:
        rows = np.nonzero(value.reshape(-1) if value.ndim == 0 else value)
        return tuple(leaf_from_data(session, r.astype(np.int64)) for r in rows)
    if value.ndim == 0:
        return leaf_from_data(session, np.zeros((int(value != 0), 0), np.int64))
    return leaf_from_data(session, np.argwhere(value).astype(np.int64))


@declare()
def argwhere(input):
    """The (n, ndim) int64 indices of the nonzero entries, as torch.argwhere (reads the input's value)."""
    return nonzero(input)
