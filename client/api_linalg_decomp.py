"""Declarations of torch.linalg's decompositions, solvers and norms (and the torch.* spellings PyTorch keeps:
det, logdet, inverse, slogdet, cholesky, svd, pinverse) over the engine's linalg_* rows (numpy.linalg's
LAPACK). A factorization that fails for the values (a singular matrix) raises gradwire.linalg.LinAlgError when
the value is computed: the client is lazy, so at the first request that needs it, not at the call."""
from __future__ import annotations

import math
import numbers

import numpy as np

from gradwire import ops
from gradwire.core import shapes
from gradwire.core.dtypes import FLOATS, LEGACY_NAMES
from gradwire.core.linalg import check_matrices
from gradwire.core.signature import Aval
from gradwire.declare import declare
from gradwire.ops import apply


def _aval(t) -> Aval:
    return Aval(tuple(t.shape), t._node.dtype)


def _mT(t):
    return ops.transpose(t, -2, -1)


def _return_type(kind: str, fields: tuple):
    """A tuple with named fields, printed as torch.return_types.<kind>."""
    def new(cls, *xs):
        return tuple.__new__(cls, xs)

    def rep(self):
        return f"torch.return_types.{kind}(\n" + ",\n".join(f"{f}={x!r}" for f, x in zip(fields, self)) + ")"
    body = {"__new__": new, "__repr__": rep, "__slots__": (), "_fields": fields}
    body.update({f: property(lambda self, i=i: self[i]) for i, f in enumerate(fields)})
    return type(kind, (tuple,), body)


_Slogdet = _return_type("slogdet", ("sign", "logabsdet"))
_LinalgSlogdet = _return_type("linalg_slogdet", ("sign", "logabsdet"))
_LinalgEigh = _return_type("linalg_eigh", ("eigenvalues", "eigenvectors"))
_LinalgSvd = _return_type("linalg_svd", ("U", "S", "Vh"))
_Svd = _return_type("svd", ("U", "S", "V"))
_LinalgQr = _return_type("linalg_qr", ("Q", "R"))
_Qr = _return_type("qr", ("Q", "R"))


# inv, det, slogdet, logdet ---------------------------------------------------------------------
@declare("inv", namespace="linalg")
def linalg_inv(A, *, out=None):
    """The inverse of each matrix (batched), as torch.linalg.inv; a singular one raises LinAlgError."""
    return apply("linalg_inv", A, label="LinalgInvExBackward0")


@declare()
def inverse(input, *, out=None):
    """The inverse of each matrix, as torch.inverse."""
    return linalg_inv(input)


@declare("det", namespace="linalg")
def linalg_det(A, *, out=None):
    """The determinant of each matrix, as torch.linalg.det (its gradient is NaN at singular matrices, where
    PyTorch's SVD-based rule is finite)."""
    return apply("linalg_det", A, label="LinalgDetBackward0")


@declare()
def det(input):
    """The determinant of each matrix, as torch.det."""
    return linalg_det(input)


def _slogdet(A, cls):
    return cls(apply("linalg_detsign", A, label="LinalgSlogdetBackward0"),
               apply("linalg_logabsdet", A, label="LinalgSlogdetBackward0"))


@declare("slogdet", namespace="linalg")
def linalg_slogdet(A, *, out=None):
    """(sign, log |det|) of each matrix, as torch.linalg.slogdet."""
    return _slogdet(A, _LinalgSlogdet)


@declare()
def slogdet(input):
    """(sign, log |det|) of each matrix, as torch.slogdet."""
    return _slogdet(input, _Slogdet)


@declare()
def logdet(input):
    """log det of each matrix: NaN where the determinant is negative, -inf where it is 0, as torch.logdet."""
    x = _aval(input)
    if x.dtype not in FLOATS:
        raise RuntimeError(f"logdet: Expected a floating point or complex tensor as input. Got "
                           f"{LEGACY_NAMES[x.dtype]}")
    check_matrices(x, "logdet")
    sign = apply("linalg_detsign", input)
    return apply("where", apply("lt", sign, 0), float("nan"), apply("linalg_logabsdet", input),
                 ref_args=(input,), label="WhereBackward0")


def _from_triangle(A, lower: bool = True):
    """The symmetric matrix A's lower (upper) triangle defines, on A's gradient path: PyTorch reads one triangle
    and reports the symmetric gradient of the factorization, which then reaches A unchanged."""
    n = A.shape[-1]
    dt = A._node.dtype
    ones = np.ones((n, n), dt)
    d = A.detach()
    part = apply("mul", d, np.tril(ones, -1) if lower else np.triu(ones, 1))
    value = apply("add", apply("add", part, _mT(part)), apply("mul", d, np.eye(n, dtype=dt)))
    return apply("with_value", A, value)


def _transposed(x, label: str):
    perm = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return apply("transpose", x, attrs={"perm": perm}, label=label)


# solve, cholesky -------------------------------------------------------------------------------
@declare("solve", namespace="linalg", tensors=("A", "B"))
def linalg_solve(A, B, *, left=True, out=None):
    """X with A X = B (left=False: X A = B), B a (batch of) vector(s) or matrices, as torch.linalg.solve."""
    if left:
        return apply("linalg_solve", A, B, label="LinalgSolveExBackward0")
    a, b = _aval(A), _aval(B)
    if b.ndim >= 2 and a.ndim >= 2 and a.shape[-1] == a.shape[-2] and b.shape[-1] != a.shape[-1]:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation XA = B "
                           f"({a.shape[-2]}x{a.shape[-1]} and {b.shape[-2]}x{b.shape[-1]})")
    if b.ndim == 1 and a.ndim >= 2 and a.shape[-1] == a.shape[-2]:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation XA = B "
                           f"({a.shape[-2]}x{a.shape[-1]} and {b.shape[0]}x1)")
    x = apply("linalg_solve", _mT(A), _mT(B))
    return ops.transpose(x, -2, -1)


@declare("cholesky", namespace="linalg")
def linalg_cholesky(A, *, upper=False, out=None):
    """L with L L^T = A, read from A's lower triangle (upper=True: U with U^T U = A, from the upper one), as
    torch.linalg.cholesky; not positive-definite raises LinAlgError."""
    x = _aval(A)
    if x.dtype not in FLOATS:      # PyTorch checks the dtype first here
        raise RuntimeError(f"linalg.cholesky: Expected a floating point or complex tensor as input. Got "
                           f"{LEGACY_NAMES[x.dtype]}")
    check_matrices(x, "linalg.cholesky")
    L = apply("linalg_cholesky", _from_triangle(A, not upper), label="LinalgCholeskyExBackward0")
    return _transposed(L, "LinalgCholeskyExBackward0") if upper else L


@declare()
def cholesky(input, upper=False, *, out=None):
    """As torch.cholesky (deprecated in PyTorch for torch.linalg.cholesky)."""
    check_matrices(_aval(input), "cholesky", kernel="cholesky_cpu")
    return linalg_cholesky(input, upper=upper)


# eigh ------------------------------------------------------------------------------------------
def _lower(A, UPLO: str):
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    check_matrices(_aval(A), "linalg.eigh", kernel="linalg_eigh_cpu")
    return _from_triangle(A, UPLO == "L")


@declare("eigh", namespace="linalg")
def linalg_eigh(A, UPLO="L", *, out=None):
    """(eigenvalues ascending, eigenvectors as columns) of symmetric matrices read from one triangle, as
    torch.linalg.eigh. Eigenvectors' signs are LAPACK's (as PyTorch's on CPU, but not promised); their
    gradient is undefined (infinite) for repeated eigenvalues, as in PyTorch."""
    a = _lower(A, UPLO)
    return _LinalgEigh(apply("linalg_eigvalsh", a, label="LinalgEighBackward0"),
                       apply("linalg_eigh_vectors", a, label="LinalgEighBackward0"))


@declare("eigvalsh", namespace="linalg")
def linalg_eigvalsh(A, UPLO="L", *, out=None):
    """Eigenvalues (ascending) of symmetric matrices, as torch.linalg.eigvalsh."""
    return apply("linalg_eigvalsh", _lower(A, UPLO), label="LinalgEighBackward0")


# qr --------------------------------------------------------------------------------------------
def _qr(A, mode, cls):
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), 'r', or "
                           f"'complete'")
    complete = mode == "complete"
    r = apply("linalg_qr_r", A, attrs={"complete": complete, "with_q": mode != "r"}, label="LinalgQrBackward0")
    if mode == "r":
        from gradwire import factories
        return cls(factories.zeros(0, dtype=A.dtype), r)
    return cls(apply("linalg_qr_q", A, attrs={"complete": complete}, label="LinalgQrBackward0"), r)


@declare("qr", namespace="linalg")
def linalg_qr(A, mode="reduced", *, out=None):
    """(Q, R) with A = Q R, Q orthonormal columns, R upper-triangular (Householder: LAPACK's signs, as PyTorch's),
    mode 'reduced', 'complete' or 'r' (Q empty), as torch.linalg.qr."""
    return _qr(A, mode, _LinalgQr)


@declare()
def qr(input, some=True, *, out=None):
    """As torch.qr (deprecated in PyTorch for torch.linalg.qr)."""
    return _qr(input, "reduced" if some else "complete", _Qr)


# svd, pinv, matrix_rank ------------------------------------------------------------------------
def _svd_check(A):
    check_matrices(_aval(A), "linalg.svd", square=False)


@declare("svd", namespace="linalg")
def linalg_svd(A, full_matrices=True, *, driver=None, out=None):
    """(U, S, Vh) with A = U diag(S) Vh, S descending, as torch.linalg.svd (U's and Vh's signs are LAPACK's).
    Gradients of U and Vh need distinct singular values; with full_matrices=True the extra columns get none,
    as in PyTorch (forward-mode derivatives need full_matrices=False for non-square A)."""
    _svd_check(A)
    fm = bool(full_matrices)
    return _LinalgSvd(apply("linalg_svd_u", A, attrs={"full_matrices": fm}, label="LinalgSvdBackward0"),
                      apply("linalg_svdvals", A, label="LinalgSvdBackward0"),
                      apply("linalg_svd_vh", A, attrs={"full_matrices": fm}, label="LinalgSvdBackward0"))


@declare("svdvals", namespace="linalg")
def linalg_svdvals(A, *, driver=None, out=None):
    """Singular values, descending, as torch.linalg.svdvals."""
    _svd_check(A)
    return apply("linalg_svdvals", A, label="LinalgSvdBackward0")


@declare()
def svd(input, some=True, compute_uv=True, *, out=None):
    """(U, S, V) with input = U diag(S) V^T, as torch.svd (V, not Vh; compute_uv=False: U and V zeros)."""
    if input.ndim < 2:
        raise RuntimeError(f"linalg.svd: input should have at least 2 dimensions, but has {input.ndim} dimensions "
                           f"instead")
    _svd_check(input)
    if not compute_uv:
        m, n = input.shape[-2:]
        s = linalg_svdvals(input)
        batch = tuple(input.shape[:-2])
        from gradwire import factories
        u = factories.zeros(batch + (m, m), dtype=input.dtype)
        v = factories.zeros(batch + (n, n), dtype=input.dtype)
        return _Svd(u, s, v)
    u, s, vh = linalg_svd(input, full_matrices=not some)
    return _Svd(u, s, ops.transpose(vh, -2, -1))


def _tolerances(atol, rtol):
    return (None if atol is None else float(atol)), (None if rtol is None else float(rtol))


@declare("pinv", namespace="linalg")
def linalg_pinv(A, *, atol=None, rtol=None, hermitian=False, out=None):
    """The pseudo-inverse through the SVD (singular values up to max(atol, rtol * largest) count as zero), as
    torch.linalg.pinv; hermitian=True is accepted and computed the general way."""
    atol, rtol = _tolerances(atol, rtol)
    return apply("linalg_pinv", A, attrs={"atol": atol, "rtol": rtol}, label="LinalgPinvBackward0")


@declare()
def pinverse(input, rcond=1e-15):
    """The pseudo-inverse, singular values up to rcond * largest counting as zero, as torch.pinverse."""
    return apply("linalg_pinv", input, attrs={"atol": None, "rtol": float(rcond)}, label="LinalgPinvBackward0")


@declare("matrix_rank", namespace="linalg")
def linalg_matrix_rank(A, *, atol=None, rtol=None, hermitian=False, tol=None, out=None):
    """The number of singular values above max(atol, rtol * largest) (rtol default eps * max(m, n) when atol
    is not given; the old tol= is atol with rtol 0), as torch.linalg.matrix_rank: int64, no gradient."""
    if tol is not None:
        atol, rtol = tol, 0.0
    x = _aval(A)
    if x.ndim < 2:
        raise RuntimeError("torch.linalg.matrix_rank: The input tensor input must have at least 2 dimensions.")
    if x.dtype not in FLOATS:
        raise RuntimeError("This function doesn't handle types other than float and double")
    m, n = x.shape[-2:]
    atol, rtol = _tolerances(atol, rtol)
    if rtol is None:
        rtol = (1.1920928955078125e-07 if x.dtype == "float32" else 2.220446049250313e-16) * max(m, n) \
            if not atol else 0.0
    s = apply("linalg_svdvals", A.detach())
    if min(m, n) == 0:
        return ops.sum(ops.cast(apply("gt", s, 0.0), "int64"), -1)
    smax = ops.amax(s, -1, keepdim=True)
    cutoff = apply("mul", smax, rtol)
    if atol:
        cutoff = apply("maximum", cutoff, atol)
    return ops.sum(ops.cast(apply("gt", s, cutoff), "int64"), -1)


# norms -----------------------------------------------------------------------------------------
def _float_input(x, fname, dtype):
    if dtype is not None:
        from gradwire import dtypes
        want = dtypes.as_dtype(dtype).name
        if x._node.dtype not in FLOATS:
            raise RuntimeError(f"{fname}: Expected a floating point or complex tensor as input. Got "
                               f"{LEGACY_NAMES[x._node.dtype]}")
        if x._node.dtype == "float64" and want == "float32":
            raise RuntimeError(f"{fname}: the dtype of the input (Double) should be convertible without narrowing "
                               f"to the specified dtype (Float)")
        return ops.cast(x, want)
    if x._node.dtype not in FLOATS:
        raise RuntimeError(f"{fname}: Expected a floating point or complex tensor as input. Got "
                           f"{LEGACY_NAMES[x._node.dtype]}")
    return x


@declare("vector_norm", namespace="linalg")
def linalg_vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):
    """The ord-norm (2, 1, inf, -inf, 0 or any p) over dim (default: all), as torch.linalg.vector_norm."""
    if isinstance(ord, str) or not isinstance(ord, numbers.Number):
        raise TypeError(f"linalg_vector_norm(): argument 'ord' (position 2) must be Number, not "
                        f"{type(ord).__name__}")
    x = _float_input(x, "linalg.vector_norm", dtype)
    axes = None if dim is None else ((int(dim),) if isinstance(dim, numbers.Integral) else tuple(int(d) for d in dim))
    if ord < 0 or ord == math.inf:       # min and max have no identity: PyTorch refuses empty reductions
        shown = int(ord) if float(ord).is_integer() else ord
        if axes is None or not axes:
            if x.numel() == 0:
                raise RuntimeError(f"linalg.vector_norm cannot compute the {shown} norm on an empty tensor because "
                                   f"the operation does not have an identity")
        else:
            for d in axes:
                if x.shape[shapes.axis(d, x.ndim)] == 0:
                    raise RuntimeError(f"linalg.vector_norm cannot compute the {shown} norm on the dimension {d}"
                                       f"because this dimension is empty and the operation does not have an identity")
    return apply("norm", x, attrs={"p": float(ord), "axes": axes, "keepdims": bool(keepdim)},
                 label="LinalgVectorNormBackward0")


@declare("matrix_norm", namespace="linalg")
def linalg_matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None, out=None):
    """'fro', 'nuc', 2, -2 (through the singular values), 1, -1, inf, -inf (column / row sums) over the
    two dims `dim`, as torch.linalg.matrix_norm."""
    if isinstance(dim, numbers.Integral):
        raise TypeError(f"linalg_matrix_norm() received an invalid combination of arguments - got (Tensor, "
                        f"dim=int), but expected one of:")
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    A = _float_input(A, "linalg.matrix_norm", dtype)
    dim = tuple(int(d) for d in dim)
    if len(dim) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, dim))}")
    d0, d1 = (shapes.axis(d, A.ndim) for d in dim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, {dim[1]})")
    if ord == "fro":
        return linalg_vector_norm(A, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        rest = [d for d in range(A.ndim) if d not in (d0, d1)]
        s = linalg_svdvals(ops.permute(A, rest + [d0, d1]))
        if ord == -2 and s.shape[-1] == 0:
            raise IndexError("amin(): Expected reduction dim -1 to have non-zero size.")
        empty = s.shape[-1] == 0      # the 2-norm of an empty matrix is 0, as in PyTorch
        r = ops.sum(s, -1) if ord == "nuc" or empty else ops.amax(s, -1) if ord == 2 else ops.amin(s, -1)
        if keepdim:
            for d in sorted((d0, d1)):
                r = ops.unsqueeze(r, d)
        return r
    if ord in (1, -1, math.inf, -math.inf):
        inner, outer = (d0, d1) if abs(ord) == 1 else (d1, d0)
        sums = ops.sum(apply("abs", A), inner, keepdim=True)
        if A.shape[outer] == 0 and ord < 0:
            shown = outer - (inner < outer and not keepdim)    # PyTorch reduces `inner` away first
            raise IndexError(f"amin(): Expected reduction dim {shown} to have non-zero size.")
        reduce = ops.sum if A.shape[outer] == 0 else ops.amax if ord > 0 else ops.amin
        r = reduce(sums, outer, keepdim=True)
        return r if keepdim else ops.squeeze(r, (d0, d1))
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


@declare("norm", namespace="linalg")
def linalg_norm(A, ord=None, dim=None, keepdim=False, *, dtype=None, out=None):
    """A vector norm (1 dim, or all dims without ord) or a matrix norm (2 dims, or a 2-d input with ord), as
    torch.linalg.norm."""
    if dim is not None:
        dims = [int(dim)] if isinstance(dim, numbers.Integral) else [int(d) for d in dim]
        if len(dims) == 1 and isinstance(ord, str):
            raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {dims[0]}")
        if len(dims) == 1:
            return linalg_vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)
        if len(dims) == 2:
            return linalg_matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
        raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {dims}")
    if ord is None:
        return linalg_vector_norm(A, 2, None, keepdim, dtype=dtype)
    if isinstance(ord, str) or A.ndim == 2:
        return linalg_matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    if A.ndim != 1:
        raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got "
                           f"{A.ndim}D.")
    return linalg_vector_norm(A, ord, None, keepdim, dtype=dtype)
