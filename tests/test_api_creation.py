"""Dtypes and creation functions against torch: promotion among every dtype, conversions, view(dtype), limits,
reprs, float16 arithmetic; factories, random draws and seeded generators."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import gradwire as gw
from client_fixtures import counter, session  # noqa: F401
from gradwire.core.dtypes import DTYPES, result_type
from torch_diff import same_as_torch

pytestmark = pytest.mark.usefixtures("session")
NEW = ("uint8", "int8", "int16", "float16")
TORCH = {d: getattr(torch, d) for d in DTYPES}


def typed(dtype, shape=(3, 4), seed=0):
    a = np.random.default_rng(seed).uniform(-4, 4, shape)
    if dtype == "bool":
        return a > 0
    if dtype == "uint8":
        return np.abs(np.round(a * 40)).astype(dtype)
    if dtype.startswith("int"):
        return np.round(a * 30).astype(dtype)
    return a.astype(dtype)


# -- dtypes -----------------------------------------------------------------------------------------
def test_promotion_table_is_torch_result_type():
    """Every pair, as tensors with dims, a 0-d tensor, or a Python scalar of the dtype's kind."""
    scalars = {"bool": True, "int": 3, "float": 2.5}
    for a, b in itertools.product(DTYPES, repeat=2):
        x, y, z = torch.ones(2, dtype=TORCH[a]), torch.ones(2, dtype=TORCH[b]), torch.ones((), dtype=TORCH[b])
        assert result_type((a, 1), (b, 1)) == str(torch.result_type(x, y)).removeprefix("torch."), (a, b)
        assert result_type((a, 1), (b, 0)) == str(torch.result_type(x, z)).removeprefix("torch."), (a, b)
        assert result_type((a, 0), (b, 0)) == str(torch.result_type(x[0], z)).removeprefix("torch."), (a, b)
    for a, (kind, s) in itertools.product(DTYPES, scalars.items()):
        x = torch.ones(2, dtype=TORCH[a])
        assert result_type((a, 1), (kind if kind == "bool" else "int64" if kind == "int" else "float64", 0, True)) \
            == str(torch.result_type(x, s)).removeprefix("torch."), (a, kind)


def test_named_dtypes_match_torch():
    for name in ("uint8", "int8", "int16", "float16", "half", "short", "int", "float", "double", "long", "bool"):
        assert repr(getattr(gw, name)) == repr(getattr(torch, name)), name
    assert not hasattr(gw, "char") and not hasattr(torch, "char")
    for d in DTYPES:
        g, t = getattr(gw, d), TORCH[d]
        assert (g.is_floating_point, g.is_signed, g.itemsize) == (t.is_floating_point, t.is_signed, t.itemsize)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conversions_and_type_names(dtype):
    same_as_torch(lambda lib, x: (x.half(), x.byte(), x.char(), x.short(), x.int(), x.long(), x.float(),
                                  x.double(), x.bool(), x.to(lib.int8), x.to(dtype=lib.float16), x.type(lib.int16),
                                  x.type("torch.ShortTensor"), x.to("cpu", lib.uint8)), typed(dtype))
    x, t = gw.tensor(typed(dtype)), torch.tensor(typed(dtype))
    assert x.type() == t.type() and x.element_size() == t.element_size()
    assert x.is_floating_point() == t.is_floating_point() == gw.is_floating_point(x)
    assert x.to(x.dtype) is x and x.to(x.dtype, copy=True) is not x
    assert repr(x) == repr(t)


def test_conversion_gradients_and_errors():
    same_as_torch(lambda lib, x: (x.half() * 3).float().exp(), typed("float32"))
    same_as_torch(lambda lib, x: x.type("torch.Foo"), typed("float32"))
    same_as_torch(lambda lib, x: lib.is_floating_point(3), typed("float32"))
    with pytest.raises(AssertionError, match="^Torch not compiled with CUDA enabled$"):    # as a CPU-only torch
        gw.ones(2).to("cuda")
    assert gw.ones(2).to(torch.device("cpu"), gw.int8).dtype == gw.int8
    assert gw.ones(2).to(device="cpu", dtype=gw.half).dtype == gw.float16


@pytest.mark.parametrize("src", DTYPES)
@pytest.mark.parametrize("dst", ["uint8", "int16", "float16", "int32", "float32", "int64", "float64", "bool"])
def test_view_dtype_reinterprets_bits(src, dst):
    a = typed(src, (2, 8))
    if dst == "bool" or src == "bool" and dst.startswith("float"):
        # Only bytes 0 and 1 are bools on the wire (a documented difference), and bools read as floats are
        # subnormals: one-byte 0/1 values, or zeros.
        a = typed("bool", (2, 8)).astype(src) if src in ("uint8", "int8", "bool") else np.zeros((2, 8), src)
        if src == "bool" and dst != "bool":
            a = np.zeros((2, 8), bool)
    same_as_torch(lambda lib, x: x.view(getattr(lib, dst)), a, requires_grad=False)
    same_as_torch(lambda lib, x: x[:, 2:6].view(getattr(lib, dst)), a, requires_grad=False)
    same_as_torch(lambda lib, x: x.t().view(getattr(lib, dst)), a, requires_grad=False)
    same_as_torch(lambda lib, x: x[0, 0].view(getattr(lib, dst)), a, requires_grad=False)
    same_as_torch(lambda lib, x: x[:, :3].view(getattr(lib, dst)), a, requires_grad=False)


def test_view_dtype_shares_storage_and_has_no_history():
    def program(lib, x):
        y = x.detach().clone()
        v = y.view(lib.int32)
        v.add_(1 << 23)                 # one more in the exponent: every value doubles
        w = y.view(lib.int16)
        w[0] = 0
        return y, v, x.view(lib.float32).requires_grad, x.view(lib.int32).grad_fn is None
    same_as_torch(program, np.array([1.0, -2.0, 3.5], np.float32))


def test_finfo_iinfo():
    for d in ("float16", "float32", "float64"):
        f, t = gw.finfo(getattr(gw, d)), torch.finfo(TORCH[d])
        for k in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
            assert getattr(f, k) == getattr(t, k), (d, k)
    assert gw.finfo().dtype == torch.finfo().dtype == "float32"
    for d in ("uint8", "int8", "int16", "int32", "int64"):
        i, t = gw.iinfo(getattr(gw, d)), torch.iinfo(TORCH[d])
        assert (i.bits, i.max, i.min, i.dtype) == (t.bits, t.max, t.min, t.dtype)
        assert repr(i) == repr(t)
    for bad in [lambda lib: lib.finfo(lib.int32), lambda lib: lib.iinfo(lib.float32), lambda lib: lib.iinfo(lib.bool)]:
        with pytest.raises(TypeError) as ours:
            bad(gw)
        with pytest.raises(TypeError) as theirs:
            bad(torch)
        assert str(ours.value) == str(theirs.value)


def test_integer_overflow_wraps_as_torch():
    u = np.array([255, 0, 128], np.uint8)
    same_as_torch(lambda lib, x: (x + 1, x - 1, x * 2, x + 300, -1 + x, x.sum(), x.prod()), u)
    same_as_torch(lambda lib, x: (x + 1, -x, x * 2, x.abs(), x * 1000), np.array([127, -128, 5], np.int8))
    same_as_torch(lambda lib, x: (x + 1, x * 3), np.array([32767, -32768], np.int16))
    same_as_torch(lambda lib, x: (x.clamp(-1, 2), x.clamp(max=300)), u)
    same_as_torch(lambda lib, x: (x.all(), x.any(dim=0)), u.reshape(3, 1))


ELEMENTWISE = ["neg", "exp", "log", "sin", "cos", "tanh", "sigmoid", "relu", "sqrt", "abs", "square"]


@pytest.mark.parametrize("dtype", NEW)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_unary_ops_on_new_dtypes(name, dtype):
    same_as_torch(lambda lib, x: getattr(lib, name)(x), typed(dtype), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dx", NEW + ("bool", "int64", "float32"))
@pytest.mark.parametrize("dy", NEW)
def test_binary_ops_mix_new_dtypes(dx, dy):
    same_as_torch(lambda lib, x, y: (x + y, x * y, x / y, lib.maximum(x, y), x == y, x - y if "bool" not in (dx, dy)
                                     else x), typed(dx), typed(dy, seed=1), rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("dtype", NEW)
def test_reductions_on_new_dtypes(dtype):
    def program(lib, x):
        out = [x.sum(), x.sum(0), x.prod(1), x.amax(), x.amin(1), *x.max(0), x.argmax(), x.all(), x.any(1)]
        if dtype == "float16":
            out += [x.mean(), x.var(1), x.std(), x.norm(), lib.logsumexp(x, 1), lib.softmax(x, 0)]
        return out
    # float16 gradients: PyTorch rounds each backward step to float16; a couple of ulps (2e-3) apart
    same_as_torch(program, typed(dtype), rtol=4e-3, atol=4e-3)


def test_float16_computes_as_torch():
    """PyTorch computes float16 ops in float32 and rounds each result: exp, sums, matmul agree to an ulp."""
    rng = np.random.default_rng(3)
    a = rng.uniform(0, 1, 20000).astype(np.float16)
    same_as_torch(lambda lib, x: (x.sum(), x.mean()), a, requires_grad=False, rtol=0, atol=0)
    m, n = rng.uniform(-1, 1, (16, 300)).astype(np.float16), rng.uniform(-1, 1, (300, 8)).astype(np.float16)
    same_as_torch(lambda lib, x, y: x @ y, m, n, rtol=2e-3, atol=2e-3)
    e = rng.uniform(-5, 5, 1000).astype(np.float16)
    same_as_torch(lambda lib, x: (x.exp(), x.tanh(), x.sin(), x * 1e6), e, requires_grad=False, rtol=0, atol=0)


def test_float16_elementwise_is_bit_exact():
    """One rounding per op, from float32 (sigmoid and lerp included); Python scalars as PyTorch takes them:
    float32 for * and / (x * 1e6 is finite where x is small), float16 for +, -, ** and comparisons."""
    rng = np.random.default_rng(4)
    a, b = rng.uniform(-3, 3, 20000).astype(np.float16), rng.uniform(0.1, 3, 20000).astype(np.float16)

    def program(lib, x, y):
        return (x.exp(), y.log(), x.tanh(), x.sigmoid(), y.sqrt(), x + y, x - y, x * y, x / y, y ** x,
                lib.hypot(x, y), lib.lerp(x, y, y), x * 1.1 + 3.3, 2.7 - x / 3.3, y ** 0.1,
                x > 1.0001, x * 1e6 / 1e6 + 1e6, x.sum(), x.mean(), x.amax())
    same_as_torch(program, a, b, requires_grad=False, rtol=0, atol=0)
    # PyTorch's float32 steps (fused multiply-adds in lerp, its own exp in softmax) round differently now and
    # then, and a float16 result lands an ulp away: within 2 ulps
    same_as_torch(lambda lib, x, y: (lib.lerp(x, y, 0.3), lib.softmax(x.reshape(200, 100), 1), x.var(), x.std(),
                                     lib.logsumexp(x.reshape(200, 100), 1), lib.log_softmax(x.reshape(200, 100), 1)),
                  a, b, requires_grad=False, rtol=2e-3, atol=1e-5)


def test_tensor_from_numpy_keeps_new_dtypes():
    for d in NEW:
        a = typed(d)
        assert gw.tensor(a).dtype == getattr(gw, d) and gw.from_numpy(a).dtype == getattr(gw, d)
        assert repr(gw.tensor(a)) == repr(torch.tensor(a))


# -- creation ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float16", "float32", "int8", "uint8"])
def test_like_and_new_factories(dtype):
    def program(lib, x):
        d = getattr(lib, dtype)
        return (str((lib.empty(2, 3).shape, lib.empty((0, 2), dtype=d).dtype, lib.empty_like(x).shape,
                     lib.empty_like(x, dtype=lib.int16).dtype, x.new_empty(3).shape, x.new_empty(3).dtype,
                     lib.ones(2, requires_grad=True).requires_grad)),
                lib.zeros_like(x, dtype=lib.float16), lib.ones_like(x), lib.full_like(x, 7), x.new_zeros(2),
                x.new_ones((2, 2)), x.new_full((2,), 3), x.new_tensor([1, 2]), x.new_zeros(2, dtype=d))
    same_as_torch(program, typed(dtype), requires_grad=False)


def test_random_factories_dtypes_ranges_and_errors():
    x = gw.ones(2, 3, dtype=gw.float16)
    assert gw.rand_like(x).dtype == gw.randn_like(x).dtype == gw.float16 and gw.rand_like(x).shape == x.shape
    r = gw.randint(3, 9, (1000,)).numpy()
    assert r.dtype == np.int64 and r.min() == 3 and r.max() == 8
    assert gw.randint(5, (2, 2)).shape == (2, 2) and gw.randint(5, (3,), dtype=gw.uint8).dtype == gw.uint8
    for bad in [lambda lib: lib.empty(-1), lambda lib: lib.zeros(2, -3), lambda lib: lib.ones(2, -3),
                lambda lib: lib.rand(-2), lambda lib: lib.randint(5, 2, (3,)), lambda lib: lib.ones(2).new_zeros(-1),
                lambda lib: lib.rand_like(lib.ones(2, dtype=lib.int64)), lambda lib: lib.randn(2, dtype=lib.int32),
                lambda lib: lib.full((2, -1), 1.0)]:
        with pytest.raises(Exception) as ours:
            bad(gw)
        with pytest.raises(Exception) as theirs:
            bad(torch)
        assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))


def test_draws_are_distributed_as_asked():
    n = 200_000
    u, z = gw.rand(n).numpy(), gw.randn(n).numpy()
    assert abs(u.mean() - 0.5) < 5 * (1 / 12 / n) ** 0.5 and abs(u.var() - 1 / 12) < 0.002
    assert abs(z.mean()) < 5 / n ** 0.5 and abs(z.var() - 1) < 0.02 and 0 <= u.min() and u.max() < 1
    k = gw.randint(0, 10, (n,)).numpy()
    assert np.all(np.abs(np.bincount(k, minlength=10) / n - 0.1) < 0.005)


_DRAW = ("import gradwire as gw; gw.manual_seed(1234); "
         "print(gw.randn(4).tolist(), gw.rand(3).tolist(), gw.randint(0, 100, (3,)).tolist())")


def test_the_same_seed_gives_the_same_values_in_sessions_and_processes():
    """Draws are made in the client with NumPy's PCG64: a seed means the same values everywhere."""
    import subprocess
    import sys
    procs = [subprocess.Popen([sys.executable, "-c", _DRAW], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    runs = {p.communicate(timeout=120)[0] for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(runs) == 1
    values = []
    for _ in range(2):
        with gw.connect() as s:
            gw.manual_seed(1234)
            values.append((gw.randn(4).tolist(), gw.rand(3).tolist(), gw.randint(0, 100, (3,)).tolist()))
            del s
    assert values[0] == values[1]
    assert " ".join(str(v) for v in values[0]) + "\n" == runs.pop()


@pytest.mark.parametrize("args", [(5,), (0, 5, 0.5), (0.0, 5), (1, 4), (-3, 3, 2), (5, 0, -1), (0, 1, 0.1),
                                  (1, 2.0000001, 0.1), (0, 0), (3, 1)])
@pytest.mark.parametrize("dtype", [None, "float16", "float64", "int64", "int32", "uint8", "int8", "bool"])
def test_arange_dtypes_and_lengths(args, dtype):
    def program(lib, _):
        kw = {} if dtype is None else {"dtype": getattr(lib, dtype)}
        return lib.arange(*args, **kw)
    same_as_torch(program, np.zeros(1), requires_grad=False)


@pytest.mark.parametrize("args", [(0, 5, 0), (5, 0, 1), (0, 2.5, 0.5, "int64"), (-1, 1, 0.5, "int16"),
                                  (0.5, 3.7, 1.5, "int32"), (0.5, 3.7, 1.5, "int64"), (float("nan"),),
                                  (0, 10000, 1000.5, "float16")])
def test_arange_edges(args):
    def program(lib, _):
        *bounds, dt = args if isinstance(args[-1], str) else (*args, None)
        return lib.arange(*bounds, **({} if dt is None else {"dtype": getattr(lib, dt)}))
    same_as_torch(program, np.zeros(1), requires_grad=False)
    same_as_torch(lambda lib, x: lib.arange(x), np.array(3.5), requires_grad=False)


def test_logspace_linspace_eye_indices():
    def program(lib, _):
        return (lib.logspace(0, 2, 5), lib.logspace(0, 2, 5, base=2), lib.logspace(0, 2, 3, dtype=lib.int64),
                lib.logspace(-1, 1, 4, base=3, dtype=lib.float64), lib.logspace(1, 1, 1), lib.logspace(0, 1, 0),
                lib.linspace(0, 10, 5, dtype=lib.int64), lib.linspace(0, 1, 5, dtype=lib.float16),
                lib.tril_indices(3, 4), lib.triu_indices(3, 4, 1), lib.tril_indices(3, 4, -1, dtype=lib.int32),
                lib.tril_indices(0, 4), lib.triu_indices(4, 2, -5), lib.eye(2, dtype=lib.bool),
                lib.full((2,), True), lib.full((2,), 2), lib.full((2,), 2.5), lib.zeros(2, dtype=int),
                lib.zeros(2, dtype=float), lib.ones(2, dtype=bool))
    same_as_torch(program, np.zeros(1), requires_grad=False)
    for bad in [lambda lib: lib.tril_indices(-1, 4), lambda lib: lib.triu_indices(3, 3, dtype=lib.float32),
                lambda lib: lib.eye(-1), lambda lib: lib.linspace(0, 1, -1), lambda lib: lib.logspace(0, 1, -1),
                lambda lib: lib.arange(1, 4, dtype=lib.bool)]:
        same_as_torch(lambda lib, _: bad(lib), np.zeros(1), requires_grad=False)


# -- random draws and generators ------------------------------------------------------------------
def test_random_dtypes_shapes_and_grad_fns():
    def program(lib, m):
        g = lib.Generator().manual_seed(0)
        shapes = (lib.rand(2, 3).shape, lib.randn((2, 3)).shape, lib.rand(size=(4,)).shape,
                  lib.randint(3, 9, (2,)).shape, lib.randperm(5).shape, lib.normal(0.0, 1.0, (2, 3)).shape,
                  lib.normal(lib.zeros(2, 1), lib.ones(3)).shape, lib.multinomial(lib.ones(2, 3), 2).shape)
        kinds = (lib.rand(2, dtype=lib.float16).dtype, lib.randn(2, dtype=lib.float64).dtype,
                 lib.randint(5, (2,)).dtype, lib.randint(5, (2,), dtype=lib.uint8).dtype, lib.randperm(3).dtype,
                 lib.randperm(3, dtype=lib.float32).dtype, lib.normal(0.0, 1.0, (2,), dtype=lib.float64).dtype,
                 lib.bernoulli(lib.full((3,), 0.5, dtype=lib.float64)).dtype, lib.multinomial(m, 1).dtype,
                 lib.rand_like(m).dtype, lib.randint_like(m, 4).dtype, lib.rand(1, generator=g).shape)
        fns = (lib.normal(m, 1.0).grad_fn, lib.normal(0.0, m.exp()).grad_fn, lib.normal(m, m.exp()).grad_fn,
               lib.bernoulli(m.sigmoid()).grad_fn, (m * 1).uniform_().grad_fn, (m * 1).normal_().grad_fn,
               (m * 1).random_().grad_fn, (m * 1).random_(4).grad_fn, (m * 1).random_(1, 4).grad_fn,
               (m * 1).bernoulli_().grad_fn, (m * 1).bernoulli_(m.sigmoid()).grad_fn,
               (m * 1).exponential_().grad_fn)
        grads = lib.autograd.grad(lib.normal(m, m.exp()).sum() + (m * 1).uniform_().sum(), m) \
            if lib is torch else gw.grad(lib.normal(m, m.exp()).sum() + (m * 1).uniform_().sum(), m)
        return str(shapes), str(kinds), str([type(f).__name__ for f in fns]), grads
    same_as_torch(program, np.array([0.2, 0.5, 0.3], np.float32))


def test_random_errors_match_torch():
    cases = [lambda lib: lib.normal(lib.zeros(2), -1.0), lambda lib: lib.normal(0.0, -1.0, (2,)),
             lambda lib: lib.normal(lib.zeros(2, dtype=lib.int64), 1.0),
             lambda lib: lib.bernoulli(lib.full((3,), 1.5)), lambda lib: lib.bernoulli(lib.ones(3, dtype=lib.int64)),
             lambda lib: lib.multinomial(lib.tensor([0.1, 0.5, 0.4]), 4),
             lambda lib: lib.multinomial(lib.tensor([0.0, 0.0]), 1),
             lambda lib: lib.multinomial(lib.tensor([-1.0, 1.0]), 1),
             lambda lib: lib.multinomial(lib.tensor([1, 2]), 1), lambda lib: lib.multinomial(lib.tensor(1.0), 1),
             lambda lib: lib.multinomial(lib.tensor([1.0, 2.0]), 0), lambda lib: lib.randperm(-1),
             lambda lib: lib.randperm(300, dtype=lib.uint8),
             lambda lib: lib.ones(3, dtype=lib.int64).uniform_(), lambda lib: lib.ones(3, dtype=lib.int64).normal_(),
             lambda lib: lib.ones(3, dtype=lib.int64).exponential_(), lambda lib: lib.ones(3).uniform_(2, 1),
             lambda lib: lib.ones(3).normal_(0, -1), lambda lib: lib.ones(3).exponential_(-1),
             lambda lib: lib.ones(3).exponential_(0), lambda lib: lib.ones(3).bernoulli_(1.5),
             lambda lib: lib.ones(3, requires_grad=True).uniform_(), lambda lib: lib.manual_seed(2**64),
             lambda lib: lib.set_rng_state(lib.zeros(3)), lambda lib: lib.ones(3).random_(5, 2)]
    for bad in cases:
        same_as_torch(lambda lib, _: bad(lib), np.zeros(1), requires_grad=False)


def test_generators_streams_and_state():
    g1, g2 = gw.Generator().manual_seed(7), gw.Generator().manual_seed(7)
    assert gw.rand(5, generator=g1).tolist() == gw.rand(5, generator=g2).tolist()
    assert gw.Generator().initial_seed() == torch.Generator().initial_seed() and g1.device == gw.device("cpu")
    assert gw.manual_seed(-1).initial_seed() == torch.manual_seed(-1).initial_seed()
    gw.manual_seed(3)
    assert gw.initial_seed() == 3 and isinstance(gw.seed(), int) and gw.initial_seed() != 3
    state = gw.get_rng_state()
    assert state.dtype == gw.uint8 and state.ndim == 1
    first = (gw.randn(4).tolist(), gw.randint(0, 99, (3,)).tolist(), gw.randperm(6).tolist())
    gw.set_rng_state(state)
    assert (gw.randn(4).tolist(), gw.randint(0, 99, (3,)).tolist(), gw.randperm(6).tolist()) == first
    g = gw.Generator().manual_seed(1)
    saved = g.get_state()
    a = gw.normal(0.0, 1.0, (3,), generator=g).tolist()
    assert gw.normal(0.0, 1.0, (3,), generator=g.set_state(saved)).tolist() == a
    with pytest.raises(TypeError, match="Generator"):
        gw.rand(2, generator=3)


def test_more_distributions():
    n = 100_000
    x = gw.normal(2.0, 3.0, (n,)).numpy()
    assert abs(x.mean() - 2) < 5 * 3 / n ** 0.5 and abs(x.std() - 3) < 0.05
    m = gw.normal(gw.full((n,), -1.0), gw.full((n,), 0.5)).numpy()
    assert abs(m.mean() + 1) < 0.01 and abs(m.std() - 0.5) < 0.01
    b = gw.bernoulli(gw.full((n,), 0.3)).numpy()
    assert abs(b.mean() - 0.3) < 5 * (0.21 / n) ** 0.5 and set(np.unique(b)) <= {0.0, 1.0}
    e = gw.empty(n).exponential_(2.0).numpy()
    assert abs(e.mean() - 0.5) < 0.01 and e.min() >= 0
    u = gw.empty(n, dtype=gw.float16).uniform_().numpy()
    assert u.max() < 1 and abs(u.astype(np.float64).mean() - 0.5) < 0.01
    w = np.array([0.1, 0.0, 0.6, 0.3])
    k = gw.multinomial(gw.tensor(w), n, replacement=True).numpy()
    assert np.all(np.abs(np.bincount(k, minlength=4) / n - w) < 0.01)
    firsts = gw.multinomial(gw.tensor(w).expand(20000, 4).contiguous(), 4).numpy()
    assert np.all(firsts[:, -1] == 1)                              # the zero weight always last
    assert np.all(np.abs(np.bincount(firsts[:, 0], minlength=4) / 20000 - w) < 0.02)
    r = gw.empty(n, dtype=gw.int8).random_().numpy()
    assert r.min() >= 0 and r.max() == 127
    p = gw.randperm(1000).numpy()
    assert sorted(p.tolist()) == list(range(1000))


# -- the factories that were there, checked again -----------------------------------------------------
_FACTORY_CASES = [
    lambda lib: lib.tensor([1, 2], dtype=float),
    lambda lib: lib.tensor([1.5], dtype=int),
    lambda lib: lib.tensor(3),
    lambda lib: lib.tensor([True, False]),
    lambda lib: lib.tensor([1, 2.5]),
    lambda lib: lib.tensor([[1, 2], [3, 4]], dtype=lib.uint8),
    lambda lib: lib.tensor([300], dtype=lib.uint8),
    lambda lib: lib.tensor([-1], dtype=lib.uint8),
    lambda lib: lib.tensor([1e6], dtype=lib.float16),
    lambda lib: lib.tensor([]),
    lambda lib: lib.tensor([[]]),
    lambda lib: lib.full((2,), 1, dtype=lib.uint8),
    lambda lib: lib.full((2, 2), 1.5, dtype=lib.int8),
    lambda lib: lib.full([], 2.0),
    lambda lib: lib.full(3, 1.0),
    lambda lib: lib.zeros(()),
    lambda lib: lib.zeros([]),
    lambda lib: lib.ones(0, 3, dtype=lib.int16),
    lambda lib: lib.zeros(size=(2, 3)),
    lambda lib: lib.ones((2,), dtype=lib.float16),
    lambda lib: lib.zeros_like(lib.ones(2, dtype=lib.int8)),
    lambda lib: lib.full_like(lib.ones(2, dtype=lib.int8), 3.7),
    lambda lib: lib.ones_like(lib.ones(2), dtype=lib.bool),
    lambda lib: lib.zeros_like(lib.ones(2), requires_grad=True),
    lambda lib: lib.linspace(0, 1, 1),
    lambda lib: lib.linspace(0, 1, 0),
    lambda lib: lib.linspace(-1, 1, 4, dtype=lib.int8),
    lambda lib: lib.linspace(0, 1, 3, dtype=lib.float64),
    lambda lib: lib.eye(3, 2, dtype=lib.int16),
    lambda lib: lib.eye(0),
    lambda lib: lib.linspace(0, 1, 3, dtype=lib.bool),
    lambda lib: lib.full((2,), True, dtype=lib.float32),
    lambda lib: lib.from_numpy(np.array([1, 2], np.int8)),
    lambda lib: lib.tensor([1, 2], dtype=lib.float16, requires_grad=True),
    lambda lib: lib.tensor([1, 2], requires_grad=True),
    lambda lib: lib.zeros(2, 3, dtype=lib.int64, requires_grad=True),
    lambda lib: lib.full((2,), 2, dtype=lib.int32).float(),
    lambda lib: lib.tensor(2.5).half(),
    lambda lib: lib.tensor([1.7, -1.7, 300.5]).to(lib.uint8),
    lambda lib: lib.tensor([1.7, -1.7, 200.5]).char(),
    lambda lib: lib.tensor([70000.0]).half(),
    lambda lib: lib.tensor([40000]).short(),
]


@pytest.mark.parametrize("case", range(len(_FACTORY_CASES)))
def test_factories_match_torch(case):
    same_as_torch(lambda lib, _: _FACTORY_CASES[case](lib), np.zeros(1), requires_grad=False)


def test_numpy_dtypes_without_a_gradwire_dtype_are_refused():
    with pytest.raises(TypeError, match="uint16"):
        gw.tensor(np.array([1, 2], np.uint16))


# -- module-level conveniences: is_tensor, as_tensor, numel, get_default_dtype, type_as, sizes in bytes --------------
_CONVENIENCES = [
    lambda lib: lib.as_tensor([1, 2.5]),
    lambda lib: lib.as_tensor(np.arange(3, dtype=np.int16)),
    lambda lib: lib.as_tensor(np.float64(2.5)),
    lambda lib: lib.as_tensor([[1, 2], [3, 4]], dtype=lib.float64),
    lambda lib: lib.as_tensor(lib.tensor([1.5, 2.5], requires_grad=True) * 2, dtype=lib.float64),
    lambda lib: lib.as_tensor(lib.tensor([1.0, 2.0], requires_grad=True) * 2),
    lambda lib: lib.as_tensor(np.array([1.5]), dtype=lib.int32),
    lambda lib: lib.tensor([1, 2], dtype=lib.int16).type_as(lib.ones(1)),
    lambda lib: lib.tensor([1.5, 2.5], requires_grad=True).type_as(lib.ones(1, dtype=lib.float64)),
    lambda lib: lib.ones(2).type_as(5),
    lambda lib: lib.numel(lib.ones(2, 3, 4)),
    lambda lib: lib.numel([1, 2]),
    lambda lib: lib.ones(2, 3, dtype=lib.float16).nbytes,
    lambda lib: lib.ones(2, 3)[:, :1].nbytes,
    lambda lib: lib.ones(2, 3).expand(4, 2, 3).nbytes,
    lambda lib: lib.ones(3, dtype=lib.int64).itemsize,
    lambda lib: lib.ones(3, dtype=lib.bool).element_size(),
    lambda lib: (lib.is_tensor(lib.ones(1)), lib.is_tensor(lib.nn.Parameter(lib.ones(1))), lib.is_tensor([1])),
    lambda lib: lib.is_floating_point(lib.ones(1, dtype=lib.float16)),
    lambda lib: lib.tensor(1.0).size(0),
]


@pytest.mark.parametrize("case", range(len(_CONVENIENCES)))
def test_conveniences_match_torch(case):
    same_as_torch(lambda lib, _: _CONVENIENCES[case](lib), np.zeros(1), requires_grad=False)


def test_as_tensor_keeps_a_tensor_that_fits():
    for lib in (gw, torch):
        x = lib.ones(2)
        assert lib.as_tensor(x) is x and lib.as_tensor(x, dtype=lib.float32) is x
        assert x.type_as(lib.zeros(1)) is x and lib.as_tensor(x, dtype=lib.float64) is not x
    assert repr(gw.get_default_dtype()) == repr(torch.get_default_dtype()) == "torch.float32"


def test_lists_holding_numpy_scalars_infer_torchs_dtype():
    """Python floats give the default float type, but a NumPy float64 anywhere in the data makes the tensor
    float64, as in PyTorch (each element's own type promotes with the others')."""
    import torch

    import gradwire as gw
    cases = ([np.float64(1.0)], [np.float64(1.0), 2.0], [[np.float64(1)], [2.0]], [np.float64(1), np.float32(2)],
             [(np.float64(1), 2.0)], [[1.0, 2.0], [3.0, np.float64(4)]], [np.array([1.0]), [2.0]], [1.0, 2.0],
             [1.0, np.float32(2)], [np.int64(3), 1.5], [np.int16(2), 3], [np.float16(1), 2.0], [np.uint8(3)],
             np.float64(1.0), np.int32(5))
    assert [str(gw.tensor(c).dtype) for c in cases] == [str(torch.tensor(c).dtype) for c in cases]
