"""The compiled tier: tape segments and compiled arithmetic runs give the interpreted plan's answers (bits where
the operations are the same), plans compile in the background without blocking a request, swap in under
concurrent requests, and persist on disk across processes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from gradwire.engine import Cancelled, Graph, Node, compiled, evaluate, gradient, plan_cache_stats, tape
from gradwire.engine.api import CACHE
from gradwire.engine.blocks import BlockProgram
from gradwire.engine.executor import GROUP
from gradwire.engine.jit import COMPILE_MAX_ELEMENTS
from gradwire.engine.tape import Segment
import tiers

RNG = np.random.default_rng(11)
ARITH = ("mul", "add", "sub", "div", "square", "neg", "abs", "maximum", "minimum", "relu", "mul", "sub")
TRANSCENDENTAL = ("sin", "exp", "tanh", "cos", "log", "sqrt", "sigmoid", "tan")


def _specials(a):
    a = a.copy()
    a.flat[::7] = np.nan
    a.flat[3::11] = np.inf
    a.flat[5::13] = -np.inf
    a.flat[2::17] = 0.0
    return a


def chain(ops, dtype="float32"):
    """x -> op(h, x or c) ... -> sum; returns (graph, sum id)."""
    nodes = [Node("placeholder", (), {"name": "x"}), Node("constant", (), {"value": np.array(0.75, dtype)})]
    h = 0
    for op in ops:
        if op in ("mul", "div", "maximum", "minimum"):
            nodes.append(Node(op, (h, 0)))
        elif op in ("add", "sub"):
            nodes.append(Node(op, (h, 1)))
        else:
            nodes.append(Node(op, (h,)))
        h = len(nodes) - 1
    nodes.append(Node("sum", (h,), {"axes": None}))
    return Graph(nodes), len(nodes) - 1


def both(fn):
    """fn() on the interpreted tier, then on the compiled tier: (interpreted, compiled)."""
    out = []
    for name in tiers.TIERS:
        with tiers.tier(name):
            out.append(fn())
    return out


def _plan():
    (plan, *_) = CACHE.prepared()[0]
    return plan


def _bits(a, b):
    """Same bits, except that a NaN's sign and payload are not compared (which NaN an IEEE operation returns
    from two NaN operands, or whether the default NaN is negative, differs between SIMD and scalar code)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    na, nb = np.isnan(a), np.isnan(b)
    return np.array_equal(na, nb) and np.where(na, 0, a).tobytes() == np.where(nb, 0, b).tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 5, 16, 200])
def test_arithmetic_plans_same_bits_nan_inf_included(dtype, n):
    g, s = chain(ARITH * 3, dtype)
    x = _specials((RNG.standard_normal(n) * 3).astype(dtype)) if n > 1 else np.array([np.nan], dtype)
    kinds = []

    def run():
        r = gradient(g, {"x": x}, [s], [0])
        kinds.append([type(st[0]).__name__ for st in _plan().steps])
        return r

    a, b = both(run)
    assert "Segment" not in kinds[0] and kinds[1] == ["Segment"]   # the whole plan is one kernel call
    assert _bits(a.values[0], b.values[0]) and _bits(a.gradients[0], b.gradients[0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_transcendental_plans_within_a_few_ulp(dtype):
    """libm here, NumPy's SIMD functions when interpreted: equal to a few ulp per op; NaN/Inf where they are."""
    g, s = chain(TRANSCENDENTAL + ARITH[:4] + TRANSCENDENTAL[:3], dtype)
    x = _specials(RNG.uniform(0.1, 1.5, 64).astype(dtype))
    a, b = both(lambda: gradient(g, {"x": x}, [s], [0]))
    ga, gb = a.gradients[0], b.gradients[0]
    assert np.array_equal(np.isnan(ga), np.isnan(gb)) and np.array_equal(np.isinf(ga), np.isinf(gb))
    fin = np.isfinite(ga)
    rtol = 2e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(gb[fin], ga[fin], rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_trailing_sums_follow_numpys_pairwise_order(dtype):
    for n in list(range(1, 140)) + [255, 256, 257, 700, COMPILE_MAX_ELEMENTS]:
        x = RNG.standard_normal(n).astype(dtype)
        g = Graph([Node("placeholder", (), {"name": "x"}), Node("sum", (0,), {"axes": None}),
                   Node("mean", (0,), {"axes": None})])
        with tiers.tier("compiled"):
            s, m = evaluate(g, {"x": x}, [1, 2]).values
        assert _bits(s, np.sum(x)) and _bits(m, np.mean(x)), n


def test_reductions_over_other_axes_and_shapes():
    """Leading or middle axes, keepdims, broadcasting, transposes, slices, products: values and gradients
    against the interpreted plan (index-order sums: rounding-level differences only)."""
    nodes = [Node("placeholder", (), {"name": "x"}), Node("placeholder", (), {"name": "w"}),
             Node("placeholder", (), {"name": "b"})]

    def add(op, *ins, **attrs):
        nodes.append(Node(op, ins, attrs))
        return len(nodes) - 1

    h = add("matmul", 0, 1)                               # (3, 4) @ (4, 5)
    h = add("tanh", add("add", h, 2))                     # + (5,) broadcast
    t = add("transpose", h, perm=(1, 0))                  # (5, 3)
    sl = add("slice", t, starts=(1, 0), stops=(5, 3), steps=(2, 1))
    r0 = add("sum", h, axes=(0,), keepdims=True)          # leading axis
    r1 = add("max", t, axes=(1,), keepdims=False)
    r2 = add("mean", sl, axes=None, keepdims=False)
    d = add("dot", r1, r1)
    loss = add("add", add("add", add("sum", r0, axes=None), d), r2)
    feeds = {"x": RNG.standard_normal((3, 4)), "w": RNG.standard_normal((4, 5)), "b": RNG.standard_normal(5)}
    a, b = both(lambda: gradient(Graph(nodes), feeds, [loss], [0, 1, 2]))
    np.testing.assert_allclose(b.values[0], a.values[0], rtol=1e-13)
    for ga, gb in zip(a.gradients, b.gradients):
        np.testing.assert_allclose(gb, ga, rtol=1e-12, atol=1e-14)


def test_unexpressible_ops_stay_interpreted_between_segments():
    nodes = [Node("placeholder", (), {"name": "x"}), Node("sin", (0,)), Node("exp", (1,)),
             Node("constant", (), {"value": np.array([2, 0, 1])}), Node("take", (2, 3), {"axis": 0}),
             Node("cos", (4,)), Node("mul", (5, 5)), Node("sum", (6,), {"axes": None})]
    x = RNG.standard_normal(3).astype(np.float32)
    kinds = []

    def run():
        r = gradient(Graph(nodes), {"x": x}, [7], [0])
        kinds.append([type(st[0]).__name__ for st in _plan().steps])
        return r

    a, b = both(run)
    assert kinds[1].count("Segment") >= 2 and len(kinds[1]) > kinds[1].count("Segment")
    np.testing.assert_allclose(b.gradients[0], a.gradients[0], rtol=2e-6)


def test_large_nodes_stay_on_numpy():
    g, s = chain(("sin", "mul"))
    with tiers.tier("compiled"):
        gradient(g, {"x": np.ones(COMPILE_MAX_ELEMENTS + 1, np.float32)}, [s], [0])
        assert not any(isinstance(st[0], Segment) for st in _plan().steps)


def test_deterministic_and_anomaly_and_cancel_on_compiled_plans():
    g, s = chain(("sin", "log", "mul", "add"))
    x = np.array([1.0, -2.0, 0.5], np.float32)   # log of sin(-2) < 0: NaN at node 3
    with tiers.tier("compiled"):
        first = gradient(g, {"x": x}, [s], [0])
        assert isinstance(_plan().steps[0][0], Segment)
        for _ in range(5):
            again = gradient(g, {"x": x}, [s], [0])
            assert _bits(first.gradients[0], again.gradients[0])
        r = gradient(g, {"x": x}, [s], [0], anomaly=True)
        assert r.anomaly is not None and r.anomaly.node == 3 and r.anomaly.op == "log"
        with pytest.raises(Cancelled):
            gradient(g, {"x": x}, [s], [0], cancel=lambda: True)


# Tiering -------------------------------------------------------------------------------------------------
@pytest.fixture
def background(monkeypatch):
    """Counted hits, background compiles; the plan cache empty before and after."""
    CACHE.clear()
    monkeypatch.setattr(compiled, "synchronous", False)
    monkeypatch.setattr(compiled, "compile_after", 3)
    yield
    compiled.wait_idle()
    CACHE.clear()


@pytest.mark.parametrize("offload", [False, True], ids=["sliced-thread", "forked-child"])
def test_hot_plan_compiles_in_background_and_swaps_in(background, monkeypatch, offload):
    monkeypatch.setattr(compiled, "offload", offload)
    g, s = chain(ARITH * 2)
    x = RNG.standard_normal(16).astype(np.float32)
    ref = gradient(g, {"x": x}, [s], [0])
    plan = _plan()
    for _ in range(3):
        assert plan.tier is None and not isinstance(plan.steps[0][0], Segment)
        r = gradient(g, {"x": x}, [s], [0])
    assert plan.tier is not None                     # the third hit made it hot
    assert plan.tier.done.wait(120)
    assert plan.tier.state == "compiled" and isinstance(plan.steps[0][0], Segment)
    r = gradient(g, {"x": x}, [s], [0])
    assert _bits(r.gradients[0], ref.gradients[0])
    st = plan_cache_stats()["compiled"][g.hash()]
    assert st["state"] == "compiled" and st["seconds"] > 0 and st["segments"] == 1


def test_hot_option_compiles_without_hits(background):
    g, s = chain(("sin", "mul", "add"))
    gradient(g, {"x": np.ones(8, np.float32)}, [s], [0], hot=True)
    plan = _plan()
    assert plan.tier is not None and plan.tier.done.wait(120) and plan.tier.state == "compiled"


def test_a_slow_compile_never_blocks_requests(background, monkeypatch):
    """The compile thread is held inside build until the test releases it: meanwhile requests for the same
    plan (and others) answer, interpreted, with the right values."""
    entered, release = threading.Event(), threading.Event()
    real = compiled.build

    def held(plan):
        entered.set()
        assert release.wait(60)
        return real(plan)

    monkeypatch.setattr(compiled, "build", held)
    g, s = chain(ARITH)
    x = RNG.standard_normal(16).astype(np.float32)
    ref = gradient(g, {"x": x}, [s], [0], hot=True)
    try:
        assert entered.wait(60)
        for _ in range(20):
            r = gradient(g, {"x": x}, [s], [0])
            assert _bits(r.gradients[0], ref.gradients[0])
        assert _plan().tier.state == "queued" and not _plan().tier.done.is_set()
    finally:
        release.set()
    assert _plan().tier.done.wait(120) and _plan().tier.state == "compiled"


def test_concurrent_requests_while_compiles_swap_in(background):
    graphs = [chain(ARITH * 2), chain(("sin", "mul", "exp", "add") * 3), chain(("tanh", "mul", "sub") * 4)]
    x = _specials(RNG.standard_normal(16).astype(np.float32))
    refs = [gradient(g, {"x": x}, [s], [0]) for g, s in graphs]
    exact = [True, False, False]   # transcendental plans: the compiled tier differs by a few ulp
    errors = []

    def worker(k):
        try:
            for it in range(30):
                g, s = graphs[(k + it) % 3]
                r = gradient(g, {"x": x}, [s], [0])
                ref = refs[(k + it) % 3]
                if exact[(k + it) % 3]:
                    assert _bits(r.gradients[0], ref.gradients[0])
                else:
                    np.testing.assert_allclose(r.gradients[0], ref.gradients[0], rtol=2e-5)
        except Exception as e:   # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    compiled.wait_idle()
    for g, s in graphs:
        gradient(g, {"x": x}, [s], [0])
    states = [v["state"] for v in plan_cache_stats()["compiled"].values()]
    assert states.count("compiled") >= 3


def test_failed_compile_keeps_plan_interpreted(background, monkeypatch):
    def broken(plan):
        raise RuntimeError("no")

    monkeypatch.setattr(compiled, "build", broken)
    g, s = chain(("sin", "mul"))
    x = np.ones(4, np.float32)
    ref = gradient(g, {"x": x}, [s], [0], hot=True)
    assert _plan().tier.done.wait(60) and _plan().tier.state == "failed"
    assert _bits(gradient(g, {"x": x}, [s], [0]).gradients[0], ref.gradients[0])
    st = plan_cache_stats()["compiled"][g.hash()]
    assert st["state"] == "failed" and "RuntimeError: no" in st["error"]


def test_forked_encoder_gives_the_threads_encoding():
    g, s = chain(ARITH + TRANSCENDENTAL)
    with tiers.tier("interpreted"):
        gradient(g, {"x": np.ones(16, np.float32)}, [s], [0])
        plan = _plan()
        here, there = compiled.encode(plan), compiled._encode_elsewhere(plan)
    assert len(here) == len(there) and [p[:5] for p in here] == [p[:5] for p in there]
    for a, b in zip(here, there):
        if a[0] == "seg":
            for k in ("code", "aux", "ftemplate", "btemplate"):
                assert _bits(a[5][k], b[5][k])


# Large groups: compiled arithmetic runs ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_arithmetic_runs_in_large_groups_same_bits(dtype):
    g, s = chain(("mul", "add", "sub", "square", "div", "sin", "mul", "neg", "maximum", "abs", "add"), dtype)
    x = _specials((RNG.standard_normal(200_003) * 2).astype(dtype))
    with tiers.tier("interpreted"):
        ref = gradient(g, {"x": x}, [s], [0])
    with tiers.tier("compiled"):
        gradient(g, {"x": x}, [s], [0])
        plan = _plan()
        assert plan.tier.runs >= 2
        groups = [st[0] for st in plan.steps if st[4] & GROUP and isinstance(st[0], BlockProgram)]
        assert any(bp.alt is not None for bp in groups)
        for _ in range(8):   # both programs are timed, then one is kept: every run gives the same bits
            r = gradient(g, {"x": x}, [s], [0])
            assert _bits(r.values[0], ref.values[0]) and _bits(r.gradients[0], ref.gradients[0])
        assert all(bp.chosen is not None for bp in groups if bp.alt is not None)


# Persistence ----------------------------------------------------------------------------------------------
_CHILD = r"""
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from test_compiled import chain
from gradwire.engine import compiled, gradient, plan_cache_stats, tape
compiled.synchronous = True
g, s = chain(("mul", "add", "sub", "mul", "div", "add"))
r = gradient(g, {"x": np.linspace(-1, 1, 100_000).astype(np.float32)}, [s], [0])
g2, s2 = chain(("sin", "mul", "add"))
gradient(g2, {"x": np.ones(8, np.float32)}, [s2], [0])
st = plan_cache_stats()["compiled"]
print(json.dumps({"big": st[g.hash()], "small": st[g2.hash()], "grad": float(r.gradients[0].sum()),
                  "tape_hits": getattr(getattr(tape.run_tape, "stats", None), "cache_hits", None) and
                  sum(tape.run_tape.stats.cache_hits.values())}))
"""


def test_compiled_code_persists_across_processes(tmp_path):
    env = {**os.environ, "GRADWIRE_PLAN_DIR": str(tmp_path / "plans"), "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    env.pop("NUMBA_DISABLE_JIT", None)
    here = os.path.dirname(__file__)
    runs = [json.loads(subprocess.run([sys.executable, "-c", _CHILD, here], env=env, check=True,
                                      capture_output=True, text=True, timeout=600).stdout) for _ in range(2)]
    first, second = runs
    assert first["big"]["machine_code"] == "compiled" and second["big"]["machine_code"] == "loaded"
    assert first["small"]["state"] == second["small"]["state"] == "compiled"
    assert second["tape_hits"]       # the tape kernel came from Numba's disk cache too
    assert first["grad"] == second["grad"]
    assert len(os.listdir(tmp_path / "plans")) == 1


def test_tape_runs_without_numba_jit():
    """NUMBA_DISABLE_JIT=1: the tape kernel and the generated runs run as Python, with the same answers."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import numpy as np; from test_compiled import chain;"
            "from gradwire.engine import compiled, gradient; compiled.synchronous = True;"
            "g, s = chain(('mul', 'add', 'sin', 'maximum', 'sub'));"
            "r = gradient(g, {'x': np.linspace(-1, 1, 6).astype(np.float32)}, [s], [0]);"
            "print(repr(r.gradients[0].tolist()))")
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    out = subprocess.run([sys.executable, "-c", code, os.path.dirname(__file__)], env=env, check=True,
                         capture_output=True, text=True, timeout=300).stdout
    g, s = chain(("mul", "add", "sin", "maximum", "sub"))
    with tiers.tier("interpreted"):
        ref = gradient(g, {"x": np.linspace(-1, 1, 6).astype(np.float32)}, [s], [0]).gradients[0]
    np.testing.assert_allclose(np.array(eval(out)), ref, rtol=2e-6)
