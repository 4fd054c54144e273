"""Kernels (numpy.linalg's LAPACK) and derivative rules of the decompositions and solvers; signatures in
gradwire.core.linalg. Rules are written with engine ops, the factorizations among them, so they differentiate
again. Symmetric inputs (cholesky, eigh) are read from one triangle, and their gradients are PyTorch's: the
symmetric matrix, the derivative along symmetric perturbations (the tangent used is (dA + dA^T) / 2).
Eigenvector and singular-vector rules divide by eigenvalue (squared singular value) gaps: infinite or NaN
for repeated ones, as in PyTorch."""
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


def _cholesky(a):
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


defop("linalg_eigvalsh", impl=lambda a: np.linalg.eigvalsh(a),
      vjp=(lambda g, out, a: (lambda v: v.matmul(_diag_embed(g)).matmul(_mT(v)))(a.linalg_eigh_vectors()),),
      jvp=lambda ts, out, a: (lambda v: _diag(_mT(v).matmul(ts[0]).matmul(v)))(a.linalg_eigh_vectors()))
defop("linalg_eigh_vectors", impl=lambda a: np.linalg.eigh(a)[1], vjp=(_eigh_vectors_vjp,), jvp=_eigh_vectors_jvp)


# svd ---------------------------------------------------------------------------------------------
def _factors(a, full_matrices=False):
    """U, S, Vh as the forward computed them (square: full and reduced are one factorization)."""
    return a.linalg_svd_u(full_matrices=full_matrices), a.linalg_svdvals(), a.linalg_svd_vh(full_matrices=full_matrices)


def _sq_gaps(s):
    return _gaps(s * s)


_BIG = 2**62


def _narrow(s, axis: int, k: int):
    """The first k entries of s along axis (-1 or -2)."""
    axis %= s.ndim
    return s.slice(starts=(0,) * (axis + 1), stops=(_BIG,) * axis + (k,), steps=(1,) * (axis + 1))


def _reduced(full_matrices, a, what):
    m, n = a.shape[-2:]
    if full_matrices and m != n:
        from .errors import GraphError
        raise GraphError(f"linalg.svd: forward-mode derivatives of {what} need full_matrices=False when A is not "
                         f"square")


def _svd_u_vjp(g, out, a, full_matrices):
    u, s, vh = _factors(a, full_matrices)
    m, k = a.shape[-2], s.shape[-1]
    if full_matrices and a.shape[-2] != a.shape[-1]:    # the extra columns get no gradient, as in PyTorch
        g, u, vh = _narrow(g, -1, k), _narrow(u, -1, k), _narrow(vh, -2, k)
    ug = _mT(u).matmul(g)
    inner = (ug - _mT(ug)) * s.unsqueeze(axis=s.ndim - 1) / _sq_gaps(s)
    ga = u.matmul(inner)
    if m > k:
        gs = g / s.unsqueeze(axis=s.ndim - 1)
        ga = ga + gs - u.matmul(_mT(u).matmul(gs))
    return ga.matmul(vh)


def _svd_vh_vjp(g, out, a, full_matrices):
    u, s, vh = _factors(a, full_matrices)
    n, k = a.shape[-1], s.shape[-1]
    if full_matrices and a.shape[-2] != a.shape[-1]:
        g, u, vh = _narrow(g, -2, k), _narrow(u, -1, k), _narrow(vh, -2, k)
    gv, v = _mT(g), _mT(vh)
    vg = _mT(v).matmul(gv)
    inner = s.unsqueeze(axis=s.ndim) * (vg - _mT(vg)) / _sq_gaps(s)
    ga = inner.matmul(vh)
    if n > k:
        sg = g / s.unsqueeze(axis=s.ndim)
        ga = ga + sg - sg.matmul(v).matmul(vh)
    return u.matmul(ga)


def _svd_dp(ts, a, full_matrices=False):
    u, s, vh = _factors(a, full_matrices)
    return u, s, vh, _mT(u).matmul(ts[0]).matmul(_mT(vh))


def _svd_u_jvp(ts, out, a, full_matrices):
    _reduced(full_matrices, a, "U")
    u, s, vh, dp = _svd_dp(ts, a, full_matrices)
    omega = _off((dp * s.unsqueeze(axis=s.ndim - 1) + s.unsqueeze(axis=s.ndim) * _mT(dp)) / _sq_gaps(s))
    du = u.matmul(omega)
    if a.shape[-2] > s.shape[-1]:
        proj = ts[0].matmul(_mT(vh)) / s.unsqueeze(axis=s.ndim - 1)
        du = du + proj - u.matmul(_mT(u).matmul(proj))
    return du


def _svd_vh_jvp(ts, out, a, full_matrices):
    _reduced(full_matrices, a, "Vh")
    u, s, vh, dp = _svd_dp(ts, a, full_matrices)
    omega = _off((s.unsqueeze(axis=s.ndim) * dp + _mT(dp) * s.unsqueeze(axis=s.ndim - 1)) / _sq_gaps(s))
    v = _mT(vh)
    dv = v.matmul(omega)
    if a.shape[-1] > s.shape[-1]:
        proj = _mT(ts[0]).matmul(u) / s.unsqueeze(axis=s.ndim - 1)
        dv = dv + proj - v.matmul(vh.matmul(proj))
    return _mT(dv)


defop("linalg_svdvals", impl=lambda a: np.linalg.svd(a, compute_uv=False),
      vjp=(lambda g, out, a: (lambda u, s, vh: u.matmul(_diag_embed(g)).matmul(vh))(*_factors(a)),),
      jvp=lambda ts, out, a: _diag(_svd_dp(ts, a)[3]))
defop("linalg_svd_u", impl=lambda a, full_matrices: np.linalg.svd(a, full_matrices=full_matrices)[0],
      vjp=(_svd_u_vjp,), jvp=_svd_u_jvp)
defop("linalg_svd_vh", impl=lambda a, full_matrices: np.linalg.svd(a, full_matrices=full_matrices)[2],
      vjp=(_svd_vh_vjp,), jvp=_svd_vh_jvp)


# pinv --------------------------------------------------------------------------------------------
def _pinv(a, atol, rtol):
    """Through the SVD, as PyTorch: singular values up to max(atol, rtol * largest) count as zero."""
    m, n = a.shape[-2:]
    if not a.size:
        return np.zeros(a.shape[:-2] + (n, m), a.dtype)
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    if rtol is None:
        rtol = np.finfo(a.dtype).eps * max(m, n) if not atol else 0.0
    cutoff = np.maximum(atol or 0.0, rtol * s.max(axis=-1, keepdims=True, initial=0.0))
    s_inv = np.where(s > cutoff, 1.0 / np.where(s > cutoff, s, 1.0), 0.0).astype(a.dtype)
    return np.matmul(np.swapaxes(vh, -1, -2) * s_inv[..., None, :], np.swapaxes(u, -1, -2))


def _pinv_vjp(g, out, a, atol, rtol):
    """PyTorch's pinv_backward: exact where the rank is constant near A."""
    p, ph, gh = out, _mT(out), _mT(g)
    if a.shape[-2] <= a.shape[-1]:
        k = gh.matmul(p)
        kph = k.matmul(ph)
        return -_mT(p.matmul(k)) + kph - a.matmul(p).matmul(kph) + ph.matmul(p).matmul(gh - k.matmul(a))
    k = p.matmul(gh)
    phk = ph.matmul(k)
    return -_mT(k.matmul(p)) + (gh - a.matmul(k)).matmul(p).matmul(ph) + phk - phk.matmul(p).matmul(a)


def _pinv_jvp(ts, out, a, atol, rtol):
    p, da = out, ts[0]
    m, n = a.shape[-2:]
    left = _eye(p, n) - p.matmul(a)        # I - P A  (n x n)
    right = _eye(p, m) - a.matmul(p)       # I - A P  (m x m)
    return -(p.matmul(da).matmul(p)) + p.matmul(_mT(p)).matmul(_mT(da)).matmul(right) + \
        left.matmul(_mT(da)).matmul(_mT(p)).matmul(p)


defop("linalg_pinv", impl=_pinv, vjp=(_pinv_vjp,), jvp=_pinv_jvp)


# qr ----------------------------------------------------------------------------------------------
def _qr_check(a, complete, with_q=True):
    if not with_q:
        from .errors import GraphError
        raise GraphError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. Please use "
                         "linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr.")
    if complete and a.shape[-2] > a.shape[-1]:
        from .errors import GraphError
        raise GraphError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")


def _right_solve(b, r):
    """b R^{-1}: solve(R^T, b^T)^T."""
    return _mT(_mT(r).linalg_solve(_mT(b)))


def _qr_tall(gq, gr, q, r):
    """PyTorch's gA for A = QR with m >= n (or the square left block of a wide A): (gQ + Q copyltu(M)) R^-T,
    M = gR R^T - Q^T gQ; either cotangent may be None."""
    parts = ([gr.matmul(_mT(r))] if gr is not None else []) + ([-(_mT(q).matmul(gq))] if gq is not None else [])
    m = parts[0] if len(parts) == 1 else parts[0] + parts[1]
    n = m.shape[-1]
    upper = m * m.b.const(np.triu(np.ones((n, n))), m.dtype)
    sym = upper + _mT(upper) - _diag_embed(_diag(upper))
    b = q.matmul(sym)
    return _right_solve(b + gq if gq is not None else b, _mT(r))


def _qr_parts(a, complete):
    q, r = a.linalg_qr_q(complete=complete), a.linalg_qr_r(complete=complete)
    m, n = a.shape[-2:]
    return q, r, m, n


def _qr_q_vjp(g, out, a, complete):
    """Wide A = [X | Y]: Q is X's, so Y gets no gradient from Q."""
    _qr_check(a, complete)
    q, r, m, n = _qr_parts(a, complete)
    if m >= n:
        return _qr_tall(g, None, q, r)
    return _qr_tall(g, None, q, _narrow(r, -1, m)).concat(_tail(a, m).zeros_like(), axis=a.ndim - 1)


def _qr_r_vjp(g, out, a, complete, with_q):
    """Wide A = [X | Y]: R = [R_X | Q^T Y], so R_Y's cotangent reaches X through Q and Y directly."""
    _qr_check(a, complete, with_q)
    q, r, m, n = _qr_parts(a, complete)
    if m >= n:
        return _qr_tall(None, g, q, r)
    gry = _tail(g, m)
    gx = _qr_tall(_tail(a, m).matmul(_mT(gry)), _narrow(g, -1, m), q, _narrow(r, -1, m))
    return gx.concat(q.matmul(gry), axis=a.ndim - 1)


def _tail(s, k: int):
    """The columns of s from k on."""
    nd = s.ndim
    return s.slice(starts=(0,) * (nd - 1) + (k,), stops=(_BIG,) * nd, steps=(1,) * nd)


def _qr_tangents(ts, a, complete, with_q=True):
    _qr_check(a, complete, with_q)
    q, r, m, n = _qr_parts(a, complete)
    da = ts[0]
    rx = r if m >= n else _narrow(r, -1, m)
    dx = da if m >= n else _narrow(da, -1, m)
    dx_rinv = _right_solve(dx, rx)
    c = _mT(q).matmul(dx_rinv)
    k = c.shape[-1]
    low = c * c.b.const(np.tril(np.ones((k, k)), -1), c.dtype)
    u = c - (low - _mT(low))
    dq = dx_rinv - q.matmul(u)
    dr = u.matmul(rx)
    if m < n:
        dr = dr.concat(_mT(dq).matmul(_tail(a, m)) + _mT(q).matmul(_tail(da, m)), axis=a.ndim - 1)
    return dq, dr


defop("linalg_qr_q", impl=lambda a, complete: np.linalg.qr(a, mode="complete" if complete else "reduced")[0],
      vjp=(_qr_q_vjp,), jvp=lambda ts, out, a, complete: _qr_tangents(ts, a, complete)[0])
defop("linalg_qr_r", impl=lambda a, complete, with_q: np.linalg.qr(a, mode="complete" if complete else "reduced")[1],
      vjp=(_qr_r_vjp,), jvp=lambda ts, out, a, complete, with_q: _qr_tangents(ts, a, complete, with_q)[1])
