"""torch.cdist: pairwise p-norm distances between the rows of two batches of matrices."""
from __future__ import annotations

from gradwire import ops
from gradwire.core import shapes
from gradwire.core.dtypes import FLOATS, LEGACY_NAMES
from gradwire.declare import declare
from gradwire.ops import apply


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
    shapes.broadcast(x1.shape[:-2], x2.shape[:-2])
    if x1.dtype != x2.dtype:
        raise RuntimeError(f"expected scalar type {LEGACY_NAMES[x1._node.dtype]} but found "
                           f"{LEGACY_NAMES[x2._node.dtype]}")
    diff = apply("sub", ops.unsqueeze(x1, -2), ops.unsqueeze(x2, -3))
    return apply("norm", diff, attrs={"p": float(p), "axes": (-1,), "keepdims": False}, label="CdistBackward0")
