"""Signatures of the decompositions and solvers behind torch.linalg (LAPACK through numpy.linalg): inv, det,
slogdet, solve, cholesky, eigh, svd, qr. Inputs are batches of matrices (..., m, n), float only. A
decomposition with several results is one op per result (eigh: values and vectors), each computing the
factorization; their VJPs add up to the published formula for the whole."""
from __future__ import annotations

from . import shapes
from .dtypes import FLOATS, LEGACY_NAMES
from .signature import Attr, Aval, defsig


class LinAlgError(RuntimeError):
    """A factorization that cannot be completed for these values (a singular matrix, one not positive-definite):
    raised by the kernels with PyTorch's message; the server reports it as INVALID_ARGUMENT naming the node."""


def check_matrices(x: Aval, fname: str, square: bool = True, kernel: str | None = None) -> None:
    """PyTorch's checks of a linalg input: float, at least 2-d, square (kernel: the NotImplementedError some
    functions raise for an integral input instead)."""
    if x.ndim < 2:
        raise RuntimeError(f"{fname}: The input tensor A must have at least 2 dimensions.")
    if square and x.shape[-1] != x.shape[-2]:
        raise RuntimeError(f"{fname}: A must be batches of square matrices, but they are {x.shape[-2]} by "
                           f"{x.shape[-1]} matrices")
    if x.dtype not in FLOATS:
        if kernel:
            raise NotImplementedError(f'"{kernel}" not implemented for \'{LEGACY_NAMES[x.dtype]}\'')
        raise RuntimeError(f"{fname}: Expected a floating point or complex tensor as input. Got "
                           f"{LEGACY_NAMES[x.dtype]}")


def _dtype_first(x: Aval, fname: str) -> None:
    if x.dtype not in FLOATS:     # inv, det, ... check the dtype before the shape
        raise RuntimeError(f"{fname}: Expected a floating point or complex tensor as input. Got "
                           f"{LEGACY_NAMES[x.dtype]}")


def _same(fname: str, out=lambda s: s):
    def rule(avals, attrs):
        (x,) = avals
        _dtype_first(x, fname)
        check_matrices(x, fname)
        return Aval(out(x.shape), x.dtype)
    return rule


defsig("linalg_inv", inputs=1, shape=_same("linalg.inv"),
       doc="the inverse of each matrix; a singular one raises LinAlgError naming its first zero pivot")
defsig("linalg_det", inputs=1, shape=_same("linalg.det", lambda s: s[:-2]),
       doc="the determinant of each matrix (LU); VJP g det(A) A^-T, so NaN at singular matrices")
defsig("linalg_logabsdet", inputs=1, shape=_same("linalg.slogdet", lambda s: s[:-2]),
       doc="log |det A| of each matrix (slogdet's second result); -inf at singular matrices; VJP g A^-T")
defsig("linalg_detsign", inputs=1, shape=_same("linalg.slogdet", lambda s: s[:-2]),
       doc="the sign of det A (slogdet's first result: -1, 0 or 1); no gradient")


def _solve_shape(avals, attrs):
    a, b = avals
    _dtype_first(a, "linalg.solve")
    check_matrices(a, "linalg.solve")
    if b.dtype != a.dtype:
        raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found A of type "
                           f"{LEGACY_NAMES[a.dtype]} and B of type {LEGACY_NAMES[b.dtype]} instead")
    n = a.shape[-1]
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    if vector:
        if b.shape[-1] != n:
            raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                               f"({n}x{n} and {b.shape[-1]}x1)")
        return Aval(tuple(shapes.broadcast(a.shape[:-2], b.shape[:-1])) + (n,), a.dtype)
    if b.ndim < 2:
        raise RuntimeError("linalg.solve: The input tensor B must have at least 1 dimensions.")
    if b.shape[-2] != n:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B ({n}x{n} and "
                           f"{b.shape[-2]}x{b.shape[-1]})")
    return Aval(tuple(shapes.broadcast(b.shape[:-2], a.shape[:-2])) + b.shape[-2:], a.dtype)


defsig("linalg_solve", inputs=2, shape=_solve_shape,
       doc="X with A X = B (B a batch of vectors or of matrices, batch dims broadcast); VJP gB = solve(A^T, g), "
           "gA = -gB X^T")


def _tri_shape(fname: str):
    def rule(avals, attrs):
        (x,) = avals
        _dtype_first(x, fname)
        check_matrices(x, fname)
        return Aval(x.shape, x.dtype)
    return rule


defsig("linalg_cholesky", inputs=1, shape=_tri_shape("linalg.cholesky"),
       doc="L lower-triangular with L L^T = (A + A^T) / 2; not positive-definite raises LinAlgError naming the "
           "leading minor")

def _eigh_shape(vectors: bool):
    def rule(avals, attrs):
        (x,) = avals
        check_matrices(x, "linalg.eigh", kernel="linalg_eigh_cpu")
        return Aval(x.shape if vectors else x.shape[:-1], x.dtype)
    return rule


defsig("linalg_eigvalsh", inputs=1, shape=_eigh_shape(False),
       doc="eigenvalues of (A + A^T) / 2, ascending; VJP V diag(g) V^T")
defsig("linalg_eigh_vectors", inputs=1, shape=_eigh_shape(True),
       doc="orthonormal eigenvectors (columns, LAPACK's signs) of (A + A^T) / 2; VJP "
           "V (skew(V^T g) / (w_j - w_i)) V^T, undefined for repeated eigenvalues")


def _svd_shape(part: str):
    def rule(avals, attrs):
        (x,) = avals
        _dtype_first(x, "linalg.svd")
        check_matrices(x, "linalg.svd", square=False)
        m, n = x.shape[-2:]
        k = min(m, n)
        full = attrs.get("full_matrices", False)
        if part == "s":
            return Aval(x.shape[:-2] + (k,), x.dtype)
        if part == "u":
            return Aval(x.shape[:-2] + (m, m if full else k), x.dtype)
        return Aval(x.shape[:-2] + (n if full else k, n), x.dtype)
    return rule


FULL = {"full_matrices": Attr("bool", True, "U (m, m) and Vh (n, n) instead of (m, k), (k, n)")}
defsig("linalg_svdvals", inputs=1, shape=_svd_shape("s"),
       doc="singular values, descending; VJP U diag(g) Vh")
defsig("linalg_svd_u", inputs=1, attrs=dict(FULL), shape=_svd_shape("u"),
       doc="left singular vectors U of A = U diag(S) Vh (LAPACK's signs); with full_matrices the extra columns "
           "get no gradient (PyTorch's rule) and have no JVP; undefined for repeated singular values")
defsig("linalg_svd_vh", inputs=1, attrs=dict(FULL), shape=_svd_shape("vh"),
       doc="right singular vectors Vh of A = U diag(S) Vh (LAPACK's signs); gradient as for linalg_svd_u")


def _pinv_shape(avals, attrs):
    (x,) = avals
    if x.ndim < 2 or x.dtype not in FLOATS:
        shape = ", ".join(map(str, x.shape))
        raise RuntimeError(f"linalg.pinv({LEGACY_NAMES[x.dtype]}{{[{shape}]}}): expected a tensor with 2 or more "
                           f"dimensions of float, double, cfloat or cdouble types")
    return Aval(x.shape[:-2] + (x.shape[-1], x.shape[-2]), x.dtype)


defsig("linalg_pinv", inputs=1, shape=_pinv_shape,
       attrs={"atol": Attr("optfloat", None, "absolute cutoff of singular values counted as zero"),
              "rtol": Attr("optfloat", None, "cutoff relative to the largest singular value (default: eps * "
                                              "max(m, n) when atol is not given, else 0)")},
       doc="the Moore-Penrose pseudo-inverse through the SVD; PyTorch's VJP (exact where the rank is constant)")


def _qr_shape(part: str):
    def rule(avals, attrs):
        (x,) = avals
        _dtype_first(x, "linalg.qr")
        check_matrices(x, "linalg.qr", square=False)
        m, n = x.shape[-2:]
        k = m if attrs["complete"] else min(m, n)
        return Aval(x.shape[:-2] + ((m, k) if part == "q" else (k, n)), x.dtype)
    return rule


COMPLETE = {"complete": Attr("bool", False, "Q (m, m) and R (m, n) instead of (m, k), (k, n)")}
defsig("linalg_qr_q", inputs=1, attrs=dict(COMPLETE), shape=_qr_shape("q"),
       doc="Q of A = Q R (Householder, LAPACK's signs); not differentiable when complete and m > n, as in PyTorch")
defsig("linalg_qr_r", inputs=1, attrs={**COMPLETE, "with_q": Attr("bool", True, "False: mode='r', which PyTorch "
                                                                            "refuses to differentiate")},
       shape=_qr_shape("r"),
       doc="R (upper-triangular) of A = Q R; VJP and JVP from PyTorch's formulas (wide A: through its first m "
           "columns)")
