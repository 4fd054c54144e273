"""Declarations of PyTorch's joins and grids: hstack, vstack, dstack, column_stack, meshgrid, broadcast_tensors,
atleast_1d/2d/3d (views where PyTorch's are), cartesian_prod, block_diag."""
from __future__ import annotations

import warnings

import numpy as np

from gradwire import ops
from gradwire.core import shapes
from gradwire.core.dtypes import result_type
from gradwire.declare import declare
from gradwire.ops import apply, leaf_from_data
from gradwire.session import current_session
from gradwire.tensor import Tensor


def _tensors_arg(name: str, tensors) -> list:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{name}(): argument 'tensors' (position 1) must be tuple of Tensors, not "
                        f"{type(tensors).__name__}")
    return list(tensors)


def _varargs(tensors: tuple) -> tuple:
    """f(a, b) and f([a, b]) alike (meshgrid, broadcast_tensors, atleast_*)."""
    return tuple(tensors[0]) if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors


@declare(method=False)
def broadcast_tensors(*tensors):
    """Views of the tensors broadcast to one shape, as torch.broadcast_tensors."""
    tensors = _varargs(tensors)
    shape = shapes.broadcast(*(tuple(t.shape) for t in tensors))
    return tuple(t if tuple(t.shape) == shape else ops.expand(t, shape) for t in tensors)


@declare(method=False)
def meshgrid(*tensors, indexing=None):
    """Coordinate grids (views) of 0-d or 1-d tensors; indexing "ij" (the default) or "xy", as torch.meshgrid."""
    tensors = _varargs(tensors)
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument.",
                      UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}')
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError("torch.meshgrid: Expected 0D or 1D tensor in the tensor list")
    if len({t.dtype for t in tensors}) > 1:
        raise RuntimeError("meshgrid expects all tensors to have the same dtype")
    swap = indexing == "xy" and len(tensors) >= 2
    ts = [tensors[1], tensors[0], *tensors[2:]] if swap else list(tensors)
    shape = tuple(t.numel() for t in ts)
    grids = []
    for k, t in enumerate(ts):
        view = ops.reshape(t, (1,) * k + (-1,) + (1,) * (len(ts) - k - 1))
        grids.append(ops.expand(view, shape))
    if swap:
        grids = [grids[1], grids[0], *grids[2:]]
    return tuple(grids)


def _atleast(name: str, rank: int):
    def make(t):
        n = t.ndim
        if n >= rank:
            return t
        if n == 0:
            return ops.reshape(t, (1,) * rank)
        if rank == 2 or n == 2:
            return ops.unsqueeze(t, 0 if rank == 2 else -1)
        return ops.unsqueeze(ops.unsqueeze(t, 0), -1)

    def fn(*tensors):
        many = len(tensors) != 1 or isinstance(tensors[0], (list, tuple))
        out = tuple(make(t) for t in _varargs(tensors))
        return out if many else out[0]
    fn.__name__ = name
    fn.__doc__ = f"The tensors viewed with at least {rank} dims (one tensor, or a tuple for several), as torch.{name}."
    return declare(name, method=False)(fn)


atleast_1d, atleast_2d, atleast_3d = _atleast("atleast_1d", 1), _atleast("atleast_2d", 2), _atleast("atleast_3d", 3)


def _stacker(name: str, prepare, dim):
    def fn(tensors):
        tensors = _tensors_arg(name, tensors)
        if not tensors:
            raise RuntimeError(f"{name} expects a non-empty TensorList")
        parts = [prepare(t) for t in tensors]
        return ops.cat(parts, dim(parts))
    fn.__name__ = name
    return fn


_column = lambda t: ops.reshape(t, (t.numel(), 1)) if t.ndim <= 1 else t  # noqa: E731
declare("hstack", method=False, doc="Join along dim 1 (dim 0 for 1-d tensors), as torch.hstack.")(
    _stacker("hstack", atleast_1d, lambda ps: 0 if ps[0].ndim == 1 else 1))
declare("vstack", method=False, aliases=("row_stack",), doc="Join rows (tensors made at least 2-d), as "
        "torch.vstack.")(_stacker("vstack", atleast_2d, lambda ps: 0))
declare("dstack", method=False, doc="Join along dim 2 (tensors made at least 3-d), as torch.dstack.")(
    _stacker("dstack", atleast_3d, lambda ps: 2))
declare("column_stack", method=False, doc="Join columns (0-d and 1-d tensors as columns), as torch.column_stack.")(
    _stacker("column_stack", _column, lambda ps: 1))


@declare(method=False)
def cartesian_prod(*tensors):
    """The rows of all combinations of the 1-d tensors' elements (one tensor: itself), as torch.cartesian_prod."""
    tensors = _varargs(tensors)
    for t in tensors:
        if t.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return ops.stack([ops.flatten(g) for g in grids], 1)


@declare(method=False)
def block_diag(*tensors):
    """The tensors (at most 2-d; 0-d and 1-d ones as one row) as blocks on a diagonal, zeros elsewhere (inputs
    promoted), as torch.block_diag."""
    blocks = []
    for k, t in enumerate(tensors):
        if t.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {k} has "
                               f"{t.ndim} dimensions")
        blocks.append(t if t.ndim == 2 else ops.reshape(t, (1, -1)))
    if not blocks:
        return leaf_from_data(current_session(), np.zeros((1, 0), np.float32))
    dtype = result_type(*((b._node.dtype, b.ndim, False) for b in blocks))
    rows, cols = sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks)
    out = leaf_from_data(blocks[0]._node.session, np.zeros((rows, cols), dtype))
    r = c = 0
    for k, b in enumerate(blocks):
        h, w = b.shape
        out = apply("slice_scatter", out, ops.cast(b, dtype), attrs={"starts": (r, c), "stops": (r + h, c + w),
                                                                     "steps": (1, 1)},
                    label="BlockDiagBackward0" if k == len(blocks) - 1 else None)
        r, c = r + h, c + w
    return out
