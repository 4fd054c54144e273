"""torch.linalg's decompositions, solvers and norms against torch: values, dtypes, gradients (first and second
order), grad_fn names, return types and errors. Eigen- and singular vectors have arbitrary signs, so those
tests compare sign-free invariants (|V|, V diag(w) V^T, U Vh) and their gradients."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import gradwire as gw
from client_fixtures import counter, session  # noqa: F401
from torch_diff import same_as_torch

pytestmark = pytest.mark.usefixtures("session")
BATCHES = [(), (2,), (0,), (2, 1)]


def well_conditioned(seed, batch, n, dtype="float64"):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-0.5, 0.5, batch + (n, n)) + 2.0 * np.eye(n)
    return a.astype(dtype)


def spd(seed, batch, n, dtype="float64"):
    rng = np.random.default_rng(seed)
    m = rng.uniform(-1, 1, batch + (n, n))
    return (m @ np.swapaxes(m, -1, -2) + n * np.eye(n)).astype(dtype)


def symmetric(seed, batch, n, dtype="float64"):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal(batch + (n, n)))
    w = -1.0 + 0.7 * np.argsort(rng.random(batch + (n,)), axis=-1)
    return ((q * w[..., None, :]) @ np.swapaxes(q, -1, -2)).astype(dtype)


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == "float32" else dict(rtol=1e-6, atol=1e-7)


GF = lambda t: t.grad_fn.name() if t.grad_fn is not None else None  # noqa: E731


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("n", [0, 1, 3])
def test_inv_det_slogdet(dtype, batch, n):
    a = well_conditioned(1, batch, n, dtype)
    same_as_torch(lambda lib, a: (lib.linalg.inv(a), lib.inverse(a), a.inverse(), lib.linalg.det(a), lib.det(a),
                                  a.det(), *lib.linalg.slogdet(a), *lib.slogdet(a), a.logdet(), lib.logdet(-a)),
                  a, second_order=True, **tol(dtype))


def test_inv_family_errors_and_names():
    for bad in (np.ones((3, 3), np.int64), np.ones(3), np.ones((2, 3))):
        for f in (lambda lib, a: lib.linalg.inv(a), lambda lib, a: lib.inverse(a), lambda lib, a: lib.linalg.det(a),
                  lambda lib, a: a.det(), lambda lib, a: lib.linalg.slogdet(a), lambda lib, a: lib.logdet(a),
                  lambda lib, a: lib.linalg.cholesky(a), lambda lib, a: lib.cholesky(a),
                  lambda lib, a: lib.linalg.eigh(a), lambda lib, a: lib.linalg.eigvalsh(a),
                  lambda lib, a: lib.linalg.svd(a)[1], lambda lib, a: lib.linalg.svdvals(a),
                  lambda lib, a: lib.svd(a)[1],
                  lambda lib, a: lib.linalg.pinv(a), lambda lib, a: lib.pinverse(a),
                  lambda lib, a: lib.linalg.matrix_rank(a), lambda lib, a: lib.linalg.solve(a, a)):
            same_as_torch(f, bad)
    a = well_conditioned(2, (), 3)
    same_as_torch(lambda lib, a: [GF(lib.linalg.inv(a)), GF(lib.linalg.det(a)), GF(lib.linalg.slogdet(a)[1]),
                                  GF(lib.linalg.solve(a, a)), GF(lib.linalg.cholesky(a @ a.mT)),
                                  GF(lib.linalg.eigvalsh(a)), GF(lib.linalg.svdvals(a)), GF(lib.linalg.pinv(a)),
                                  GF(lib.linalg.vector_norm(a)), GF(lib.linalg.norm(a))], a)
    same_as_torch(lambda lib, a: [repr(type(lib.linalg.slogdet(a)).__name__), lib.linalg.slogdet(a).logabsdet,
                                  lib.slogdet(a).sign, lib.linalg.eigh(a + a.mT).eigenvalues,
                                  lib.linalg.svd(a).S, lib.svd(a).S, type(lib.svd(a)).__name__], a)


@pytest.mark.parametrize("case", ["inv", "inv batched", "solve", "solve batched", "cholesky", "cholesky batched"])
def test_singular_raises_linalg_error(case):
    batched = case.endswith("batched")
    eye, bad = np.eye(3), np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
    if case.startswith("cholesky"):
        bad = np.diag([1.0, -1.0, 1.0])
    a = np.stack([eye, bad]) if batched else bad
    for lib in (gw, torch):
        x = lib.tensor(a.tolist(), dtype=lib.float64)
        f = {"inv": lambda: lib.linalg.inv(x), "solve": lambda: lib.linalg.solve(x, lib.ones(3, dtype=lib.float64)),
             "cholesky": lambda: lib.linalg.cholesky(x)}[case.split()[0]]
        with pytest.raises(lib.linalg.LinAlgError) as e:
            f().sum().item()
        if lib is gw:
            ours = e.value
        else:
            assert type(ours).__name__ == type(e.value).__name__ == "_LinAlgError"
            assert isinstance(ours, RuntimeError) and str(ours) == str(e.value)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a_batch, b_shape", [((), (3,)), ((), (3, 2)), ((2,), (3,)), ((2,), (2, 3)),
                                             ((2,), (2, 3, 1)), ((2,), (4, 2, 3, 2)), ((), (2, 3)), ((), (4,)),
                                             ((2,), (3, 3, 2)), ((), (3, 0))])
def test_solve(dtype, a_batch, b_shape):
    a = well_conditioned(3, a_batch, 3, dtype)
    b = np.random.default_rng(4).uniform(-1, 1, b_shape).astype(dtype)
    same_as_torch(lambda lib, a, b: lib.linalg.solve(a, b), a, b, second_order=True, **tol(dtype))
    if b.size:       # (torch_diff weights an output of shape (0, 3) with a tensor of shape (0,))
        same_as_torch(lambda lib, a, b: lib.linalg.solve(a, b.mT if b.ndim > 1 else b, left=False), a, b,
                      second_order=True, **tol(dtype))


def test_solve_dtype_error():
    same_as_torch(lambda lib, a, b: lib.linalg.solve(a, b), well_conditioned(1, (), 3, "float32"), np.ones(3))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("n", [0, 1, 3])
def test_cholesky(dtype, batch, n):
    a = spd(5, batch, n, dtype)
    # a stray upper (lower) triangle shows which triangle is read
    noise = np.triu(np.full((n, n), 0.25), 1).astype(dtype)
    same_as_torch(lambda lib, a, u: (lib.linalg.cholesky(a + u), lib.linalg.cholesky(a + u.mT, upper=True),
                                     lib.cholesky(a), a.cholesky(upper=True)),
                  a, noise, second_order=True, requires_grad=True, **tol(dtype))


def test_cholesky_not_positive_definite_message():
    eye = np.eye(3)
    for a in (np.diag([1.0, -1.0, 1.0]), np.stack([eye, np.diag([1.0, 1.0, -2.0])])):
        for fn in (lambda lib: lib.linalg.cholesky, lambda lib: lib.cholesky):
            msgs = []
            for lib in (gw, torch):
                with pytest.raises(RuntimeError) as e:
                    fn(lib)(lib.tensor(a.tolist(), dtype=lib.float64)).sum().item()
                msgs.append(str(e.value))
            assert msgs[0].split(": ", 1)[1] == msgs[1].split(": ", 1)[1]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("n", [0, 1, 3])
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh(dtype, batch, n, uplo):
    a = symmetric(6, batch, n, dtype)
    noise = np.tril(np.full((n, n), 0.3), -1).astype(dtype)
    noise = noise if uplo == "U" else noise.T

    def invariants(lib, a, u):
        w, v = lib.linalg.eigh(a + u, UPLO=uplo)
        return w, lib.linalg.eigvalsh(a + u, uplo), v.abs(), (v * w.unsqueeze(-2)) @ v.mT, v @ v.mT
    same_as_torch(invariants, a, noise, second_order=True, **tol(dtype))


def test_eigh_bad_uplo():
    same_as_torch(lambda lib, a: lib.linalg.eigh(a, UPLO="X"), symmetric(1, (), 2))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4), (2, 3, 2), (0, 2, 3), (1, 1)])
def test_svd(dtype, shape):
    rng = np.random.default_rng(7)
    a = rng.uniform(-1, 1, shape).astype(dtype)

    def invariants(lib, a):
        u, s, vh = lib.linalg.svd(a, full_matrices=False)
        u2, s2, v2 = lib.svd(a)
        return s, lib.linalg.svdvals(a), u.abs(), vh.abs(), u @ vh, s2, u2 @ v2.mT, (u * s.unsqueeze(-2)) @ vh
    same_as_torch(invariants, a, second_order=True, **tol(dtype))
    k = min(shape[-2:])

    def full(lib, a):   # full_matrices=True: the first k columns (the rest is any basis of the complement)
        u, s, vh = lib.linalg.svd(a)
        return u[..., :k].abs(), s, vh[..., :k, :].abs(), lib.svd(a, some=False)[1]
    same_as_torch(full, a, second_order=True, **tol(dtype))
    same_as_torch(lambda lib, a: lib.svd(a, compute_uv=False), a, **tol(dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4), (2, 3, 2), (0, 2, 3)])
def test_pinv_matrix_rank(dtype, shape):
    rng = np.random.default_rng(8)
    a = rng.uniform(-1, 1, shape).astype(dtype)
    same_as_torch(lambda lib, a: (lib.linalg.pinv(a), lib.pinverse(a), a.pinverse(), lib.linalg.matrix_rank(a),
                                  lib.linalg.matrix_rank(a, atol=0.5), lib.linalg.matrix_rank(a, rtol=0.5)),
                  a, second_order=True, **tol(dtype))
    low = np.stack([np.outer([1.0, 2.0, 3.0], [1.0, -1.0]), np.ones((3, 2))]).astype(dtype)
    same_as_torch(lambda lib, a: (lib.linalg.pinv(a, rtol=1e-3), lib.linalg.matrix_rank(a)), low,
                  requires_grad=False, **tol(dtype))


@pytest.mark.parametrize("ord", [2, 1, math.inf, -math.inf, 0, 3.5, -1])
@pytest.mark.parametrize("dim, keepdim", [(None, False), (None, True), (1, False), ((0, -1), True), (-1, False)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_vector_norm(ord, dim, keepdim, dtype):
    a = np.random.default_rng(9).uniform(-2, 2, (2, 3, 4)).astype(dtype)
    same_as_torch(lambda lib, a: (lib.linalg.vector_norm(a, ord, dim, keepdim),
                                  lib.linalg.vector_norm(a, ord=ord, dim=dim, keepdim=keepdim, dtype=lib.float64),
                                  lib.linalg.norm(a.flatten() if dim is None else a, ord,
                                                  dim if not isinstance(dim, tuple) else dim[0], keepdim)),
                  # ord=0: torch's gradient is None, gradwire's zeros
                  a, requires_grad=ord != 0, second_order=ord not in (math.inf, -math.inf, 0, 1, -1), **tol(dtype))


@pytest.mark.parametrize("ord", ["fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf])
@pytest.mark.parametrize("dim, keepdim", [((-2, -1), False), ((-2, -1), True), ((0, 2), False), ((2, 0), True)])
def test_matrix_norm(ord, dim, keepdim):
    a = np.random.default_rng(10).uniform(-2, 2, (2, 3, 4))
    same_as_torch(lambda lib, a: (lib.linalg.matrix_norm(a, ord, dim, keepdim), lib.linalg.norm(a, ord, dim, keepdim)),
                  a, second_order=ord in ("fro", "nuc", 2, -2))   # torch's piecewise-linear norms: ZeroTensor
    same_as_torch(lambda lib, a: lib.linalg.norm(a[0], ord), a)


def test_norm_errors():
    a = np.random.default_rng(11).uniform(-2, 2, (2, 3, 4))
    for f in (lambda lib, a: lib.linalg.matrix_norm(a, 3), lambda lib, a: lib.linalg.matrix_norm(a, "abc"),
              lambda lib, a: lib.linalg.matrix_norm(a, dim=(0, 0)), lambda lib, a: lib.linalg.norm(a, 2),
              lambda lib, a: lib.linalg.norm(a, dim=(0, 1, 2)), lambda lib, a: lib.linalg.norm(a[0, 0], "fro"),
              lambda lib, a: lib.linalg.vector_norm(a.double(), dtype=lib.float32),
              lambda lib, a: lib.linalg.vector_norm(a.long()), lambda lib, a: lib.linalg.vector_norm(a, "fro"),
              lambda lib, a: lib.linalg.matrix_norm(a.long()), lambda lib, a: lib.linalg.norm(a, "nuc", dim=0)):
        same_as_torch(f, a)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4), (2, 3, 2), (0, 2, 3), (1, 1)])
def test_qr(dtype, shape):
    a = (np.random.default_rng(12).uniform(-1, 1, shape) + 2 * np.eye(*shape[-2:])).astype(dtype)
    same_as_torch(lambda lib, a: (*lib.linalg.qr(a), *lib.qr(a), a.qr()[1]),
                  a, second_order=True, **tol(dtype))
    complete = lambda lib, a: lib.linalg.qr(a, mode="complete")  # noqa: E731
    same_as_torch(complete, a, requires_grad=shape[-2] <= shape[-1], **tol(dtype))
    same_as_torch(lambda lib, a: lib.linalg.qr(a, "r"), a, requires_grad=False, **tol(dtype))


def test_qr_names_and_errors():
    a = np.random.default_rng(13).uniform(-1, 1, (3, 2))
    same_as_torch(lambda lib, a: [type(lib.linalg.qr(a)).__name__, type(lib.qr(a)).__name__,
                                  GF(lib.linalg.qr(a)[0]), GF(lib.linalg.qr(a, "r")[1])], a)
    same_as_torch(lambda lib, a: lib.linalg.qr(a, mode="x"), a)
    for f in (lambda lib: lib.linalg.qr(lib.ones(3, 2, dtype=lib.int64)), lambda lib: lib.linalg.qr(lib.ones(3))):
        same_as_torch(lambda lib: f(lib))
    for mode in ("r", "complete"):
        msgs = []
        for lib in (gw, torch):
            x = lib.tensor(a.tolist(), dtype=lib.float64, requires_grad=True)
            q, r = lib.linalg.qr(x, mode=mode)
            with pytest.raises(RuntimeError) as e:
                lib.autograd.grad((r if mode == "r" else q).sum(), x) if lib is torch else \
                    gw.grad((r if mode == "r" else q).sum(), [x])[0].numpy()
            msgs.append(str(e.value))
        assert msgs[0].endswith(msgs[1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a_shape, b_shape", [((4, 2), (4, 3)), ((4, 2), (4,)), ((2, 4), (2, 3)), ((2, 4, 2), (2, 4, 3)),
                                             ((2, 4, 2), (2, 4)), ((4, 2), (3, 3)), ((4,), (4,)), ((3, 3), (3, 1))])
def test_lstsq(dtype, a_shape, b_shape):
    rng = np.random.default_rng(14)
    a = rng.uniform(-1, 1, a_shape) + (2 * np.eye(*a_shape[-2:]) if len(a_shape) > 1 else 0)
    a, b = a.astype(dtype), rng.uniform(-1, 1, b_shape).astype(dtype)
    same_as_torch(lambda lib, a, b: lib.linalg.lstsq(a, b), a, b, **tol(dtype))
    # (gelsy estimates the rank from a pivoted QR: only clear-cut ranks are compared)
    same_as_torch(lambda lib, a, b: (type(lib.linalg.lstsq(a, b)).__name__, lib.linalg.lstsq(a, b, rcond=1e-3).rank),
                  a, b, requires_grad=False)
    same_as_torch(lambda lib, a: (lib.linalg.matrix_rank(a, tol=0.3), lib.linalg.lstsq(a, a.long())), a)


@pytest.mark.parametrize("p", [None, 2, -2, "fro", "nuc", math.inf, -math.inf, 1, -1, 3])
@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 3), (2, 3), (0, 0), (3,)])
def test_cond(p, shape):
    a = (np.random.default_rng(15).uniform(-1, 1, shape) + (2 * np.eye(*shape[-2:]) if len(shape) > 1 else 0))
    # torch cannot differentiate cond in the other norms (its backward finds an inverse modified in place)
    same_as_torch(lambda lib, a: lib.linalg.cond(a, p), a, requires_grad=p in (None, 2, -2), second_order=True)
    same_as_torch(lambda lib, a: lib.linalg.cond(a.long(), p), a)


def test_namespace_on_a_session():
    with gw.connect() as session:
        a = session.tensor([[2.0, 1.0], [1.0, 3.0]])
        np.testing.assert_allclose(session.linalg.inv(a).numpy(), np.linalg.inv(a.numpy()))
        with pytest.raises(session.linalg.LinAlgError):
            session.linalg.inv(session.zeros(2, 2)).sum().item()
    assert gw.Session.linalg is gw.linalg and gw.linalg.LinAlgError is gw.errors.LinAlgError
