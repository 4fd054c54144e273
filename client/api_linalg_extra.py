"""torch.cdist (pairwise p-norm distances between the rows of two batches of matrices), torch.linalg.vecdot,
chains of products (linalg.multi_dot, chain_matmul, matrix_power), linalg.cond, and torch.linalg's spellings of
matmul and diagonal."""
from __future__ import annotations

import math

import numpy as np

from gradwire import ops
from gradwire.core import shapes
from gradwire.core.dtypes import FLOATS, LEGACY_NAMES
from gradwire.core.structural import _CPP
from gradwire.declare import declare
from gradwire.ops import apply
from gradwire.tensor import Tensor


@declare(method=False, tensors=("x1", "x2"))
def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """The p-norm distance of every row of x1 (..., P, M) to every row of x2 (..., R, M), batch dims broadcast,
    as torch.cdist. Always the direct formula ||x1_i - x2_j||_p (the engine's norm: gradient 0 at distance 0,
    as PyTorch's): PyTorch's p=2 shortcut through a matrix product for more than 25 rows loses digits to
    cancellation, so there gradwire is the more accurate; PyTorch has no second derivative, gradwire has."""
    for t, name in ((x1, "X1"), (x2, "X2")):
        if t.ndim < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: {t.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}")
    for t, name in ((x1, "X1"), (x2, "X2")):
        if t._node.dtype not in FLOATS:
            raise RuntimeError(f"cdist only supports floating-point dtypes, {name} got: "
                               f"{LEGACY_NAMES[t._node.dtype]}")
    if float(p) < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    batch = shapes.broadcast(x1.shape[:-2], x2.shape[:-2])
    if x1.dtype != x2.dtype and 0 in tuple(batch) + (x1.shape[-2], x2.shape[-2]):
        x2 = ops.cast(x2, x1.dtype)      # an empty result: PyTorch does not look at the dtypes
    if x1.dtype != x2.dtype:
        raise RuntimeError(f"expected scalar type {LEGACY_NAMES[x1._node.dtype]} but found "
                           f"{LEGACY_NAMES[x2._node.dtype]}")
    diff = apply("sub", ops.unsqueeze(x1, -2), ops.unsqueeze(x2, -3))
    return apply("norm", diff, attrs={"p": float(p), "axes": (-1,), "keepdims": False}, label="CdistBackward0")


@declare("vecdot", namespace="linalg", tensors=("x", "y"))
def linalg_vecdot(x, y, *, dim=-1, out=None):
    """Dot products of two batches of vectors along dim (broadcasting), as torch.linalg.vecdot (two 1-d
    tensors: vdot, whatever dim says, as PyTorch)."""
    if x.dtype != y.dtype:
        raise RuntimeError(f"linalg.vecdot: Expected x and y to have the same dtype, but found x of type "
                           f"{LEGACY_NAMES[x._node.dtype]} and y of type {LEGACY_NAMES[y._node.dtype]} instead")
    if x._node.dtype not in FLOATS:
        raise RuntimeError(f"linalg.vecdot: Expected a floating point or complex tensor as input. Got "
                           f"{LEGACY_NAMES[x._node.dtype]}")
    if x.ndim == y.ndim == 1:
        return apply("dot", x, y, label="VdotBackward0")
    return ops.sum(apply("mul", x, y), dim)


@declare("matmul", namespace="linalg", tensors=("input", "other"))
def linalg_matmul(input, other, *, out=None):
    """torch.linalg.matmul: torch.matmul."""
    from gradwire.api_linalg import matmul
    return matmul(input, other)


@declare("diagonal", namespace="linalg", tensors=("A",))
def linalg_diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    """The diagonals of the last two dims (a view), as torch.linalg.diagonal."""
    return ops.diagonal(A, offset, dim1, dim2)


def _matrix_power(A: Tensor, n: int) -> Tensor:
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_power: The input tensor A must have at least 2 dimensions.")
    if A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.matrix_power: A must be batches of square matrices, but they are "
                           f"{A.shape[-2]} by {A.shape[-1]} matrices")
    n = int(n)
    if n == 0:      # identities, with A's (zero) gradient
        eye = np.broadcast_to(np.eye(A.shape[-1], dtype=A._node.dtype), A.shape)
        return apply("add", apply("mul", A, 0), eye, label="CopyBackwards")
    if n == 1:
        return apply("reshape", A, attrs={"shape": tuple(A.shape)}, label="CloneBackward0")
    if n < 0:
        from gradwire.api_linalg_decomp import linalg_inv
        A, n = linalg_inv(A), -n
    result, base = None, A          # binary powering, as PyTorch's linalg_matrix_power
    while n:
        if n & 1:
            result = base if result is None else apply("matmul", result, base)
        n >>= 1
        if n:
            base = apply("matmul", base, base)
    return result


@declare("matrix_power", namespace="linalg")
def linalg_matrix_power(A, n):
    """A to the integer power n (negative: of its inverse), batched, as torch.linalg.matrix_power."""
    return _matrix_power(A, n)


@declare()
def matrix_power(input, n):
    """input to the integer power n, as torch.matrix_power."""
    return _matrix_power(input, n)


def _multi_dot(tensors, name: str):
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError(f"{name}(): expected at least 2 tensors but got {len(tensors)}")
    first, last = tensors[0], tensors[-1]
    for k, t in enumerate(tensors):
        want = (1, 2) if k in (0, len(tensors) - 1) else (2,)
        if t.ndim not in want:
            if k == 0:
                raise RuntimeError(f"{name}(): the first tensor must be 1D or 2D but got {t.ndim}D")
            if k == len(tensors) - 1:
                raise RuntimeError(f"{name}(): the last tensor must be 1D or 2D but got {t.ndim}D")
            raise RuntimeError(f"{name}(): tensor {k} must be 2D but got {t.ndim}D")
        if t.dtype != first.dtype:
            raise RuntimeError(f"{name}(): all tensors must have be the same dtype but tensor 0 is "
                               f"{_CPP[first._node.dtype]} and tensor {k} {_CPP[t._node.dtype]}")
    mats = [ops.unsqueeze(first, 0) if first.ndim == 1 else first] + tensors[1:-1] + \
        [ops.unsqueeze(last, 1) if last.ndim == 1 else last]
    for k in range(len(mats) - 1):
        if mats[k].shape[1] != mats[k + 1].shape[0]:
            a, b = mats[k].shape, mats[k + 1].shape
            raise RuntimeError(f"{name}(): tensors {k} and {k + 1} with shapes {list(a)} and {list(b)} cannot be "
                               f"multiplied")
    result = mats[0]
    for m in mats[1:]:       # left to right (PyTorch picks the cheapest order; the values agree to rounding)
        result = apply("matmul", result, m, label="MmBackward0")
    if first.ndim == 1 and last.ndim == 1:
        return ops.reshape(result, ())
    if first.ndim == 1 or last.ndim == 1:
        return ops.squeeze(result, 0 if first.ndim == 1 else 1)
    return result


@declare("multi_dot", namespace="linalg", method=False, tensors=())
def linalg_multi_dot(tensors, *, out=None):
    """The product of a chain of matrices (the first and last may be vectors), as torch.linalg.multi_dot."""
    return _multi_dot(tensors, "multi_dot")


@declare(method=False, tensors=())
def chain_matmul(*matrices, out=None):
    """The product of a chain of 2-d tensors, as torch.chain_matmul (deprecated for linalg.multi_dot)."""
    if len(matrices) == 1:
        return matrices[0]
    for k, t in enumerate(matrices):
        if t.ndim != 2:
            raise RuntimeError(f"Tensor dimension is {t.ndim}, expected 2 instead.")
    return _multi_dot(matrices, "multi_dot")


@declare("cond", namespace="linalg", tensors=("A",))
def linalg_cond(A, p=None, *, out=None):
    """The condition number in the p-norm (None, 2, -2: from the singular values; 'fro', 'nuc', inf, -inf, 1, -1:
    norm(A) * norm(inv(A)) of square matrices), as torch.linalg.cond. Where PyTorch gives inf for a singular
    matrix in the latter norms, gradwire raises LinAlgError (from the inverse); PyTorch cannot differentiate
    those, gradwire can."""
    from gradwire import factories
    from gradwire.api_linalg_decomp import linalg_inv, linalg_matrix_norm, linalg_svdvals
    svd_norm = p in (None, 2, -2)
    if A.ndim < 2:
        raise RuntimeError("linalg.cond: The input tensor must have at least 2 dimensions." if not isinstance(p, str)
                           else f"linalg.cond(ord={p}): The input tensor A must have at least 2 dimensions.")
    if not svd_norm and p not in ("fro", "nuc", math.inf, -math.inf, 1, -1):
        raise RuntimeError(f"linalg.cond got an invalid norm type: {p}")
    if not svd_norm and A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.cond(ord={p}): A must be batches of square matrices, but they are "
                           f"{A.shape[-2]} by {A.shape[-1]} matrices")
    if min(A.shape[-2:]) == 0:     # PyTorch: zeros of A's dtype, outside autograd
        return factories.zeros(tuple(A.shape[:-2]), dtype=A.dtype)
    if A._node.dtype not in FLOATS:
        raise RuntimeError(f"{'linalg.svd' if svd_norm or p == 'nuc' else 'linalg.inv'}: Expected a floating point or complex "
                           f"tensor as input. Got {LEGACY_NAMES[A._node.dtype]}")
    if svd_norm:
        s = linalg_svdvals(A)
        big, small = ops.narrow(s, -1, 0, 1), ops.narrow(s, -1, s.shape[-1] - 1, 1)
        r = apply("div", big, small) if p != -2 else apply("div", small, big)
        return apply("squeeze", r, attrs={"axes": (r.ndim - 1,)}, label="SqueezeBackward1")
    return apply("mul", linalg_matrix_norm(A, p), linalg_matrix_norm(linalg_inv(A), p))
