"""The executor: fused groups give the bits of unfused execution, in-place writes never touch caller data,
plans are cached and deterministic under concurrency, kernels compile once."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from gradwire.engine import Graph, Node, autodiff, gradient, kernels
from gradwire.engine.executor import GROUP, INTO0, INTO1, PlanCache, compile_plan
from gradwire.engine.fusion import ufunc_for
from gradwire.engine.infer import infer
from gradwire.engine.jit import BLOCK_ELEMENTS, PARALLEL_BLOCK_ELEMENTS
from gradwire.engine.registry import OPS, Aval

RNG = np.random.default_rng(7)


def _specials(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flat[::97] = np.nan
    a.flat[5::101] = np.inf
    a.flat[7::103] = -np.inf
    a.flat[11::107] = 0.0
    return a


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """The same bits, NaNs aside: a NaN's sign comes from NumPy's loop (SIMD body or scalar tail: sqrt(-1) is
    -nan in one and +nan in the other), which depends on where a block ends, not on rounding."""
    def canonical(x):
        return np.where(np.isnan(x), np.nan, x) if x.dtype.kind == "f" else x
    return a.shape == b.shape and a.dtype == b.dtype and canonical(a).tobytes() == canonical(b).tobytes()


class G:
    """A tiny graph builder for tests."""

    def __init__(self):
        self.nodes: list[Node] = []

    def add(self, op, *inputs, **attrs) -> int:
        self.nodes.append(Node(op, tuple(inputs), attrs))
        return len(self.nodes) - 1

    def const(self, v, dtype="float32") -> int:
        return self.add("constant", value=np.asarray(v, dtype=dtype))


def _plans(nodes, feeds, outputs, wrt):
    """The forward+backward graph compiled twice: fused and one node at a time."""
    checked = infer(Graph(nodes), {k: Aval(v.shape, v.dtype.name) for k, v in feeds.items()})
    ext, grads, _ = autodiff.vjp(checked, outputs, wrt)
    outs = tuple(outputs) + tuple(grads)
    return compile_plan(ext, outs), compile_plan(ext, outs, fuse=False)


def _check_identical(nodes, feeds, outputs, wrt, expect_groups=True):
    fused, plain = _plans(nodes, feeds, outputs, wrt)
    if expect_groups:
        assert fused.groups > 0
    before = {k: v.copy() for k, v in feeds.items()}
    a, _ = fused.run(feeds)
    b, _ = plain.run(feeds)
    for x, y in zip(a, b):
        assert _same_bits(np.asarray(x), np.asarray(y))
    for k, v in feeds.items():   # inputs are never written
        assert _same_bits(v, before[k])
    return a


def _chain(dtype="float32", ops=("sin", "mul", "exp", "add", "tanh", "mul", "cos", "sub", "sigmoid",
                                          "div", "sqrt", "log", "square", "neg", "abs", "maximum", "tan")):
    g = G()
    x = g.add("placeholder", name="x")
    c = g.const(0.75, dtype)
    h = x
    for op in ops:
        h = g.add(op, h, x if op in ("mul", "div", "maximum") else c) if op in ("mul", "add", "sub", "div", "maximum") \
            else g.add(op, h)
    s = g.add("sum", h)
    return g.nodes, s, x


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [BLOCK_ELEMENTS * 3 + 17, PARALLEL_BLOCK_ELEMENTS * 4 + 5])
def test_fused_chain_same_bits_as_unfused(dtype, n):
    nodes, s, x = _chain(dtype)
    feed = _specials((RNG.standard_normal(n) * 3).astype(dtype))
    _check_identical(nodes, {"x": feed}, [s], [x])


def test_fused_with_row_broadcast_and_2d():
    # bias (256,) broadcast over rows, a per-row (R, 1) value, and a scalar: the row-block mode.
    g = G()
    x = g.add("placeholder", name="x")
    b = g.add("placeholder", name="b")
    r = g.add("placeholder", name="r")
    h = g.add("add", x, b)
    h = g.add("tanh", h)
    h = g.add("mul", h, r)
    h = g.add("exp", h)
    h = g.add("mul", h, g.const(2.0))
    s = g.add("sum", h)
    feeds = {"x": _specials(RNG.standard_normal((300, 256)).astype(np.float32)),
             "b": RNG.standard_normal(256).astype(np.float32),
             "r": RNG.standard_normal((300, 1)).astype(np.float32)}
    _check_identical(g.nodes, feeds, [s], [x, b, r])


def test_fused_mixed_dtypes_comparisons_where():
    g = G()
    x = g.add("placeholder", name="x")
    k = g.add("placeholder", name="k")       # int64 input: promotion happens inside the group
    h = g.add("mul", x, k)
    pos = g.add("gt", h, g.const(0.0))
    h = g.add("where", pos, h, g.add("exp", h))
    h = g.add("clamp", h, min=-1.0, max=3.0)
    h = g.add("pow_scalar", h, exponent=3.0)
    h = g.add("relu", g.add("sub", h, g.const(0.5)))
    s = g.add("sum", h)
    n = 50_001
    feeds = {"x": _specials(RNG.standard_normal(n).astype(np.float32)), "k": RNG.integers(-3, 4, n)}
    _check_identical(g.nodes, feeds, [s], [x])


def test_relu_layers_fused_same_bits_as_unfused():
    """An MLP's relu layers (bias over rows, relu written by its out= kernel, its gradient's mask and where):
    the fused groups give the unfused bits, -0.0 and NaN included."""
    g = G()
    x = g.add("placeholder", name="x")
    b = g.add("placeholder", name="b")
    h = g.add("relu", g.add("add", x, b))
    h = g.add("relu", g.add("mul", h, g.const(-1.5)))
    s = g.add("sum", g.add("mul", h, h))
    a = _specials(RNG.standard_normal((300, 256)).astype(np.float32))
    a.flat[13::89] = -0.0
    feeds = {"x": a, "b": np.where(RNG.standard_normal(256) > 0, -0.0, 0.0).astype(np.float32)}
    out = _check_identical(g.nodes, feeds, [s], [x, b])
    assert np.isfinite(out[1]).sum() > 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_out_kernels_match_op_rows(dtype):
    """Every row's out= kernel (what fused groups call per block) gives its impl's bits, in a fresh array and
    written into a block of a larger one."""
    a = _specials(RNG.standard_normal(3000) * 4).astype(dtype)
    a.flat[3::50] = -0.0
    c = RNG.standard_normal(3000) > 0
    checked = 0
    for name, op in OPS.items():
        if op.into is None or not op.elementwise:
            continue
        xs = [c, a, a[::-1].copy()][-op.min_inputs:] if op.min_inputs > 1 else [a]
        want = np.asarray(op.impl(*xs))
        full = np.full(5000, 7.0, dtype)
        got = op.into(*xs, out=full[1000:4000])
        assert got is full[1000:4000] or np.shares_memory(got, full)
        assert _same_bits(full[1000:4000], want) and (full[:1000] == 7).all() and (full[4000:] == 7).all(), name
        assert _same_bits(np.asarray(op.into(*xs)), want), name
        checked += 1
    assert checked >= 2


def test_group_not_fused_across_a_reduction_it_feeds():
    # y feeds a sum, and the sum's result feeds a later elementwise node: that node cannot join y's group.
    g = G()
    x = g.add("placeholder", name="x")
    y = g.add("sin", x)
    t = g.add("sum", y)
    z = g.add("mul", y, t)
    w = g.add("cos", g.add("add", z, y))
    s = g.add("sum", w)
    _check_identical(g.nodes, {"x": RNG.standard_normal(70_000).astype(np.float32)}, [s], [x])


def test_readonly_inputs_frombuffer():
    nodes, s, x = _chain()
    raw = RNG.standard_normal(40_000).astype(np.float32)
    ro = np.frombuffer(raw.tobytes(), np.float32)
    assert not ro.flags.writeable
    out = _check_identical(nodes, {"x": ro}, [s], [x])
    ref = _check_identical(nodes, {"x": raw}, [s], [x])
    assert all(_same_bits(np.asarray(p), np.asarray(q)) for p, q in zip(out, ref))


def test_ufunc_table_matches_op_rows():
    a = _specials(RNG.standard_normal(500) * 4)
    b = _specials(RNG.standard_normal(500) * 4)[::-1].copy()
    bound = 0
    for name, op in OPS.items():
        uf = op.ufunc
        if uf is None:
            continue
        for dt in op.dtypes:
            if dt == "bool" and name not in ("logical_not", "logical_and", "logical_or"):
                continue
            in_avals = [Aval((500,), dt)] * uf.nin
            try:
                out_aval = op.shape(in_avals, {})
            except RuntimeError:   # the shape rule refuses the dtype (hypot on integers)
                continue
            if ufunc_for(name, {}, in_avals, out_aval) is None:
                continue   # the executor calls the row's kernel for these dtypes
            bound += 1
            with np.errstate(all="ignore"):
                xs = [x.astype(dt) for x in (a, b)[:uf.nin]] if dt != "bool" else [x > 0 for x in (a, b)[:uf.nin]]
                try:
                    want = np.asarray(op.impl(*xs))
                except (ValueError, TypeError):   # e.g. integers to negative powers: both refuse
                    continue
                got = uf(*xs)
            assert _same_bits(want, got), (name, dt)
    assert bound >= 50


def test_inplace_accumulation_and_no_writes_to_caller_data():
    # The gradient of x sums three uses: its accumulation adds are candidates for in-place writes.
    g = G()
    x = g.add("placeholder", name="x")
    c = g.const(np.full(16, 2.0, np.float32))
    v = g.add("reshape", x, shape=(4, 4))                 # a view of the input, alive across the adds
    h = g.add("add", g.add("mul", x, c), g.add("sin", x))
    h = g.add("add", h, g.add("mul", x, x))
    s = g.add("sum", g.add("add", h, g.add("reshape", v, shape=(16,))))
    feeds = {"x": RNG.standard_normal(16).astype(np.float32)}
    fused, plain = _plans(g.nodes, feeds, [s], [x])
    flags = [st[4] for st in fused.steps]
    assert any(f & (INTO0 | INTO1) for f in flags)
    keep = g.nodes[c].attrs["value"].copy()
    before = feeds["x"].copy()
    for _ in range(3):
        a, _ = fused.run(feeds)
    want = 2.0 + np.cos(before) + 2 * before + 1.0
    np.testing.assert_allclose(a[1], want, rtol=1e-6)
    assert _same_bits(feeds["x"], before)
    assert _same_bits(g.nodes[c].attrs["value"], keep)


def test_inplace_never_writes_into_a_live_view():
    g = G()
    x = g.add("placeholder", name="x")
    y = g.add("exp", x)                       # owned by the plan
    v = g.add("reshape", y, shape=(2, 8))     # a view of y, used after the add below
    z = g.add("add", y, g.const(1.0))         # y dies here, but v still points into it
    out = g.add("add", g.add("reshape", v, shape=(16,)), z)
    feeds = {"x": RNG.standard_normal(16).astype(np.float32)}
    checked = infer(Graph(g.nodes), {"x": Aval((16,), "float32")})
    plan = compile_plan(checked, (out,))
    (r,), _ = plan.run(feeds)
    e = np.exp(feeds["x"])
    assert _same_bits(r, e + (e + np.float32(1.0)))


def test_known_values_are_never_written():
    g = G()
    x = g.add("placeholder", name="x")
    y = g.add("exp", x)
    z = g.add("add", y, x)
    checked = infer(Graph(g.nodes), {"x": Aval((16,), "float32")}, {y: Aval((16,), "float32")})
    plan = compile_plan(checked, (z,), known=[y])
    known = np.ones(16, np.float32)
    plan.run({"x": np.zeros(16, np.float32)}, {y: known})
    assert _same_bits(known, np.ones(16, np.float32))


def test_deterministic_under_concurrent_requests():
    nodes, s, x = _chain()
    feed = _specials(RNG.standard_normal(600_001).astype(np.float32))
    ref = gradient(Graph(nodes), {"x": feed}, [s], [x])
    results, errors = [], []

    def canon(a):
        # A plan can turn hot during this test and swap in compiled arithmetic runs: the same bits, except which
        # NaN an operation on two NaNs returns (IEEE leaves its sign open; LLVM may commute the operands).
        return np.where(np.isnan(a), np.nan, a).tobytes()

    def worker():
        try:
            for _ in range(4):
                r = gradient(Graph(nodes), {"x": feed}, [s], [x])
                results.append((canon(r.values[0]), canon(r.gradients[0])))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 24
    assert all(r == (canon(ref.values[0]), canon(ref.gradients[0])) for r in results)


def test_anomaly_names_first_node_in_fused_plan():
    g = G()
    x = g.add("placeholder", name="x")
    y = g.add("sin", x)
    z = g.add("log", g.add("sub", y, g.const(2.0)))   # log of a negative: NaN at node 3
    s = g.add("sum", g.add("exp", z))
    r = gradient(Graph(g.nodes), {"x": np.zeros(50_000, np.float32)}, [s], [x], anomaly=True)
    assert r.anomaly is not None and r.anomaly.node == 4 and r.anomaly.op == "log"


def test_group_step_is_used_for_large_chains():
    nodes, s, x = _chain()
    fused, _ = _plans(nodes, {"x": np.zeros(100_000, np.float32)}, [s], [x])
    assert any(st[4] & GROUP for st in fused.steps)
    assert len(fused.steps) < 12   # forward group, sum, seed, backward group(s)


def test_long_chain_compiles_without_recursion():
    g = G()
    h = g.add("placeholder", name="x")
    for _ in range(20_000):
        h = g.add("sin", h)
    s = g.add("sum", h)
    r = gradient(Graph(g.nodes), {"x": np.ones(4, np.float32)}, [s], [0])
    assert np.isfinite(r.gradients[0]).all()


def test_plan_cache_bounded_lru_thread_safe():
    cache = PlanCache(capacity=8)

    def worker(k):
        for i in range(200):
            key = (k, i % 20)
            if cache.get(key) is None:
                cache.put(key, (i,), "h%d" % (i % 20), 0.0)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    st = cache.stats()
    assert st["size"] <= 8 and st["hits"] + st["misses"] == 800


@pytest.mark.skipif(not hasattr(kernels._scatter_add, "signatures"), reason="NUMBA_DISABLE_JIT=1")
def test_numba_kernels_one_specialization_for_readonly_and_writable():
    kernels.warm_up()
    n_s, n_g = len(kernels._scatter_add.signatures), len(kernels._gather_add.signatures)
    for writable in (True, False):
        g = np.ones((2, 3), np.float32)
        if not writable:
            g = np.frombuffer(g.tobytes(), np.float32).reshape(2, 3)
        kernels.scatter_add(g, np.array([0, 1, 0]), 1, 2)
        kernels.gather_add(g, np.zeros((2, 3), np.int64), 1, (2, 2))
    assert (len(kernels._scatter_add.signatures), len(kernels._gather_add.signatures)) == (n_s, n_g)


def test_inplace_never_writes_into_a_broadcast_view():
    g = G()
    x = g.add("placeholder", name="x")
    t = g.add("exp", g.add("sum", g.add("exp", x), axes=None, keepdims=True))   # fresh (1,) array
    b = g.add("broadcast_to", t, shape=(16,))                                 # read-only view of it
    z = g.add("add", b, x)
    checked = infer(Graph(g.nodes), {"x": Aval((16,), "float32")})
    (r,), _ = compile_plan(checked, (z,)).run({"x": np.ones(16, np.float32)})
    one = np.ones(16, np.float32)
    assert _same_bits(r, np.exp(np.exp(one).sum(keepdims=True)) + one)


def test_large_groups_split_over_the_block_threads():
    from gradwire.engine.jit import PARALLEL_MIN_ELEMENTS, THREADS
    nodes, s, x = _chain()
    fused, _ = _plans(nodes, {"x": np.zeros(PARALLEL_MIN_ELEMENTS * 2, np.float32)}, [s], [x])
    ranges = [st[0].ranges for st in fused.steps if st[4] & GROUP]
    assert ranges and all(len(r) == min(THREADS, 2) for r in ranges)


def test_common_subexpressions_computed_once():
    # Both VJPs of dot(x, x) are g * x: reverse mode emits the product twice; the plan computes it once.
    nodes = [Node("placeholder", (), {"name": "x"}), Node("dot", (0, 0)),
             Node("constant", (), {"value": np.array(2.0, np.float32)}), Node("mul", (2, 1))]
    x = np.arange(4, dtype=np.float32)
    checked = infer(Graph(nodes), {"x": Aval((4,), "float32")})
    ext, grads, _ = autodiff.vjp(checked, [3], [0])
    muls = [i for i, nd in enumerate(ext.nodes) if nd.op == "mul" and 0 in nd.inputs]
    assert len(muls) == 2 and ext.nodes[muls[0]] == ext.nodes[muls[1]]
    plan = compile_plan(ext, [3, grads[0]], fuse=False)
    assert len(plan.steps) == 4  # dot, mul (forward); mul, add (backward; the seed is folded)
    value, grad = plan.run({"x": x})[0]
    assert value == 28.0
    np.testing.assert_array_equal(grad, 4 * x)
    # Outputs that are duplicates of each other still come back, one per request slot.
    dup = Graph(nodes + [Node("mul", (2, 1))])
    plan = compile_plan(infer(dup, {"x": Aval((4,), "float32")}), [3, 4])
    a, b = plan.run({"x": x})[0]
    assert a == b == 28.0


def test_set_threads_changes_new_plans_not_results():
    from gradwire.engine import set_threads, threads
    before = threads()
    x = RNG.standard_normal(1 << 20).astype(np.float32)
    nodes = [Node("placeholder", (), {"name": "x"}), Node("sin", (0,)), Node("exp", (1,)), Node("mul", (2, 0)),
             Node("sum", (3,))]
    try:
        results = []
        for n in (1, 2):
            set_threads(n)
            assert threads() == n
            checked = infer(Graph(nodes), {"x": Aval(x.shape, "float32")})
            ext, grads, _ = autodiff.vjp(checked, [4], [0])
            results.append(compile_plan(ext, [4, grads[0]]).run({"x": x})[0])
        assert all(_same_bits(a, b) for a, b in zip(*results))
        with pytest.raises(ValueError):
            set_threads(0)
    finally:
        set_threads(before)


def test_plan_cache_second_chance_keeps_what_was_hit():
    cache = PlanCache(capacity=2)
    cache.put("a", (1,))
    cache.put("b", (2,))
    assert cache.get("a") == (1,)        # a was hit since it came in: b goes first
    cache.put("c", (3,))
    assert cache.get("b") is None and cache.get("a") == (1,) and cache.get("c") == (3,)
    entry = cache.entry("a")
    cache.clear()
    assert not cache.refresh(entry) and cache.get("a") is None


def test_repeated_call_on_one_graph_object_follows_every_change():
    """The engine remembers a graph object's last call (api._repeat); any change in the call, or the plan
    leaving the cache, must give what a fresh graph gives."""
    from gradwire.engine import api, evaluate
    nodes = [Node("placeholder", (), {"name": "x"}), Node("placeholder", (), {"name": "y"})]
    nodes += [Node("mul", (0, 1)), Node("sum", (2,), {"axes": None})]
    g = Graph(nodes)

    def fresh(inputs, outputs, wrt):
        r = gradient(Graph(nodes), inputs, outputs, wrt)
        return r.values, r.gradients

    x, y = np.arange(4, dtype=np.float32), np.full(4, 2.0, np.float32)
    calls = [({"x": x, "y": y}, [3], [0]), ({"x": x, "y": y}, [3], [0]), ({"x": x, "y": y}, [3], [1]),
             ({"x": x, "y": y}, [3], [0, 1]), ({"x": x.astype(np.float64), "y": y}, [3], [0]),
             ({"x": x[:3], "y": y[:3]}, [3], [0]), ({"x": x, "y": y}, [3], [1, 0]), ({"x": -x, "y": y}, [3], [0])]
    for k, (inputs, outputs, wrt) in enumerate(calls + calls[::-1]):
        r = gradient(g, inputs, outputs, wrt)
        want_v, want_g = fresh(inputs, outputs, wrt)
        for a, b in zip(r.values + r.gradients, want_v + want_g):
            assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
        assert r.cache_hit or k < len(calls)
    ev = evaluate(g, {"x": x, "y": y}, [2])       # another kind of call on the same object
    assert np.array_equal(ev.values[0], x * y)
    with pytest.raises(Exception, match="'y'"):   # an input missing: the full check runs
        gradient(g, {"x": x}, [3], [0])
    api.CACHE.clear()                                # the remembered plan is gone: built again
    r = gradient(g, {"x": x, "y": y}, [3], [0])
    assert not r.cache_hit and np.array_equal(r.gradients[0], y)
    assert gradient(g, {"x": x, "y": y}, [3], [0]).cache_hit


def test_results_a_fused_group_computes_go_into_the_buffers_the_caller_places():
    """engine.gradient(into=...): the server computes a gradient straight into a client's shared-memory
    region. Same values as without; the placed buffer is the result; a buffer of the wrong shape is
    ignored (a fresh array instead)."""
    from gradwire.engine import Graph, Node, gradient
    x = np.linspace(-2, 2, 1 << 16, dtype=np.float32)
    g = Graph((Node("placeholder", (), {"name": "x"}), Node("constant", (), {"value": np.array(2.0, np.float32)}),
               Node("mul", (0, 1), {}), Node("sin", (2,), {}), Node("sum", (3,), {"axes": None})))
    plain = gradient(g, {"x": x}, [4], [0])
    asked, buf = [], np.full(x.shape, np.nan, np.float32)

    def into(k, shape, dtype):
        asked.append((k, tuple(shape), np.dtype(dtype)))
        return buf if k == 1 else None
    placed = gradient(g, {"x": x}, [4], [0], into=into)
    assert (1, x.shape, np.dtype(np.float32)) in asked
    assert placed.gradients[0] is buf
    np.testing.assert_array_equal(buf, plain.gradients[0])
    np.testing.assert_allclose(buf, 2 * np.cos(2 * x), rtol=1e-5, atol=1e-6)
    wrong = gradient(g, {"x": x}, [4], [0], into=lambda k, shape, dtype: np.empty(3, dtype))
    np.testing.assert_array_equal(wrong.gradients[0], plain.gradients[0])


def test_results_a_matmul_or_a_lone_ufunc_computes_go_into_the_buffers_the_caller_places():
    """Unfused steps with a kernel taking out= (a matmul's gradient, an add too small to fuse) place their result
    too; the bits are the unplaced ones, and a buffer of the wrong shape or dtype is ignored."""
    from gradwire.engine import Graph, Node, gradient
    rng = np.random.default_rng(5)
    feeds = {"x": rng.standard_normal((64, 48)).astype(np.float32), "w": rng.standard_normal((48, 32)).astype(np.float32),
             "b": rng.standard_normal(32).astype(np.float32)}
    g = Graph((Node("placeholder", (), {"name": "x"}), Node("placeholder", (), {"name": "w"}),
               Node("placeholder", (), {"name": "b"}), Node("matmul", (0, 1), {}), Node("add", (3, 2), {}),
               Node("tanh", (4,), {}), Node("sum", (5,), {"axes": None})))
    plain = gradient(g, feeds, [6], [1], extra=[4])
    bufs = {}

    def into(k, shape, dtype):
        bufs[k] = np.full(shape, np.nan, dtype)
        return bufs[k]
    placed = gradient(g, feeds, [6], [1], extra=[4], into=into)
    assert placed.gradients[0] is bufs[1] and placed.extra[0] is bufs[2]
    assert placed.gradients[0].tobytes() == plain.gradients[0].tobytes()
    assert placed.extra[0].tobytes() == plain.extra[0].tobytes()
    for wrong in (lambda k, shape, dtype: np.empty(3, dtype), lambda k, shape, dtype: np.empty(shape, np.float64)):
        r = gradient(g, feeds, [6], [1], extra=[4], into=wrong)
        assert r.gradients[0].tobytes() == plain.gradients[0].tobytes() and r.gradients[0].dtype == np.float32
