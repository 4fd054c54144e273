"""torch.linalg.lstsq: least-squares solutions through the pseudo-inverse (the engine's linalg_pinv, so the
solution's gradient is PyTorch's pinv rule)."""
from __future__ import annotations

from gradwire import factories, ops
from gradwire.core.dtypes import FLOATS, LEGACY_NAMES
from gradwire.declare import declare
from gradwire.ops import apply

from gradwire.api_linalg_decomp import _return_type, linalg_matrix_rank

_LinalgLstsq = _return_type("linalg_lstsq", ("solution", "residuals", "rank", "singular_values"))


@declare("lstsq", namespace="linalg", tensors=("A", "B"))
def linalg_lstsq(A, B, rcond=None, *, driver=None):
    """The minimum-norm least-squares X of A X = B (B a batch of vectors when it has one dim fewer than A), as
    torch.linalg.lstsq with its CPU default driver 'gelsy': (solution, residuals empty, rank, singular_values
    empty). X = pinv(A) B, which agrees with LAPACK's gelsy to rounding; the rank counts singular values above
    rcond (default eps * max(m, n)) times the largest, where gelsy estimates it from a pivoted QR."""
    if A.ndim < 2:
        raise RuntimeError("torch.linalg.lstsq: input must have at least 2 dimensions.")
    if A._node.dtype not in FLOATS:
        raise RuntimeError("This function doesn't handle types other than float and double")
    if A.dtype != B.dtype:
        raise RuntimeError(f"torch.linalg.lstsq: Expected input and other to have the same dtype, but got input's "
                           f"dtype {LEGACY_NAMES[A._node.dtype]} and other's dtype {LEGACY_NAMES[B._node.dtype]}")
    vector = B.ndim == A.ndim - 1
    if (B.shape[-1] if vector else B.shape[-2] if B.ndim >= 2 else -1) != A.shape[-2]:
        raise RuntimeError("torch.linalg.lstsq: input.size(-2) should match other.size(-2)")
    rtol = None if rcond is None else float(rcond)
    p = apply("linalg_pinv", A, attrs={"atol": None, "rtol": rtol})
    if vector:
        x = ops.squeeze(apply("matmul", p, ops.unsqueeze(B, -1)), -1)
    else:
        x = apply("matmul", p, B)
    x = apply("reshape", x, attrs={"shape": tuple(x.shape)}, label="LinalgLstsqBackward0")
    empty = factories.zeros(0, dtype=A.dtype)
    return _LinalgLstsq(x, empty, linalg_matrix_rank(A, rtol=rtol), factories.zeros(0, dtype=A.dtype))
