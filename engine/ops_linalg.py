"""Kernels (numpy.linalg's LAPACK) and derivative rules of inv, det, slogdet, solve, cholesky and eigh (svd, pinv
and qr in ops_linalg_svd.py); signatures in gradwire.core.linalg. Rules are written with engine ops, the
factorizations among them, so they differentiate again. cholesky and eigh factor (A + A^T) / 2, so their
gradients are symmetric, as PyTorch's (the client hands them the symmetric matrix one triangle of the user's
defines, passing the gradient straight through, which is what PyTorch reports). Eigenvector rules divide by eigenvalue gaps: infinite or NaN for
repeated eigenvalues, as in PyTorch."""
from __future__ import annotations

import numpy as np

from gradwire.core.linalg import LinAlgError

from .registry import defop


# helpers over Syms -----------------------------------------------------------------------------
def _mT(s):
    return s.transpose(perm=tuple(range(s.ndim - 2)) + (s.ndim - 1, s.ndim - 2))


def _eye(like, n: int):
    return like.b.const(np.eye(n), like.dtype)


def _sym(s):
    return (s + _mT(s)) * 0.5


def _diag(s):
    """The diagonals of a batch of matrices, (..., n)."""
    return s.diagonal(offset=0, axis1=s.ndim - 2, axis2=s.ndim - 1)


def _diag_embed(v):
    """Diagonal matrices from a batch of vectors (..., n) -> (..., n, n)."""
    return v.unsqueeze(axis=v.ndim) * _eye(v, v.shape[-1])


def _bcast(g, k: int = 2):
    """g with k unit dims appended (a per-matrix scalar against its matrix)."""
    for _ in range(k):
        g = g.unsqueeze(axis=g.ndim)
    return g


_BIG = 2**62


def _narrow(s, axis: int, k: int):
    """The first k entries of s along axis (-1 or -2)."""
    axis %= s.ndim
    return s.slice(starts=(0,) * (axis + 1), stops=(_BIG,) * axis + (k,), steps=(1,) * (axis + 1))


# errors ----------------------------------------------------------------------------------------
def _batch_prefix(a, index) -> str:
    return f"(Batch element {int(np.ravel_multi_index(index, a.shape[:-2]))}): " if a.ndim > 2 else ""


def _first_zero_pivot(m) -> int:
    """1-based position of the first exactly zero pivot of LU with partial pivoting (LAPACK getrf's info)."""
    u = np.array(m, dtype=np.float64 if m.dtype == np.float64 else np.float32)
    n = u.shape[0]
    for k in range(n):
        p = k + int(np.argmax(np.abs(u[k:, k])))
        if u[p, k] == 0:
            return k + 1
        u[[k, p]] = u[[p, k]]
        u[k + 1:, k:] -= np.outer(u[k + 1:, k] / u[k, k], u[k, k:])
    return n


def _singular(a, fname: str, what):
    for index in np.ndindex(a.shape[:-2]):
        m = a[index]
        try:
            np.linalg.inv(m)
        except np.linalg.LinAlgError:
            raise LinAlgError(f"{fname}: {_batch_prefix(a, index)}{what(m)}") from None
    raise LinAlgError(f"{fname}: the input matrix is singular.")


def _inv(a):
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        _singular(a, "linalg.inv", lambda m: f"The diagonal element {_first_zero_pivot(m)} is zero, the inversion "
                                             f"could not be completed because the input matrix is singular.")


def _solve(a, b):
    n = a.shape[-1]
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    try:
        return np.linalg.solve(a, b[..., None])[..., 0] if vector else np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        if n and a.ndim > 2:
            _singular(a, "torch.linalg.solve", lambda m: "The solver failed because the input matrix is singular.")
        raise LinAlgError("torch.linalg.solve: The solver failed because the input matrix is singular.") from None


def _symmetrized(a):
    """(A + A^T) / 2: exact for a symmetric A, and it makes the rules below the kernels' true derivatives."""
    return (a + np.swapaxes(a, -1, -2)) * np.asarray(0.5, a.dtype)


def _cholesky(a):
    a = _symmetrized(a)
    try:
        return np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        for index in np.ndindex(a.shape[:-2]):
            m = a[index]
            for k in range(1, m.shape[-1] + 1):
                try:
                    np.linalg.cholesky(m[:k, :k])
                except np.linalg.LinAlgError:
                    raise LinAlgError(f"linalg.cholesky: {_batch_prefix(a, index)}The factorization could not be "
                                      f"completed because the input is not positive-definite (the leading minor of "
                                      f"order {k} is not positive-definite).") from None
        raise


# inv, det, slogdet -------------------------------------------------------------------------------
defop("linalg_inv", impl=_inv,
      vjp=(lambda g, out, a: -(_mT(out).matmul(g).matmul(_mT(out))),),
      jvp=lambda ts, out, a: -(out.matmul(ts[0]).matmul(out)))


def _det_vjp(g, out, a):
    return _bcast(g * out) * _mT(a.linalg_inv())


defop("linalg_det", impl=lambda a: np.asarray(np.linalg.det(a), a.dtype), vjp=(_det_vjp,),
      jvp=lambda ts, out, a: out * (_mT(a.linalg_inv()) * ts[0]).sum(axes=(-2, -1)))
defop("linalg_logabsdet", impl=lambda a: np.asarray(np.linalg.slogdet(a)[1], a.dtype),
      vjp=(lambda g, out, a: _bcast(g) * _mT(a.linalg_inv()),),
      jvp=lambda ts, out, a: (_mT(a.linalg_inv()) * ts[0]).sum(axes=(-2, -1)))
# The sign is piecewise constant: a zero gradient (PyTorch's slogdet gives the sign a grad_fn too).
defop("linalg_detsign", impl=lambda a: np.asarray(np.linalg.slogdet(a)[0], a.dtype),
      vjp=(lambda g, out, a: a.zeros_like(),), jvp=lambda ts, out, a: None)


# solve -------------------------------------------------------------------------------------------
def _is_vector(a, b) -> bool:
    return b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])


def _solve_vjp_b(g, out, a, b):
    return _mT(a).linalg_solve(g)


def _solve_vjp_a(g, out, a, b):
    gb = _mT(a).linalg_solve(g)
    if _is_vector(a, b):
        return -(gb.unsqueeze(axis=gb.ndim) * out.unsqueeze(axis=out.ndim - 1))
    return -(gb.matmul(_mT(out)))


def _solve_jvp(ts, out, a, b):
    ta, tb = ts
    vector = _is_vector(a, b)
    rhs = None
    if ta is not None:
        ax = ta.matmul(out.unsqueeze(axis=out.ndim)).squeeze(axes=(out.ndim,)) if vector else ta.matmul(out)
        rhs = -ax
    if tb is not None:
        tb = tb.broadcast_to(shape=out.shape) if tb.shape != out.shape else tb
        rhs = tb if rhs is None else rhs + tb
    if vector and rhs.ndim == 1 and a.ndim > 2:      # keep the vector case recognisable
        rhs = rhs.broadcast_to(shape=out.shape)
    return a.linalg_solve(rhs)


defop("linalg_solve", impl=_solve, vjp=(_solve_vjp_a, _solve_vjp_b), jvp=_solve_jvp)


# cholesky ----------------------------------------------------------------------------------------
def _phi(x):
    """The lower triangle of x with its diagonal halved."""
    n = x.shape[-1]
    return x * x.b.const(np.tril(np.ones((n, n))) - 0.5 * np.eye(n), x.dtype)


def _cholesky_vjp(g, out, a):
    inv = out.linalg_inv()
    return _sym(_mT(inv).matmul(_phi(_mT(out).matmul(g))).matmul(inv))


def _cholesky_jvp(ts, out, a):
    inv = out.linalg_inv()
    return out.matmul(_phi(inv.matmul(_sym(ts[0])).matmul(_mT(inv))))


defop("linalg_cholesky", impl=_cholesky, vjp=(_cholesky_vjp,), jvp=_cholesky_jvp)


# eigh --------------------------------------------------------------------------------------------
def _gaps(w):
    """E_ij = w_j - w_i off the diagonal, 1 on it (the diagonal is never used as a divisor of a nonzero)."""
    return w.unsqueeze(axis=w.ndim - 1) - w.unsqueeze(axis=w.ndim) + _eye(w, w.shape[-1])


def _off(x):
    n = x.shape[-1]
    return x * x.b.const(1.0 - np.eye(n), x.dtype)


def _eigh_vectors_vjp(g, out, a):
    m = _mT(out).matmul(g)
    return out.matmul((m - _mT(m)) * 0.5 / _gaps(a.linalg_eigvalsh())).matmul(_mT(out))


def _eigh_vectors_jvp(ts, out, a):
    k = _mT(out).matmul(_sym(ts[0])).matmul(out)
    return out.matmul(_off(k / _gaps(a.linalg_eigvalsh())))


defop("linalg_eigvalsh", impl=lambda a: np.linalg.eigvalsh(_symmetrized(a)),
      vjp=(lambda g, out, a: (lambda v: v.matmul(_diag_embed(g)).matmul(_mT(v)))(a.linalg_eigh_vectors()),),
      jvp=lambda ts, out, a: (lambda v: _diag(_mT(v).matmul(ts[0]).matmul(v)))(a.linalg_eigh_vectors()))
defop("linalg_eigh_vectors", impl=lambda a: np.linalg.eigh(_symmetrized(a))[1], vjp=(_eigh_vectors_vjp,), jvp=_eigh_vectors_jvp)
