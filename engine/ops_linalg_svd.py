"""Kernels (numpy.linalg's LAPACK) and derivative rules of the orthogonal factorizations: svd, pinv, qr
(signatures in gradwire.core.linalg). The singular vectors' rules divide by squared singular value gaps, so
they are infinite or NaN for repeated singular values, as in PyTorch."""
from __future__ import annotations

import numpy as np

from .ops_linalg import _BIG, _diag, _diag_embed, _eye, _gaps, _mT, _narrow, _off
from .registry import defop


# svd ---------------------------------------------------------------------------------------------
def _factors(a, full_matrices=False):
    """U, S, Vh as the forward computed them (square: full and reduced are one factorization)."""
    return a.linalg_svd_u(full_matrices=full_matrices), a.linalg_svdvals(), a.linalg_svd_vh(full_matrices=full_matrices)


def _sq_gaps(s):
    return _gaps(s * s)


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
