"""The declared products (mm, mv, bmm, add*, outer, vdot, inner, tensordot, einsum, cross, multi_dot,
matrix_power) against torch: values, dtypes, gradients (first and second order), grad_fn names and errors."""
from __future__ import annotations

import numpy as np
import pytest

from client_fixtures import counter, session  # noqa: F401
from torch_diff import same_as_torch

pytestmark = pytest.mark.usefixtures("session")


def arrays(seed, shapes, dtype="float64"):
    rng = np.random.default_rng(seed)
    dts = dtype if isinstance(dtype, (tuple, list)) else [dtype] * len(shapes)
    out = []
    for shp, dt in zip(shapes, dts):
        a = rng.uniform(-2, 2, shp)
        out.append(a > 0 if dt == "bool" else np.round(a).astype(dt) if dt.startswith("int") else a.astype(dt))
    return out


def check(fn, shapes, dtype="float64", second_order=True, **kw):
    """fn against torch on random arrays of these shapes and dtype(s)."""
    kw.setdefault("rtol", 1e-5 if "float32" in str(dtype) else 1e-6)
    kw.setdefault("atol", 1e-5 if "float32" in str(dtype) else 1e-6)
    same_as_torch(fn, *arrays(len(shapes), shapes, dtype), second_order=second_order, **kw)


GF = lambda t: t.grad_fn.name() if t.grad_fn is not None else None  # noqa: E731


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool", ("float32", "float64"),
                                   ("int64", "int32"), ("float32", "int64")])
@pytest.mark.parametrize("shapes", [((2, 3), (3, 4)), ((2, 3), (4, 5)), ((0, 3), (3, 2)), ((2, 0), (0, 3)),
                                    ((3,), (3, 2)), ((2, 3), (3,)), ((2, 2, 3), (2, 3, 4)), ((2, 2, 3), (3, 3, 4)),
                                    ((2, 2, 3), (2, 4, 4)), ((2, 3), (2, 3, 4)), ((), (3, 3))])
def test_mm_mv_bmm(shapes, dtype):
    for f in (lambda lib, a, b: lib.mm(a, b), lambda lib, a, b: a.mm(b), lambda lib, a, b: lib.mv(a, b),
              lambda lib, a, b: a.mv(b), lambda lib, a, b: lib.bmm(a, b), lambda lib, a, b: a.bmm(b)):
        check(f, shapes, dtype)


def test_product_grad_fns():
    check(lambda lib, a, b: [GF(lib.mm(a, b)), GF(a.mv(b[:, 0])), GF(lib.bmm(a[None], b[None])),
                             GF(lib.vdot(a[0], b[:, 0])), GF(lib.outer(a[0], b[0])),
                             GF(lib.addmm(a[:, :1], a, b)), GF(lib.addmv(a[:, 0], a, b[:, 0])),
                             GF(lib.addr(a, a[:, 0], b[:, 0])), GF(lib.baddbmm(a[None], a[None], b[None])),
                             GF(lib.addbmm(a, a[None], b[None])), GF(lib.linalg.cross(a, a)),
                             GF(lib.tensordot(a, b, 1)), GF(lib.inner(a, b))], [(3, 3), (3, 3)])


@pytest.mark.parametrize("beta, alpha", [(1, 1), (0.5, 2.0), (0, 1), (2, 0), (0, 0)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", ("float32", "float64", "float64"),
                                   ("float64", "float32", "float32")])
def test_add_family(beta, alpha, dtype):
    kw = dict(beta=beta, alpha=alpha)
    nan_input = lambda a: a * float("nan") if beta == 0 and a.dtype.is_floating_point else a  # noqa: E731
    cases = [
        (lambda lib, c, a, b: lib.addmm(nan_input(c), a, b, **kw), [(2, 4), (2, 3), (3, 4)]),
        (lambda lib, c, a, b: c.addmm(a, b, **kw), [(4,), (2, 3), (3, 4)]),
        (lambda lib, c, a, b: lib.addmm(c, a, b, **kw), [(3, 4), (2, 3), (3, 4)]),
        (lambda lib, c, a, b: lib.addmm(c, a, b, **kw), [(2, 4), (3,), (3, 4)]),
        (lambda lib, c, a, b: lib.addmv(c, a, b, **kw), [(2,), (2, 3), (3,)]),
        (lambda lib, c, a, b: c.addmv(a, b, **kw), [(1,), (2, 3), (3,)]),
        (lambda lib, c, a, b: lib.addmv(c, a, b, **kw), [(3,), (2, 3), (3,)]),
        (lambda lib, c, a, b: lib.addmv(c, a, b, **kw), [(2,), (2, 3), (3, 1)]),
        (lambda lib, c, a, b: lib.addr(c, a, b, **kw), [(2, 3), (2,), (3,)]),
        (lambda lib, c, a, b: c.addr(a, b, **kw), [(2, 1), (2,), (3,)]),
        (lambda lib, c, a, b: lib.addr(c, a, b, **kw), [(3, 3), (2,), (3,)]),
        (lambda lib, c, a, b: lib.addr(c, a, b, **kw), [(2, 3), (2, 1), (3,)]),
        (lambda lib, c, a, b: lib.baddbmm(c, a, b, **kw), [(2, 2, 4), (2, 2, 3), (2, 3, 4)]),
        (lambda lib, c, a, b: c.baddbmm(a, b, **kw), [(4,), (2, 2, 3), (2, 3, 4)]),
        (lambda lib, c, a, b: lib.baddbmm(c, a, b, **kw), [(2, 2, 4), (2, 2, 3), (3, 3, 4)]),
        (lambda lib, c, a, b: lib.baddbmm(c, a, b, **kw), [(2, 2, 4), (2, 3), (2, 3, 4)]),
        (lambda lib, c, a, b: lib.addbmm(c, a, b, **kw), [(2, 4), (2, 2, 3), (2, 3, 4)]),
        (lambda lib, c, a, b: c.addbmm(a, b, **kw), [(1, 4), (2, 2, 3), (2, 3, 4)]),
        (lambda lib, c, a, b: lib.addbmm(c, a, b, **kw), [(2, 4), (2, 2, 3), (3, 3, 4)]),
        (lambda lib, c, a, b: lib.addbmm(c, a, b, **kw), [(2, 4), (2, 2, 3), (2, 4, 4)]),
    ]
    for k, (f, shapes) in enumerate(cases):
        # torch's addr promotes mixed dtypes forward, but its backward then fails: values only there
        mixed_addr = 8 <= k < 12 and isinstance(dtype, tuple)
        check(f, shapes, dtype, rtol=1e-5, atol=1e-5, requires_grad=not mixed_addr, second_order=not mixed_addr)


def test_add_family_in_place_and_bools():
    check(lambda lib, c, a, b: c.detach().clone().addmm_(a, b, beta=0.5), [(2, 4), (2, 3), (3, 4)])
    check(lambda lib, c, a, b: c.detach().clone().addr_(a, b, alpha=2), [(2, 3), (2,), (3,)])
    check(lambda lib, c, a, b: (lib.addr(c, a, b), lib.addr(c, a, b, beta=0), lib.addr(c, a, b, alpha=0)),
          [(2, 3), (2,), (3,)], "bool")
    check(lambda lib, c, a, b: lib.addr(c, a, b, beta=0.5), [(2, 3), (2,), (3,)], "int64")


@pytest.mark.parametrize("dtype", ["float64", "int64", ("float32", "float64")])
def test_outer_vdot_inner(dtype):
    for f, shapes in [(lambda lib, a, b: (lib.outer(a, b), a.outer(b), lib.ger(a, b)), [(2,), (3,)]),
                      (lambda lib, a, b: lib.outer(a, b), [(2, 1), (3,)]),
                      (lambda lib, a, b: (lib.vdot(a, b), a.vdot(b)), [(3,), (3,)]),
                      (lambda lib, a, b: lib.vdot(a, b), [(3,), (2,)]),
                      (lambda lib, a, b: lib.vdot(a, b), [(3, 1), (3,)]),
                      (lambda lib, a, b: (lib.inner(a, b), a.inner(b)), [(2, 3), (4, 3)]),
                      (lambda lib, a, b: lib.inner(a, b), [(3,), (2, 2, 3)]),
                      (lambda lib, a, b: lib.inner(a, b), [(), (2, 3)]),
                      (lambda lib, a, b: lib.inner(a, b), [(2, 3), (4, 2)])]:
        check(f, shapes, dtype)


@pytest.mark.parametrize("dims", [0, 1, 2, 3, -1, ([1], [0]), ([0, 1], [1, 0]), ([1, 0], [0]), [[-1], [0]],
                                  ([2], [0])])
def test_tensordot(dims):
    check(lambda lib, a, b: lib.tensordot(a, b, dims=dims), [(2, 3), (3, 2)])
    check(lambda lib, a, b: lib.tensordot(a, b, dims), [(2, 3, 4), (3, 4, 2)])
    check(lambda lib, a, b: lib.tensordot(a, b, dims), [(2, 3), (3, 2)], ("float32", "float64"))


EQUATIONS = [("ij,jk", [(2, 3), (3, 4)]), ("ij,jk->ik", [(2, 3), (3, 4)]), ("ii", [(3, 3)]), ("ii->i", [(3, 3)]),
             ("ij->ji", [(2, 3)]), ("ij->", [(2, 3)]), ("ba", [(2, 3)]), ("i,i->", [(1,), (3,)]),
             ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]), ("bi,bj->bij", [(2, 3), (2, 4)]),
             ("...ij,...jk", [(2, 1, 2, 3), (5, 3, 4)]), ("...ii->...i", [(2, 3, 3)]), ("i...->...", [(2, 3, 4)]),
             ("iij->j", [(2, 2, 3)]), ("ij,kj,k->i", [(2, 3), (4, 3), (4,)]), ("Ba,aB", [(2, 3), (3, 2)]),
             ("i j , j k -> i k", [(2, 3), (3, 4)]), ("i,j", [(2,), (3,)]), (",i->i", [(), (3,)]),
             ("ij", [(3, 3, 3)]), ("ij,jk->ik", [(2, 3), (4, 4)]), ("ij,jk->il", [(2, 3), (3, 4)]),
             ("ij,jk->ii", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3)]), ("i1", [(3, 3)]), ("ii->i", [(2, 3)]),
             ("i,i->i", [(2,), (3,)]), ("ij,jk->ik", [(0, 3), (3, 4)]), ("bn,anm,bm->ba", [(2, 3), (4, 3, 2), (2, 2)])]


@pytest.mark.parametrize("eq, shapes", EQUATIONS)
def test_einsum(eq, shapes):
    check(lambda lib, *xs: lib.einsum(eq, *xs), shapes)


def test_einsum_forms_and_dtypes():
    check(lambda lib, a, b: (lib.einsum("ij,jk->ik", [a, b]), lib.einsum(a, [0, 1], b, [1, 2], [0, 2]),
                             lib.einsum(a, [..., 1], b, [1, 2])), [(2, 3), (3, 4)])
    check(lambda lib, a, b: lib.einsum("ij,jk->ik", a, b), [(2, 3), (3, 4)], ("float32", "float64"))
    check(lambda lib, a, b: lib.einsum("ij,jk->ik", a, b), [(2, 3), (3, 4)], "int64")
    check(lambda lib, a: lib.einsum("i->i", a), [(3,)], "bool")


@pytest.mark.parametrize("shapes, kw", [(((2, 3), (2, 3)), {}), (((2, 2), (2, 2)), {}), (((1, 3), (2, 3)), {}),
                                        (((3,), (2, 3)), {}), (((3, 2), (3, 2)), {"dim": 0}),
                                        (((3, 2), (3, 2)), {"dim": 1}), (((2, 3), (2, 3)), {"dim": 3}),
                                        (((3, 3), (4, 3)), {}), (((2, 3, 4), (2, 3, 4)), {"dim": -2})])
@pytest.mark.parametrize("dtype", ["float64", "int64", ("float32", "float64")])
def test_cross(shapes, kw, dtype):
    check(lambda lib, a, b: lib.linalg.cross(a, b, **kw), shapes, dtype)
    check(lambda lib, a, b: (lib.cross(a, b, **kw), a.cross(b, **kw)), shapes, dtype)


def test_cross_default_dim():
    check(lambda lib, a, b: lib.cross(a, b), [(3, 2), (3, 2)])
    check(lambda lib, a, b: lib.cross(a, b), [(2, 2), (2, 2)])


@pytest.mark.parametrize("shapes", [[(2, 3), (3, 4)], [(3,), (3, 4), (4, 2)], [(2, 3), (3, 4), (4,)],
                                    [(3,), (3, 4), (4,)], [(3,), (3,)], [(2, 3)], [(2, 3), (4, 4)],
                                    [(2, 3, 3), (3, 3)], [(2, 3), (3, 3, 3), (3, 2)]])
def test_multi_dot(shapes):
    check(lambda lib, *xs: lib.linalg.multi_dot(xs), shapes, rtol=1e-5, atol=1e-6)
    check(lambda lib, *xs: lib.chain_matmul(*xs), shapes, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, -1, -2])
@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 3), (0, 2, 2), (2, 3), (3,)])
def test_matrix_power(n, shape):
    check(lambda lib, a: (lib.linalg.matrix_power(a + 3 * lib.eye(a.shape[-1], dtype=a.dtype), n),
                          lib.matrix_power(a, n) if n >= 0 else a.matrix_power(n % 2 + 1)) if a.ndim > 1 and
          a.shape[-1] == a.shape[-2] else lib.linalg.matrix_power(a, n), [shape], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("p", [2.0, 1.0, 0.0, 3.0, float("inf"), -1.0])
@pytest.mark.parametrize("shapes", [((3, 2), (4, 2)), ((2, 1, 3, 2), (5, 4, 2)), ((0, 2), (3, 2)), ((3,), (4, 3)),
                                    ((3, 2), (4, 3)), ((2, 3, 2), (3, 4, 2))])
@pytest.mark.parametrize("dtype", ["float64", "int64", ("float32", "float64")])
def test_cdist(p, shapes, dtype):
    # torch has no second derivative of cdist; for p=0 its gradient is None, gradwire's zeros
    check(lambda lib, a, b: lib.cdist(a, b, p=p), shapes, dtype, second_order=False, rtol=1e-5, requires_grad=p != 0.0)


def test_cdist_zero_distance_and_grad_fn():
    same_as_torch(lambda lib, a, b: (lib.cdist(a, b), GF(lib.cdist(a, b))), np.zeros((2, 2)), np.zeros((1, 2)))


@pytest.mark.parametrize("shapes, dim", [(((2, 3), (3,)), -1), (((2, 3), (2, 1)), 0), (((3,), (3,)), 2), (((2, 3), (4,)), -1),
                                        (((2, 3), (2, 3)), 2)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", ("float32", "float64")])
def test_vecdot_and_linalg_spellings(shapes, dim, dtype):
    check(lambda lib, a, b: lib.linalg.vecdot(a, b, dim=dim), shapes, dtype)
    check(lambda lib, a, b: (lib.linalg.matmul(a, b.unsqueeze(-1)), GF(lib.linalg.matmul(a, b.unsqueeze(-1))),
                             lib.linalg.diagonal(a.unsqueeze(-1) * b), lib.linalg.diagonal(a, offset=1, dim1=0, dim2=-1)
                             if a.ndim > 1 else a), shapes, dtype)


@pytest.mark.parametrize("shapes", [((2, 3), (2, 3, 1)), ((3,), (2, 4, 2)), ((2, 2, 3), (4, 2)), ((2, 2, 3), (4,)),
                                    ((2, 2, 3), (3, 2)), ((3,), (2, 3, 2)), ((3,), (3, 2)), ((2, 3), (2, 3, 4))])
@pytest.mark.parametrize("dtype", ["float64", "int64", ("float32", "float64"), ("int64", "int32")])
def test_matmul_folded_errors_and_names(shapes, dtype):
    """PyTorch folds a >= 3-d operand into a matrix when the other is 1-d or 2-d: its errors are mm's and mv's
    on the folded shapes (and depend on requires_grad), its grad_fn names mm's."""
    check(lambda lib, a, b: (lib.matmul(a, b), a.matmul(b), a @ b, GF(lib.matmul(a, b))), shapes, dtype)


def test_matmul_operator_follows_torch():
    check(lambda lib, a, b: (a @ b, GF(a @ b), GF(a[0] @ b[0]), GF(a @ b[0]), GF(a[0] @ b)), [(2, 3, 4), (2, 4, 5)])
    check(lambda lib, a, b: a @ b, [(2, 3), (2, 3, 1)])
