"""One parametrized test over the op table: forward vs NumPy, VJP/JVP vs float64 central differences and autograd."""
from __future__ import annotations

import re

import numpy as np
import pytest
from autograd import grad
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradwire.engine import OPS, GraphError, Node, evaluate, gradient, jvp
from gradwire.engine.infer import infer
from gradwire.engine.registry import Aval
from graphs import G, close, extend, fd_jacobian
from op_table import CASES, REFUSED, UNARY, Example
import tiers

# The autograd oracle warns on empty inputs and constant outputs, and NumPy on log(0) in the oracle.
pytestmark = pytest.mark.filterwarnings("ignore:Output seems independent of input:UserWarning",
                                        "ignore::RuntimeWarning")

FAST = settings(max_examples=20, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
SWEEP = settings(FAST, max_examples=300)
DATA_OPS = sorted(n for n in OPS if n not in ("placeholder", "constant"))  # those two are in every graph


def draw_example(name: str, data) -> Example:
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    return CASES[name](data, rng)


def op_graph(name: str, ex: Example):
    """placeholders a0..an, then the op: returns (graph, input ids, output id, feeds)."""
    g = G()
    ids = [g.ph(f"a{k}") for k in range(len(ex.inputs))]
    out = g.op(name, *ids, **ex.attrs)
    return g.graph, ids, out, {f"a{k}": a for k, a in enumerate(ex.inputs)}


def partial_ref(ex: Example):
    """ref as a function of the differentiated inputs only (for autograd and finite differences)."""
    def f(*xs):
        args = list(ex.inputs)
        for k, x in zip(ex.diff, xs):
            args[k] = x
        return (ex.grad_ref or ex.ref)(*args)
    return f


def autograd_vjp(ex: Example, cot: np.ndarray) -> list[np.ndarray]:
    f = partial_ref(ex)
    xs = [ex.inputs[k] for k in ex.diff]
    return [np.asarray(grad(lambda *a: (f(*a) * cot).sum(), m)(*xs)) for m in range(len(xs))]


def check_op(name: str, data) -> None:
    ex = draw_example(name, data)
    graph, ids, out, feeds = op_graph(name, ex)
    want = np.asarray(ex.ref(*ex.inputs))
    got = evaluate(graph, feeds, [out]).values[0]
    assert got.shape == want.shape, f"{name}: shape {got.shape}, NumPy {want.shape}"
    if want.dtype == bool or want.dtype.kind in "iu":   # exact results: bools and indices
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
        np.testing.assert_array_equal(got, want)
    else:
        assert got.dtype == np.dtype(ex.attrs.get("dtype", "float64")), got.dtype
        close(got, want, rtol=ex.tol, atol=ex.tol, what=f"{name} forward")
    if not ex.diff:
        return
    rng = np.random.default_rng(7)
    f = partial_ref(ex)
    xs = [ex.inputs[k] for k in ex.diff]
    jacs = [fd_jacobian(f, xs, m) for m in range(len(xs))]

    # VJP: seeded with a random cotangent fed as a placeholder.
    cot = rng.standard_normal(want.shape)
    graph2, (gid,) = extend(graph, Node("placeholder", (), {"name": "g"}))
    res = gradient(graph2, {**feeds, "g": cot}, [out], [ids[k] for k in ex.diff], seeds=[gid])
    close(res.values[0], want, rtol=ex.tol, atol=ex.tol, what=f"{name} value")
    oracle = autograd_vjp(ex, cot)
    for m, (x, jac, g) in enumerate(zip(xs, jacs, res.gradients)):
        assert g.shape == x.shape and g.dtype == x.dtype
        close(g, (cot.reshape(-1) @ jac).reshape(x.shape), rtol=ex.tol, what=f"{name} vjp[{m}] vs fd")
        close(g, oracle[m], rtol=ex.tol, atol=1e-9 / ex.tol, what=f"{name} vjp[{m}] vs autograd")

    # JVP: random tangents for every differentiated input.
    tans = [rng.standard_normal(x.shape) for x in xs]
    r = jvp(graph, feeds, [out], [ids[k] for k in ex.diff], tans)
    expect = sum((jac @ t.reshape(-1) for jac, t in zip(jacs, tans)), np.zeros(want.size)).reshape(want.shape)
    close(r.values[0], want, rtol=ex.tol, atol=ex.tol, what=f"{name} jvp value")
    # Where the value itself is NaN (mean over nothing) its tangent is NaN too, as in PyTorch.
    close(np.where(np.isfinite(want), r.tangents[0], 0.0), expect, rtol=ex.tol, what=f"{name} jvp vs fd")


@pytest.fixture(params=tiers.TIERS)
def tier(request):
    """Each op-table test runs on interpreted plans and on plans compiled before their first run."""
    with tiers.tier(request.param):
        yield request.param


@pytest.mark.parametrize("name", DATA_OPS)
@FAST
@given(data=st.data())
def test_op(name, data, tier):
    """forward vs NumPy; VJP vs central differences and autograd; JVP vs central differences."""
    check_op(name, data)


@pytest.mark.slow
@pytest.mark.parametrize("name", DATA_OPS)
@SWEEP
@given(data=st.data())
def test_op_sweep(name, data, tier):
    check_op(name, data)


def test_every_op_has_a_table_entry():
    missing = [n for n in DATA_OPS if n not in CASES]
    assert not missing, f"ops without a test-table entry: {missing}"
    assert not set(CASES) - set(OPS), f"table entries for unknown ops: {sorted(set(CASES) - set(OPS))}"


@pytest.mark.parametrize("name", DATA_OPS)
def test_differentiable_ops_have_rules_and_coverage(name):
    """A differentiable op has a JVP rule and a VJP rule for every input the table differentiates,
    and its table entry differentiates every input that has a VJP rule (so both modes are checked)."""
    op = OPS[name]

    @settings(max_examples=5, derandomize=True, deadline=None, database=None)
    @given(data=st.data())
    def entries(data):
        ex = draw_example(name, data)
        if not op.differentiable:
            assert not ex.diff, f"{name} has no gradient, but its entry differentiates inputs {ex.diff}"
            return
        assert op.jvp is not None, f"{name} has VJP rules but no JVP rule"
        with_rule = {k for k in range(len(ex.inputs)) if op.vjp[k] is not None}
        assert set(ex.diff) == with_rule, f"{name}: table differentiates {ex.diff}, rules exist for {with_rule}"
    entries()


NO_GRAD_ATTRS = {"bitcast": {"dtype": "int64"}}     # attributes the ops below need


def _accepts(name: str, dtype: str) -> bool:
    from gradwire.core.signature import infer as infer_sig
    try:
        infer_sig(name, [Aval((3,), dtype)] * OPS[name].min_inputs, dict(NO_GRAD_ATTRS.get(name, {})))
        return True
    except (RuntimeError, ValueError):
        return False


@pytest.mark.parametrize("name", [n for n in DATA_OPS if not OPS[n].differentiable])
def test_no_gradient_ops_block_gradients(name):
    """Through an op without a gradient rule, a float input gets zeros and the unused flag."""
    x = np.array([0.5, -1.5, 2.0])
    g = G()
    xi = g.ph("x")
    # x itself, or (for ops refusing floats: bitwise ops, shifts) x > 0 or x cast to int64.
    dtype = next(d for d in ("float64", "bool", "int64") if _accepts(name, d))
    arg = xi if dtype == "float64" else g.op("gt", xi, g.const(0.0)) if dtype == "bool" else \
        g.op("cast", xi, dtype="int64")
    y = g.op(name, *(arg,) * OPS[name].min_inputs, **NO_GRAD_ATTRS.get(name, {}))
    total = g.op("sum", g.op("cast", y, dtype="float64"))
    r = gradient(g.graph, {"x": x}, [total], [xi])
    assert r.unused == [True]
    np.testing.assert_array_equal(r.gradients[0], np.zeros(3))


DTYPES = ("float32", "float64", "int32", "int64", "bool", "uint8", "int8", "int16", "float16")


def _typed(dtype, shape=(2, 3)):
    a = np.array([[1, 2, 3], [2, 1, 3]]).reshape(shape)
    return a.astype(dtype) if dtype != "bool" else a > 1





@pytest.mark.parametrize("name", [n for n in DATA_OPS if OPS[n].elementwise])
@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_dtypes(name, dtype):
    """Every dtype an elementwise op's row accepts runs (the kernel does not raise), with the
    inferred dtype; a dtype the row refuses is a GraphError before any kernel runs."""
    op = OPS[name]
    attrs = {"pow_scalar": {"exponent": 2.0}, "cast": {"dtype": "float32"}}.get(name, {})
    g = G()
    x = g.ph("x")
    ins = [g.op("gt", x, g.const(1, dtype))] if name == "where" else []
    ins += [x] * (op.min_inputs - len(ins))
    out = g.op(name, *ins, **attrs)
    feeds = {"x": _typed(dtype)}
    refused = (re.escape(op.sig.dtype_error or "dtype") if dtype not in op.dtypes else
               REFUSED.get((name, dtype)))
    if refused:
        with pytest.raises(GraphError, match=refused) as e:
            evaluate(g.graph, feeds, [out])
        assert e.value.node == out and e.value.code == "INVALID_ARGUMENT"
        return
    aval = infer(g.graph, {"x": Aval((2, 3), dtype)}).avals[out]
    assert evaluate(g.graph, feeds, [out]).values[0].dtype == np.dtype(aval.dtype)


FLOAT_OUT = sorted(n for n in UNARY if OPS[n].shape([Aval((), "int32")], {}).dtype == "float32")


@pytest.mark.parametrize("name", FLOAT_OUT)
@pytest.mark.parametrize("dtype", ["bool", "int32", "int64"])
def test_unary_float_ops_compute_int_and_bool_in_float32(name, dtype):
    """sin/exp/... of an int or bool tensor is float32 computed from the exact values (as
    torch.exp(torch.tensor([True])) = 2.7182817), not float16 as NumPy's bool loops would give."""
    ref = UNARY[name][0]
    x = _typed(dtype) if name not in ("log", "sqrt") or dtype != "bool" else np.array([True, True])
    g = G()
    out = g.op(name, g.ph("x"))
    got = evaluate(g.graph, {"x": x}, [out]).values[0]
    want = ref(x.astype(np.float64))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=2e-7, atol=1e-7)


def test_take_with_0d_indices():
    g = G()
    out = g.op("take", g.ph("x"), g.const(np.array(2, np.int64)), axis=0)
    got = evaluate(g.graph, {"x": np.arange(4.0)}, [out]).values[0]
    assert got.shape == () and got == 2.0
    grad = gradient(g.graph, {"x": np.arange(4.0)}, [out], [0]).gradients[0]
    np.testing.assert_array_equal(grad, [0.0, 0.0, 1.0, 0.0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_where_kernel_selects_the_bits_np_where_selects(dtype):
    """The select loop behind `where` (large same-shape operands) keeps NaN, Inf and -0.0 bit for bit."""
    from gradwire.engine import kernels
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((2, 3, 700)).astype(dtype), rng.standard_normal((2, 3, 700)).astype(dtype)
    x.flat[:4] = [np.nan, np.inf, -np.inf, -0.0]
    y.flat[4:8] = [np.nan, np.inf, -np.inf, -0.0]
    c = rng.standard_normal(x.shape) > 0
    c.flat[:8] = [True] * 4 + [False] * 4
    got, want = kernels.where(c, x, y), np.where(c, x, y)
    assert got.dtype == want.dtype and got.view(np.uint8).tobytes() == want.view(np.uint8).tobytes()
    for s in (np.array(-0.0, dtype), np.array(np.nan, dtype), np.array(2.5, dtype)):   # one side 0-d
        for a, b in ((x, s), (s, y)):
            got, want = kernels.where(c, a, b), np.where(c, a, b)
            assert got.shape == want.shape and got.view(np.uint8).tobytes() == want.view(np.uint8).tobytes()


def test_every_signature_has_an_engine_row():
    """The shared signatures (gradwire.core) and the engine's kernel rows name the same ops."""
    from gradwire.core import SIGNATURES
    assert set(SIGNATURES) == set(OPS), (sorted(set(SIGNATURES) - set(OPS)), sorted(set(OPS) - set(SIGNATURES)))
    assert all(OPS[n].sig is SIGNATURES[n] for n in OPS)


def test_client_imports_signatures_without_numba():
    import subprocess
    import sys
    code = ("import sys; sys.modules['numba'] = None\n"      # any import of numba now fails
            "import gradwire as gw\n"
            "from gradwire.core import signature\n"
            "print(signature.infer('matmul', [signature.Aval((2, 3), 'float32'), signature.Aval((3,), 'float32')], {}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "shape=(2,)" in out.stdout
