"""Op-table cases of the decompositions and solvers (see op_table.py for the fields). Inputs are kept where the
functions are smooth: well-conditioned matrices, positive-definite ones for cholesky, symmetric ones with
spaced eigenvalues for eigh, spaced singular values for svd (the vectors' derivatives divide by the gaps)."""
from __future__ import annotations

import autograd.numpy as anp
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np

from op_table import REFUSED, Example, case, smooth

LINALG = ("linalg_inv", "linalg_det", "linalg_logabsdet", "linalg_detsign", "linalg_solve", "linalg_cholesky",
          "linalg_eigvalsh", "linalg_eigh_vectors", "linalg_svdvals", "linalg_svd_u", "linalg_svd_vh", "linalg_pinv",
          "linalg_qr_q", "linalg_qr_r")
# float only: PyTorch's "Expected a floating point or complex tensor" / "not implemented for 'Long'"
REFUSED.update({(n, d): "floating point|not implemented" for n in LINALG for d in ("int32", "int64", "bool")})


def _batch(data):
    return data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=2))


def _well_conditioned(rng, batch, n):
    return smooth(rng, batch + (n, n), -0.5, 0.5) + 2.0 * np.eye(n) * rng.choice([-1.0, 1.0], batch + (1, 1))


def _sym(a):
    return (a + anp.swapaxes(a, -1, -2)) / 2


def _spaced(rng, batch, n, lo=0.5):
    """(batch, n) values at least 0.5 apart."""
    return lo + 0.6 * np.argsort(rng.random(batch + (n,)), axis=-1) + rng.uniform(0, 0.1, batch + (n,))


def _orthogonal(rng, batch, n):
    q, _ = np.linalg.qr(rng.standard_normal(batch + (n, n)))
    return q


@case("linalg_inv", "linalg_det", "linalg_logabsdet", "linalg_detsign")
def _square(name, data, rng):
    batch, n = _batch(data), data.draw(st.integers(0, 3))
    ref = {"linalg_inv": anp.linalg.inv, "linalg_det": anp.linalg.det,
           "linalg_logabsdet": lambda a: anp.linalg.slogdet(a)[1],
           "linalg_detsign": lambda a: anp.linalg.slogdet(a)[0]}[name]
    return Example([_well_conditioned(rng, batch, n)], {}, ref, (0,))


@case("linalg_solve")
def _solve(name, data, rng):
    batch, n = _batch(data), data.draw(st.integers(1, 3))
    kind = data.draw(st.sampled_from(["vector", "batched vector", "matrix", "broadcast matrix"]))
    a = _well_conditioned(rng, batch, n)
    if kind == "vector":
        b = smooth(rng, (n,))
    elif kind == "batched vector":
        b = smooth(rng, batch + (n,))
    else:
        k = data.draw(st.integers(0, 2))
        b = smooth(rng, (batch if kind == "matrix" else (2,) + batch) + (n, k))
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])

    def ref(a, b):
        return (anp.linalg.inv(a) @ b[..., None])[..., 0] if vector else anp.linalg.inv(a) @ b
    return Example([a, b], {}, ref, (0, 1))


@case("linalg_cholesky")
def _cholesky(name, data, rng):
    batch, n = _batch(data), data.draw(st.integers(0, 3))
    m = smooth(rng, batch + (n, n), -1, 1)
    a = m @ np.swapaxes(m, -1, -2) + n * np.eye(n)
    # symmetric, so the derivative along symmetric perturbations (PyTorch's gradient) is grad_ref's
    return Example([a], {}, anp.linalg.cholesky, (0,), grad_ref=lambda a: anp.linalg.cholesky(_sym(a)),
                   extra={"variants": _scaled_variants})


def _scaled_variants(rng, a, n):
    """n positive multiples of a, stacked (batching tests: permuting a's elements would leave the domain)."""
    return np.stack([a * rng.uniform(0.5, 2.0) for _ in range(n)]) if n else np.zeros((0,) + a.shape, a.dtype)


def _symmetric(rng, batch, n):
    q = _orthogonal(rng, batch, n)
    w = _spaced(rng, batch, n, lo=-1.0)
    return (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)


@case("linalg_eigvalsh", "linalg_eigh_vectors")
def _eigh(name, data, rng):
    batch, n = _batch(data), data.draw(st.integers(0, 3))
    part = 0 if name == "linalg_eigvalsh" else 1
    return Example([_symmetric(rng, batch, n)], {}, lambda a: anp.linalg.eigh(a)[part], (0,),
                   grad_ref=lambda a: anp.linalg.eigh(_sym(a))[part])


@case("linalg_svdvals", "linalg_svd_u", "linalg_svd_vh", "linalg_pinv", "linalg_qr_q",
          "linalg_qr_r")
def _svd(name, data, rng):
    batch, m, n = _batch(data), data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    k = min(m, n)
    u = _orthogonal(rng, batch, m)[..., :k]
    v = _orthogonal(rng, batch, n)[..., :k]
    a = (u * _spaced(rng, batch, k)[..., None, :]) @ np.swapaxes(v, -1, -2)
    if name == "linalg_pinv":
        return Example([a], {}, anp.linalg.pinv, (0,))
    if name == "linalg_svdvals":
        return Example([a], {}, lambda a: anp.linalg.svd(a, compute_uv=False), (0,))
    part = 0 if name == "linalg_svd_u" else 2
    return Example([a], {"full_matrices": False}, lambda a: anp.linalg.svd(a, full_matrices=False)[part], (0,))


def _gram_schmidt_qr(a, signs):
    """A differentiable QR oracle (HIPS autograd has no rule for qr): Gram-Schmidt on the first k columns, then
    R = Q^T A, with the column signs LAPACK's Householder QR gave (locally constant)."""
    k = min(a.shape[-2:])
    qs = []
    for j in range(k):
        v = a[..., :, j]
        for qi in qs:
            v = v - anp.sum(qi * v, -1, keepdims=True) * qi
        qs.append(v / anp.sqrt(anp.sum(v * v, -1, keepdims=True)))
    q = anp.stack(qs, -1) * signs[..., None, :]
    r = anp.matmul(anp.swapaxes(q, -1, -2), a) * np.triu(np.ones((k, a.shape[-1])))
    return q, r


@case("linalg_qr_q", "linalg_qr_r")
def _qr(name, data, rng):
    batch, m, n = _batch(data), data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    complete = m <= n and data.draw(st.booleans())       # complete with m > n has no gradient (as in PyTorch)
    a = smooth(rng, batch + (m, n)) + np.eye(m, n) * 3.0  # R's diagonal away from 0
    signs = np.sign(np.diagonal(np.linalg.qr(a)[1], axis1=-2, axis2=-1))
    part = 0 if name == "linalg_qr_q" else 1
    attrs = {"complete": complete} if part == 0 else {"complete": complete, "with_q": True}
    return Example([a], attrs, lambda a: _gram_schmidt_qr(a, signs)[part], (0,))
