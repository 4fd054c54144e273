"""Derivatives of derivatives, over the same op table: second-order VJPs, Hessians, Jacobians (both modes), JVPs."""
from __future__ import annotations

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from autograd import hessian as ag_hessian
from autograd import jacobian as ag_jacobian
from hypothesis import given, settings
from hypothesis import strategies as st

from gradwire.engine import OPS, Node, evaluate, gradient, hessian, jacobian, jvp
from graphs import G, close, extend, fd_jacobian
from op_table import Example
from test_engine_ops import DATA_OPS, FAST, draw_example, op_graph, partial_ref

# The autograd oracle warns on empty inputs and constant outputs, and NumPy on log(0) in the oracle.
pytestmark = pytest.mark.filterwarnings("ignore:Output seems independent of input:UserWarning",
                                        "ignore::RuntimeWarning")

DIFF_OPS = [n for n in DATA_OPS if OPS[n].differentiable]
SECOND = settings(FAST, max_examples=12)
SECOND_SWEEP = settings(FAST, max_examples=150)


def _ph(name):
    return Node("placeholder", (), {"name": name})


def check_second_order(name: str, data) -> None:
    """d/dx <h, VJP(x, g)> from differentiating the gradient graph again, vs autograd and vs central
    differences (along a random direction) of the engine's own first derivative."""
    ex = draw_example(name, data)
    if not ex.diff:
        return
    graph, ids, out, feeds = op_graph(name, ex)
    rng = np.random.default_rng(11)
    want = np.asarray(ex.ref(*ex.inputs))
    xs = [ex.inputs[k] for k in ex.diff]
    wrt = [ids[k] for k in ex.diff]
    cot = rng.standard_normal(want.shape)
    g1, (gid,) = extend(graph, _ph("g"))
    feeds = {**feeds, "g": cot}
    first = gradient(g1, feeds, [out], wrt, seeds=[gid], create_graph=True)
    gg, gnodes = first.grad_graph, first.gradient_nodes
    assert len(gnodes) == len(xs)
    hs = [rng.standard_normal(x.shape) for x in xs]
    g2, hids = extend(gg, *[_ph(f"h{m}") for m in range(len(xs))])
    feeds2 = {**feeds, **{f"h{m}": h for m, h in enumerate(hs)}}
    second = gradient(g2, feeds2, gnodes, wrt, seeds=hids)
    for m, (x, g) in enumerate(zip(xs, first.gradients)):
        close(second.values[m], g, what=f"{name} first derivative inside the second")

    # autograd: phi(xs) = sum_m <h_m, d<g, f>/dx_m>, differentiated once more.
    f = partial_ref(ex)

    def phi(*a):
        return sum((grad(lambda *b: (f(*b) * cot).sum(), m)(*a) * hs[m]).sum() for m in range(len(a)))
    for m, x in enumerate(xs):
        assert second.gradients[m].shape == x.shape
        close(second.gradients[m], grad(phi, m)(*xs), rtol=1e-5, what=f"{name} second vjp[{m}] vs autograd")

    # central differences of the engine's first derivative along a random direction v.
    vs = [rng.standard_normal(x.shape) for x in xs]
    eps = 1e-5

    def engine_phi(sign):
        moved = dict(feeds)
        for k, x, v in zip(ex.diff, xs, vs):
            moved[f"a{k}"] = np.asarray(x + sign * eps * v)
        vals = evaluate(gg, moved, gnodes).values
        return sum(float((val * h).sum()) for val, h in zip(vals, hs))
    numeric = (engine_phi(1) - engine_phi(-1)) / (2 * eps)
    analytic = sum(float((s * v).sum()) for s, v in zip(second.gradients, vs))
    close(analytic, numeric, rtol=1e-4, atol=1e-5, what=f"{name} second vjp vs fd of the first")


@pytest.mark.parametrize("name", DIFF_OPS)
@SECOND
@given(data=st.data())
def test_second_order(name, data):
    check_second_order(name, data)


@pytest.mark.slow
@pytest.mark.parametrize("name", DIFF_OPS)
@SECOND_SWEEP
@given(data=st.data())
def test_second_order_sweep(name, data):
    check_second_order(name, data)


def small(ex: Example) -> bool:
    return sum(ex.inputs[k].size for k in ex.diff) <= 24 and np.asarray(ex.ref(*ex.inputs)).size <= 24


def check_jacobian_and_hessian(name: str, data) -> None:
    ex = draw_example(name, data)
    if not ex.diff or not small(ex):
        return
    graph, ids, out, feeds = op_graph(name, ex)
    xs = [ex.inputs[k] for k in ex.diff]
    wrt = [ids[k] for k in ex.diff]
    want = np.asarray(ex.ref(*ex.inputs))
    f = partial_ref(ex)

    # Jacobians: reverse and forward mode agree with each other and with autograd.
    v_rev, rev = jacobian(graph, feeds, out, wrt, mode="reverse")
    v_fwd, fwd = jacobian(graph, feeds, out, wrt, mode="forward")
    close(v_rev, want, what="jacobian value")
    close(v_fwd, want, what="jacobian value")
    for m, x in enumerate(xs):
        assert rev[m].shape == want.shape + x.shape == fwd[m].shape
        empty = want.size == 0 or x.size == 0  # autograd's jacobian cannot stack zero rows
        oracle = np.zeros(want.shape + x.shape) if empty else ag_jacobian(f, m)(*xs).reshape(want.shape + x.shape)
        close(rev[m], fwd[m], what=f"{name} jacobian reverse vs forward [{m}]")
        close(rev[m], oracle, what=f"{name} jacobian vs autograd [{m}]")

    # Hessian of a random weighting of the output (forward over reverse) vs autograd's.
    w = np.random.default_rng(3).standard_normal(want.shape)
    g2, (wid,) = extend(graph, Node("constant", (), {"value": w}))
    g2, (total,) = extend(*extend(g2, Node("mul", (out, wid), {}))[:1], Node("sum", (len(g2),), {}))
    value, blocks = hessian(g2, feeds, total, wrt)
    close(value, (want * w).sum(), what="hessian value")
    n = len(xs)
    for i in range(n):
        for j in range(n):
            oracle = ag_hessian(lambda *a: (f(*a) * w).sum(), i) if i == j else \
                ag_jacobian(grad(lambda *a: (f(*a) * w).sum(), i), j)
            shape_ij = xs[i].shape + xs[j].shape
            expect = np.asarray(oracle(*xs)).reshape(shape_ij) if xs[i].size and xs[j].size else np.zeros(shape_ij)
            close(blocks[i * n + j], expect, what=f"{name} hessian block {i},{j} vs autograd")


@pytest.mark.parametrize("name", DIFF_OPS)
@settings(FAST, max_examples=8)
@given(data=st.data())
def test_jacobian_and_hessian(name, data):
    check_jacobian_and_hessian(name, data)


@pytest.mark.slow
@pytest.mark.parametrize("name", DIFF_OPS)
@settings(FAST, max_examples=80)
@given(data=st.data())
def test_jacobian_and_hessian_sweep(name, data):
    check_jacobian_and_hessian(name, data)


# A few composite programs, each written twice: as an engine graph and with autograd.numpy ----------
def _mlp(g, x, w):
    h = g.op("tanh", g.op("matmul", w, x))
    return g.op("logsumexp", g.op("mul", h, h))


PROGRAMS = {
    # name: (build(g, *placeholder ids) -> output id, autograd function, input shapes)
    "mlp": (_mlp, lambda x, w: _lse(anp.tanh(w @ x) ** 2), [(3,), (2, 3)]),
    "softmax-xent": (lambda g, x, y: g.op("sum", g.op("mul", y, g.op("log_softmax", x, axis=-1))),
                     lambda x, y: (y * (x - _lse(x, axis=-1, keepdims=True))).sum(), [(2, 3), (2, 3)]),
    "norm-ratio": (lambda g, x, y: g.op("div", g.op("norm", x), g.op("add", g.op("dot", x, y), g.const(10.0))),
                   lambda x, y: anp.sqrt((x * x).sum()) / (anp.dot(x, y) + 10.0), [(4,), (4,)]),
    "reuse": (lambda g, x, y: g.op("sum", g.op("mul", g.op("sin", x), g.op("mul", x, g.op("exp", y)))),
              lambda x, y: (anp.sin(x) * x * anp.exp(y)).sum(), [(2, 1), (3,)]),
}


def _lse(x, axis=None, keepdims=False):
    return anp.log(anp.sum(anp.exp(x), axis=axis, keepdims=keepdims))


@pytest.mark.parametrize("prog", sorted(PROGRAMS))
def test_programs_hessian_jacobian_jvp(prog):
    build, ag_fn, shapes_ = PROGRAMS[prog]
    rng = np.random.default_rng(5)
    xs = [rng.uniform(-1, 1, s) for s in shapes_]
    g = G()
    ids = [g.ph(f"x{k}") for k in range(len(xs))]
    out = build(g, *ids)
    feeds = {f"x{k}": x for k, x in enumerate(xs)}
    graph = g.graph
    value, blocks = hessian(graph, feeds, out, ids)
    close(value, ag_fn(*xs))
    n = len(xs)
    for i in range(n):
        for j in range(n):
            expect = ag_jacobian(grad(ag_fn, i), j)(*xs).reshape(xs[i].shape + xs[j].shape)
            close(blocks[i * n + j], expect, what=f"{prog} hessian {i},{j}")
    # jvp vs central differences, gradient vs autograd
    ts = [rng.standard_normal(x.shape) for x in xs]
    r = jvp(graph, feeds, [out], ids, ts)
    fd = sum(float(fd_jacobian(ag_fn, xs, k).reshape(-1) @ t.reshape(-1)) for k, t in enumerate(ts))
    close(r.tangents[0], fd, rtol=1e-5)
    gr = gradient(graph, feeds, [out], ids)
    for k in range(n):
        close(gr.gradients[k], grad(ag_fn, k)(*xs), what=f"{prog} gradient {k}")


def test_third_derivative_by_composition():
    """The third derivative of sin is -cos: differentiate the gradient graph twice more."""
    x = np.linspace(-2, 2, 7)
    g = G()
    xi = g.ph("x")
    y = g.op("sum", g.op("sin", xi))
    r1 = gradient(g.graph, {"x": x}, [y], [xi], create_graph=True)
    g2, (s1,) = extend(r1.grad_graph, Node("sum", (r1.gradient_nodes[0],), {}))
    r2 = gradient(g2, {"x": x}, [s1], [xi], create_graph=True)
    close(r2.gradients[0], -np.sin(x))
    g3, (s2,) = extend(r2.grad_graph, Node("sum", (r2.gradient_nodes[0],), {}))
    r3 = gradient(g3, {"x": x}, [s2], [xi])
    close(r3.gradients[0], -np.cos(x))


def test_hessian_of_xtax_is_a_plus_at():
    a = np.random.default_rng(0).standard_normal((3, 3))
    g = G()
    x = g.ph("x")
    y = g.op("dot", x, g.op("matmul", g.const(a), x))
    _, (h,) = hessian(g.graph, {"x": np.ones(3)}, y, [x])
    close(h, a + a.T)


def test_jacobian_auto_mode_and_value():
    a = np.arange(6.0).reshape(2, 3)
    g = G()
    x = g.ph("x")
    y = g.op("matmul", g.const(a), x)
    for mode in ("auto", "reverse", "forward"):
        value, (j,) = jacobian(g.graph, {"x": np.ones(3)}, y, [x], mode=mode)
        close(value, a @ np.ones(3))
        close(j, a)
