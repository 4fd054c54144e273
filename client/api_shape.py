"""Declarations of PyTorch's shape functions: the first views (reshape, permute, select, split, ...), rearranging
copies (flip, roll, rot90, repeat, tril, ...), joins (cat, stack), products that are rearrangements (outer, kron)
and unfold. More views and the view writes (movedim, tensor_split, hsplit, slice_scatter, ...) are in api_views.py,
the indexing functions (gather, scatter, index_*, masked_*, nonzero) in api_index.py, the joins and grids
(hstack, meshgrid, broadcast_tensors, atleast_*) in api_join.py."""
from __future__ import annotations

import numbers

import numpy as np

from gradwire import ops
from gradwire.declare import autograd, declare
from gradwire.ops import _dim, apply, view_op
from gradwire.tensor import Tensor, _sizes

# -- the views and joins that were plain functions (their Tensor methods are Tensor's own) --------------
declare("cat", method=False, aliases=("concat", "concatenate"),
        doc="Join tensors along an existing dim (inputs promoted), as torch.cat.")(ops.cat)
declare("stack", method=False, doc="Join tensors along a new dim, as torch.stack.")(ops.stack)
declare("reshape", doc="The same elements in a new shape: a view where strides allow, as torch.reshape.")(ops.reshape)
declare("permute", doc="A view with the dims reordered, as torch.permute.")(ops.permute)
declare("transpose", doc="A view with two dims swapped, as torch.transpose.")(ops.transpose)


@declare()
def swapaxes(input, axis0, axis1):
    """A view with two dims swapped, as torch.swapaxes (transpose with NumPy's argument names)."""
    return ops.transpose(input, axis0, axis1)


@declare()
def swapdims(input, dim0, dim1):
    """A view with two dims swapped, as torch.swapdims (an alias of transpose)."""
    return ops.transpose(input, dim0, dim1)


Tensor.swapaxes, Tensor.swapdims = (lambda self, axis0, axis1: swapaxes(self, axis0, axis1),
                                    lambda self, dim0, dim1: swapdims(self, dim0, dim1))
declare("unsqueeze", doc="A view with a size-1 dim inserted, as torch.unsqueeze.")(ops.unsqueeze)
declare("squeeze", doc="A view without size-1 dims (or the one named), as torch.squeeze.")(ops.squeeze)
declare("flatten", doc="Dims start_dim..end_dim merged into one (a view where possible), as torch.flatten.")(
    ops.flatten)
declare("select", doc="A view at one index of a dim, as torch.select.")(ops.select)
declare("narrow", doc="A view of length elements from start along a dim, as torch.narrow.")(ops.narrow)
declare("unbind", doc="Views of every index along a dim, as torch.unbind.")(ops.unbind)
declare("split", doc="Views of consecutive chunks of a dim (by size or by sizes), as torch.split.")(ops.split)
declare("chunk", doc="Views of (at most) `chunks` equal chunks of a dim, as torch.chunk.")(ops.chunk)
declare("diagonal", doc="A view of a diagonal of the planes (dim1, dim2), as torch.diagonal.")(ops.diagonal)

autograd("flip", "FlipBackward0")
autograd("roll", "RollBackward0")
autograd("tril", "TrilBackward0")
autograd("triu", "TriuBackward0")
autograd("repeat", "RepeatBackward0")
autograd("diag_embed", "DiagEmbedBackward0")
autograd("unfold", "UnfoldBackward0")


def _int_list(dims) -> tuple:
    return (int(dims),) if isinstance(dims, numbers.Integral) else tuple(int(d) for d in dims)


# -- flip, roll, rot90 -------------------------------------------------------------------------------
@declare()
def flip(input, dims):
    """Reverse the order of elements along dims (a copy), as torch.flip; Tensor.flip also takes dims as varargs."""
    if isinstance(dims, numbers.Integral):
        raise TypeError("flip(): argument 'dims' (position 2) must be tuple of ints, not int")
    return apply("flip", input, attrs={"dims": _int_list(dims)})


def _flip_method(self, *dims):
    """x.flip(0, 1) and x.flip((0, 1)), as torch.Tensor.flip."""
    if not dims:
        raise TypeError('flip() missing 1 required positional arguments: "dims"')
    return flip(self, _sizes(dims))


Tensor.flip = _flip_method


@declare()
def fliplr(input):
    """Reverse the order of columns (dim 1), as torch.fliplr."""
    if input.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return apply("flip", input, attrs={"dims": (1,)})


@declare()
def flipud(input):
    """Reverse the order of rows (dim 0), as torch.flipud."""
    if input.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return apply("flip", input, attrs={"dims": (0,)})


@declare()
def roll(input, shifts, dims=None):
    """Roll elements along dims (over the flattened tensor when dims is None), as torch.roll."""
    shifts = _int_list(shifts)
    if not shifts:
        raise RuntimeError("`shifts` required")
    if dims is None or (not isinstance(dims, numbers.Integral) and not len(dims)):
        if len(shifts) != 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:0")
        flat = apply("reshape", input, attrs={"shape": (input.numel(),)})
        out = apply("roll", flat, attrs={"shifts": shifts, "dims": (0,)})
        return apply("reshape", out, attrs={"shape": tuple(input.shape)}, label="RollBackward0")
    dims = _int_list(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    if input.numel() == 0:      # PyTorch returns the empty tensor without looking at dims
        return apply("cast", input, attrs={"dtype": input.dtype.name}, label="RollBackward0")
    if input.ndim == 0:
        raise IndexError(f"Dimension specified as {dims[0]} but tensor has no dimensions")
    return apply("roll", input, attrs={"shifts": shifts, "dims": dims})


@declare()
def rot90(input, k=1, dims=(0, 1)):
    """Rotate by 90 degrees k times in the plane dims, from the first towards the second, as torch.rot90."""
    dims = _int_list(dims)
    n = input.ndim
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if n < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {n}")
    d0, d1 = dims
    _dim(d0, n), _dim(d1, n)
    if d0 == d1 or abs(d0 - d1) == n:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}")
    k = int(k) % 4
    if k == 0:
        return apply("cast", input, attrs={"dtype": input.dtype.name}, label="Rot90Backward0")
    if k == 2:
        return apply("flip", input, attrs={"dims": dims}, label="Rot90Backward0")
    flipped = apply("flip", input, attrs={"dims": (d1,) if k == 1 else (d0,)})
    perm = list(range(n))
    a, b = d0 % n, d1 % n
    perm[a], perm[b] = perm[b], perm[a]
    return apply("transpose", flipped, attrs={"perm": tuple(perm)}, label="Rot90Backward0")


# -- repeat, tile, repeat_interleave -----------------------------------------------------------------
@declare(function=False)
def repeat(input, *sizes):
    """Tile the tensor sizes[k] times along dim k (leading sizes add dims), as torch.Tensor.repeat."""
    if not sizes:
        raise TypeError('repeat() missing 1 required positional arguments: "repeats"')
    return apply("repeat", input, attrs={"repeats": _int_list(_sizes(sizes))})


@declare()
def tile(input, dims):
    """Tile the tensor (dims shorter than its rank count from the last dim), as torch.tile."""
    dims = _int_list(dims)
    return apply("repeat", input, attrs={"repeats": (1,) * (input.ndim - len(dims)) + dims})


def _tile_method(self, *dims):
    """x.tile(2, 2) and x.tile((2, 2)), as torch.Tensor.tile."""
    if not dims:
        raise TypeError('tile() missing 1 required positional arguments: "dims"')
    return tile(self, _sizes(dims))


Tensor.tile = _tile_method


@declare()
def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Repeat each element (along dim, or of the flattened tensor) repeats times, as torch.repeat_interleave.
    Tensor repeats decide the result's shape: their value is read (one request if not known yet), and the
    result is an index_select with those indices. torch.repeat_interleave(repeats) gives the repeated indices."""
    if repeats is None:
        counts = _counts(input)
        return ops.leaf_from_data(input._node.session, np.repeat(np.arange(len(counts)), counts))
    x = input
    if dim is None:
        x = apply("reshape", input, attrs={"shape": (input.numel(),)})
        dim = 0
    d = _dim(dim, x.ndim)
    n = x.shape[d] if x.ndim else 1
    if isinstance(repeats, Tensor):
        counts = _counts(repeats, check=False)
        if counts.size == 1:
            counts = np.repeat(counts, n)
        elif counts.size != n:
            raise RuntimeError(f"repeats must have the same size as input along dim, but got repeats.size(0) = "
                               f"{counts.size} and input.size({d}) = {n}")
        _counts(repeats)
        if output_size is not None and int(output_size) != int(counts.sum()):
            raise RuntimeError("allocated size does not match required size")
        index = ops.leaf_from_data(x._node.session, np.repeat(np.arange(n), counts))
        return apply("take", x, index, attrs={"axis": d}, label="IndexSelectBackward0")
    r = int(repeats)
    if r < 0:
        raise RuntimeError("Repeats must be non-negative")
    if output_size is not None and int(output_size) != r * n:
        raise RuntimeError(f"repeat_interleave: Invalid output_size, expected {r * n} but got {int(output_size)}")
    shape = tuple(x.shape)
    spread = apply("unsqueeze", x, attrs={"axis": d + 1})
    spread = apply("broadcast_to", spread, attrs={"shape": shape[:d + 1] + (r,) + shape[d + 1:]})
    return apply("reshape", spread, attrs={"shape": shape[:d] + (n * r,) + shape[d + 1:]}, label="ViewBackward0")


def _counts(repeats, check=True) -> np.ndarray:
    if repeats.ndim > 1:
        raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
    if repeats.dtype.name not in ("int32", "int64"):
        raise RuntimeError("repeats has to be Long or Int tensor")
    counts = np.asarray(repeats._value(), np.int64).reshape(-1)
    if check and (counts < 0).any():
        raise RuntimeError("repeats can not be negative")
    return counts


# -- tril, triu, diag, diag_embed, trace ---------------------------------------------------------------
@declare(inplace=True)
def tril(input, diagonal=0):
    """The lower triangle of the last two dims (zeros above diagonal), as torch.tril."""
    return apply("tril", input, attrs={"diagonal": int(diagonal)})


@declare(inplace=True)
def triu(input, diagonal=0):
    """The upper triangle of the last two dims (zeros below diagonal), as torch.triu."""
    return apply("triu", input, attrs={"diagonal": int(diagonal)})


@declare()
def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """Zeros with input's last dim on a diagonal of the planes (dim1, dim2), as torch.diag_embed."""
    return apply("diag_embed", input, attrs={"offset": int(offset), "dim1": int(dim1), "dim2": int(dim2)})


@declare()
def diag(input, diagonal=0):
    """A 1-d tensor as a diagonal matrix, or a 2-d tensor's diagonal (a copy), as torch.diag."""
    if input.ndim == 1:
        return apply("diag_embed", input, attrs={"offset": int(diagonal), "dim1": 0, "dim2": 1})
    if input.ndim != 2:
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")
    return apply("diagonal", input, attrs={"offset": int(diagonal), "axis1": 0, "axis2": 1},
                 label="DiagonalBackward0_copy")


@declare()
def trace(input):
    """The sum of a matrix's main diagonal, as torch.trace."""
    if input.dtype.name == "bool":
        raise NotImplementedError("\"trace\" not implemented for 'Bool'")
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    d = apply("diagonal", input, attrs={"offset": 0, "axis1": 0, "axis2": 1})
    return apply("sum", d, attrs={"axes": None, "keepdims": False}, label="TraceBackward0")


# -- kron (outer is in api_linalg) ---------------------------------------------------------------------------------------
@declare(tensors=("input", "other"))
def kron(input, other):
    """The Kronecker product (ranks aligned on the right), as torch.kron."""
    n = max(input.ndim, other.ndim)
    a = (1,) * (n - input.ndim) + tuple(input.shape)
    b = (1,) * (n - other.ndim) + tuple(other.shape)
    x = apply("reshape", input, attrs={"shape": tuple(v for d in a for v in (d, 1))})
    y = apply("reshape", other, attrs={"shape": tuple(v for d in b for v in (1, d))})
    return apply("reshape", apply("mul", x, y), attrs={"shape": tuple(p * q for p, q in zip(a, b))},
                 label="UnsafeViewBackward0")


# -- unfold (a method only, as in PyTorch) ---------------------------------------------------------------
@declare(function=False)
def unfold(input, dimension, size, step):
    """A view of the windows along a dim as a new last dim, as torch.Tensor.unfold (not writable).

    Windows of `size` elements every `step`; writes through the view are refused (its windows may share
    elements)."""
    return view_op(input, "unfold", {"dimension": int(dimension), "size": int(size), "step": int(step)})

from gradwire import api_index, api_join, api_masked, api_views  # noqa: E402,F401  (the other shape declarations)
