"""Batching (vmap) over the op table: a batched run equals a loop of unbatched runs; batched Jacobians."""
from __future__ import annotations

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import jacobian as ag_jacobian
from hypothesis import given, settings
from hypothesis import strategies as st

from gradwire.engine import OPS, Graph, GraphError, Limits, evaluate, hessian, jacobian
from gradwire.engine.api import _check
from gradwire.engine.batching import RULES, batch
from graphs import G, close
from test_engine_ops import DATA_OPS, FAST, draw_example

pytestmark = pytest.mark.filterwarnings("ignore:Output seems independent of input:UserWarning",
                                        "ignore::RuntimeWarning")

SWEEP = settings(FAST, max_examples=200)


def test_every_op_has_a_batching_rule():
    missing = sorted(n for n in OPS if n not in ("placeholder", "constant") and n not in RULES)
    assert not missing, f"ops without a batching rule: {missing}"


def _variants(rng, a: np.ndarray, n: int) -> np.ndarray:
    """n arrays shaped like `a`, each a permutation of its elements (stays in the op's domain, indices
    stay valid, distinct values stay distinct), stacked on a new leading axis."""
    flat = a.reshape(-1)
    return np.stack([flat[rng.permutation(flat.size)].reshape(a.shape) for _ in range(n)]) if n else \
        np.zeros((0,) + a.shape, a.dtype)


def check_batching(name: str, data) -> None:
    """out = op(inputs), with a random non-empty subset of input positions fed by batched placeholders
    (through a no-op f on float inputs, so batched and unbatched nodes mix), vs a loop of unbatched runs."""
    ex = draw_example(name, data)
    k = len(ex.inputs)
    which = data.draw(st.lists(st.booleans(), min_size=k, max_size=k).filter(any), label="batched inputs")
    B = data.draw(st.integers(1, 3), label="B")
    rng = np.random.default_rng(5)
    g = G()
    ids = []
    for j, a in enumerate(ex.inputs):
        x = g.ph(f"a{j}")
        if a.dtype.kind == "f" and data.draw(st.booleans(), label=f"f{j}"):
            x = g.op("mul", x, g.const(1.0, a.dtype))  # f(seed): one more batched (or shared) node
        ids.append(x)
    out = g.op(name, *ids, **ex.attrs)
    feeds = {f"a{j}": a for j, a in enumerate(ex.inputs)}
    checked = _check(g.graph, feeds, None, Limits())
    variants = ex.extra.get("variants", _variants)   # a case may keep its batch in its domain (cholesky)
    stacks = {f"a{j}": variants(rng, a, B) for j, a in enumerate(ex.inputs) if which[j]}
    placeholders = {n.attrs["name"]: i for i, n in enumerate(checked.nodes) if n.op == "placeholder"}
    try:
        bchecked, (bout,) = batch(checked, {placeholders[n]: B for n in stacks}, [out])
    except GraphError as e:
        # The one combination with no rule: integer indices that themselves vary along the batch.
        assert name in ("take", "scatter_add", "put") and which[1] and (which[0] or name != "take"), str(e)
        assert "batched indices" in str(e)
        return
    got = evaluate(Graph(bchecked.nodes), {**feeds, **stacks}, [bout]).values[0]
    want = [evaluate(g.graph, {**feeds, **{n: np.asarray(s[b]) for n, s in stacks.items()}}, [out]).values[0]
            for b in range(B)]
    want = np.stack(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (name, got.shape, want.shape, got.dtype, want.dtype)
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=name)
    else:
        close(got, want, rtol=1e-6 if want.dtype == np.float32 else 1e-12, atol=1e-12, what=f"{name} batched")


@pytest.mark.parametrize("name", DATA_OPS)
@given(data=st.data())
@settings(FAST, max_examples=12)
def test_batching_matches_loop(name, data):
    check_batching(name, data)


@pytest.mark.slow
@pytest.mark.parametrize("name", DATA_OPS)
@given(data=st.data())
@SWEEP
def test_batching_matches_loop_sweep(name, data):
    check_batching(name, data)


@pytest.mark.parametrize("xs,ys", [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3), (3, 4)),
                                   ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((3,), (5, 3, 4)),
                                   ((5, 2, 3), (3,)), ((1, 2, 3), (4, 1, 3, 2))])
@pytest.mark.parametrize("bx,by", [(True, False), (False, True), (True, True)])
def test_matmul_every_combination(xs, ys, bx, by):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(xs), rng.standard_normal(ys)
    g = G()
    out = g.op("matmul", g.ph("x"), g.ph("y"))
    checked = _check(g.graph, {"x": x, "y": y}, None, Limits())
    B = 3
    bchecked, (bout,) = batch(checked, {i: B for i, b in ((0, bx), (1, by)) if b}, [out])
    X = np.stack([x * (b + 1) for b in range(B)]) if bx else x
    Y = np.stack([y - b for b in range(B)]) if by else y
    got = evaluate(Graph(bchecked.nodes), {"x": X, "y": Y}, [bout]).values[0]
    want = np.stack([np.matmul(X[b] if bx else x, Y[b] if by else y) for b in range(B)])
    close(got, want, rtol=1e-12, atol=1e-12, what="matmul batched")


def test_unsupported_combination_names_the_node():
    g = G()
    x, i = g.ph("x"), g.ph("i")
    out = g.op("take", x, i, axis=0)
    checked = _check(g.graph, {"x": np.ones(3), "i": np.zeros(2, np.int64)}, None, Limits())
    with pytest.raises(GraphError, match="batched indices") as e:
        batch(checked, {0: 2, 1: 2}, [out])
    assert "take" in str(e.value)


def test_only_needed_nodes_are_batched_and_shared_nodes_keep_ids():
    g = G()
    x, s = g.ph("x"), g.ph("s")
    e = g.op("exp", x)
    out = g.op("mul", e, s)
    checked = _check(g.graph, {"x": np.ones(3), "s": np.ones(3)}, None, Limits())
    bchecked, (bout,) = batch(checked, {s: 4}, [out])
    assert bchecked.avals[e].shape == (3,) and bchecked.avals[bout].shape == (4, 3)
    assert [n.op for n in bchecked.nodes[:3]] == ["placeholder", "placeholder", "exp"]


# Jacobians: reverse (batched rows) vs forward (batched columns) vs autograd ------------------------
def _mlp():
    rng = np.random.default_rng(1)
    W1, W2, b = rng.standard_normal((4, 3)), rng.standard_normal((5, 4)), rng.standard_normal(4)
    g = G()
    x, w1, w2, bb = g.ph("x"), g.ph("w1"), g.ph("w2"), g.ph("b")
    h = g.op("tanh", g.op("add", g.op("matmul", w1, x), bb))
    out = g.op("softmax", g.op("matmul", w2, h), axis=0)

    def ref(x, w1, w2, b):
        z = w2 @ anp.tanh(w1 @ x + b)
        e = anp.exp(z - anp.max(z))
        return e / anp.sum(e)
    return g, out, [x, w1, w2, bb], [rng.standard_normal(3), W1, W2, b], ref


def _gather_slice():
    rng = np.random.default_rng(2)
    idx = np.array([[2, 0, 1], [1, 1, 0]])
    g = G()
    x, i, w = g.ph("x"), g.ph("i"), g.ph("w")
    gathered = g.op("gather", g.op("slice", x, starts=(0, 1), stops=(2, 4), steps=(1, 1)), i, axis=1)
    taken = g.op("take", w, g.const(np.array([1, 0])), axis=0)
    out = g.op("sum", g.op("mul", gathered, g.op("log_softmax", taken, axis=-1)), axes=(0,))

    def ref(x, w):
        xs = x[:2, 1:4]
        gat = anp.stack([xs[r][idx[r]] for r in range(2)])
        t = w[np.array([1, 0])]
        ls = t - anp.log(anp.sum(anp.exp(t), axis=-1, keepdims=True))
        return anp.sum(gat * ls, axis=0)
    return g, out, [x, w], [rng.standard_normal((3, 5)), rng.standard_normal((2, 3))], ref, {"i": idx}


def _stacked():
    rng = np.random.default_rng(3)
    g = G()
    x, y = g.ph("x"), g.ph("y")
    s = g.op("stack", g.op("sin", x), g.op("mul", x, y), axis=1)
    c = g.op("concat", s, g.op("reshape", y, shape=(3, 1)), axis=1)
    out = g.op("transpose", g.op("square", c), perm=(1, 0))

    def ref(x, y):
        c = anp.concatenate([anp.stack([anp.sin(x), x * y], axis=1), anp.reshape(y, (3, 1))], axis=1)
        return (c * c).T
    return g, out, [x, y], [rng.standard_normal(3), rng.standard_normal(3)], ref, {}


def _programs():
    g, out, wrt, vals, ref = _mlp()
    yield "mlp", g, out, wrt, vals, ref, {}
    for make in (_gather_slice, _stacked):
        g, out, wrt, vals, ref, extra = make()
        yield make.__name__, g, out, wrt, vals, ref, extra


@pytest.mark.parametrize("prog", list(_programs()), ids=lambda p: p[0])
@pytest.mark.parametrize("room", [None, 500])
def test_jacobians_vs_autograd_and_forward(prog, room):
    """room: bytes beside the result for the working chunk; 500 forces chunks of a few rows or columns."""
    name, g, out, wrt, vals, ref, extra = prog
    names = [g.nodes[w].attrs["name"] for w in wrt]
    feeds = {**dict(zip(names, vals)), **extra}
    result = np.asarray(ref(*vals)).size * sum(v.size for v in vals) * 8
    limits = Limits(jacobian_memory_bytes=result + room) if room else None
    v_rev, rev = jacobian(g.graph, feeds, out, wrt, mode="reverse", limits=limits)
    v_fwd, fwd = jacobian(g.graph, feeds, out, wrt, mode="forward", limits=limits)
    want = np.asarray(ref(*vals))
    close(v_rev, want, what="value")
    close(v_fwd, want, what="value")
    for m, x in enumerate(vals):
        oracle = ag_jacobian(ref, m)(*vals).reshape(want.shape + x.shape)
        close(rev[m], oracle, what=f"{name} reverse vs autograd [{m}]")
        close(fwd[m], oracle, what=f"{name} forward vs autograd [{m}]")
        close(rev[m], fwd[m], what=f"{name} reverse vs forward [{m}]")


def test_small_memory_limit_forces_chunks_and_gives_the_same_jacobian():
    from gradwire.engine import derivatives
    g, out, wrt, vals, ref = _mlp()
    feeds = dict(zip([g.nodes[w].attrs["name"] for w in wrt], vals))
    _, whole = jacobian(g.graph, feeds, out, wrt, mode="reverse")
    result = 5 * sum(v.size for v in vals) * 8
    chunks = []
    for room in (0, 400, 800, 1200):
        tiny = Limits(jacobian_memory_bytes=result + room)
        sweep = derivatives._prepare_rows(g.graph, feeds, None, tiny, out, tuple(wrt), 8, room)
        assert 1 <= sweep.chunk < 5, (room, sweep.chunk)   # 5 output rows: several chunks, the last one partial
        assert sweep.each.peak_elements * 8 <= room or sweep.chunk == 1
        chunks.append(sweep.chunk)
        _, chunked = jacobian(g.graph, feeds, out, wrt, mode="reverse", limits=tiny)
        for a, b in zip(whole, chunked):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert chunks == sorted(chunks) and chunks[-1] > 1, chunks


def test_batched_hessian_matches_autograd():
    from autograd import hessian as ag_hessian
    rng = np.random.default_rng(4)
    g = G()
    x, w = g.ph("x"), g.ph("w")
    out = g.op("logsumexp", g.op("matmul", w, g.op("tanh", x)), axes=None)
    vals = [rng.standard_normal(3), rng.standard_normal((2, 3))]

    def ref(x, w):
        z = w @ anp.tanh(x)
        return anp.log(anp.sum(anp.exp(z)))
    for room in (None, 400):
        _, blocks = hessian(g.graph, {"x": vals[0], "w": vals[1]}, out, [x, w],
                            limits=Limits(jacobian_memory_bytes=9 * 9 * 8 + room) if room else None)
        flat = lambda *a: ref(a[0][:3], a[0][3:].reshape(2, 3))  # noqa: E731
        H = ag_hessian(flat)(np.concatenate([vals[0], vals[1].reshape(-1)]))
        close(blocks[0], H[:3, :3], what="hessian xx")
        close(blocks[1], H[:3, 3:].reshape(3, 2, 3), what="hessian xw")
        close(blocks[3], H[3:, 3:].reshape(2, 3, 2, 3), what="hessian ww")
