"""The Tensor API and its errors, side by side with PyTorch on identical code."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gradwire as gw
from client_fixtures import counter, session  # noqa: F401
from torch_diff import same_as_torch

pytestmark = pytest.mark.usefixtures("session")


def _same(ours, theirs):
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, gw.Tensor)
        assert repr(ours) == repr(theirs), (repr(ours), repr(theirs))
        assert tuple(ours.shape) == tuple(theirs.shape)
        assert str(ours.dtype) == str(theirs.dtype)
    else:
        assert ours == theirs


def _error(fn):
    try:
        fn()
    except Exception as e:     # noqa: BLE001 — the point is to compare what each raises
        return type(e), str(e)
    return None


def _same_error(code):
    """Run the same snippet with lib=gw and lib=torch; both must raise alike."""
    ours = _error(lambda: code(gw))
    theirs = _error(lambda: code(torch))
    assert theirs is not None and ours is not None, (ours, theirs)
    assert issubclass(ours[0], theirs[0]) and ours[1] == theirs[1], (ours, theirs)


# -- factories ---------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda l: l.arange(4.0), lambda l: l.arange(4), lambda l: l.arange(1, 10, 3),
    lambda l: l.arange(0.5, 3.0, 0.5), lambda l: l.arange(4, dtype=l.float64),
    lambda l: l.zeros(2, 3), lambda l: l.zeros((2, 3)), lambda l: l.ones(3, dtype=l.int64),
    lambda l: l.ones(size=(2,)), lambda l: l.full((2, 2), 7), lambda l: l.full((2,), 1.5),
    lambda l: l.full((2,), True), lambda l: l.eye(3), lambda l: l.eye(2, 3),
    lambda l: l.linspace(-1, 1, 5), lambda l: l.linspace(0, 1, 7, dtype=l.float64),
    lambda l: l.tensor([1, 2, 3]), lambda l: l.tensor([1.0, 2]), lambda l: l.tensor([[True]]),
    lambda l: l.tensor(3.5), lambda l: l.tensor(2), lambda l: l.tensor([1, 2], dtype=l.float32),
    lambda l: l.zeros_like(l.ones(2, 3)), lambda l: l.ones_like(l.arange(3)),
    lambda l: l.ones_like(l.arange(3.0) * 2), lambda l: l.zeros(2, requires_grad=True),
])
def test_factories_match_torch(make):
    _same(make(gw), make(torch))


def test_linspace_200_points_match_torch():
    ours = gw.linspace(-2 * gw.pi, 2 * gw.pi, 200).numpy()
    theirs = torch.linspace(-2 * torch.pi, 2 * torch.pi, 200).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


def test_random_factories_and_seed():
    gw.manual_seed(3)
    a = gw.randn(2, 3).numpy()
    gw.manual_seed(3)
    assert np.array_equal(a, gw.randn(2, 3).numpy())
    r = gw.rand(1000).numpy()
    assert r.dtype == np.float32 and 0 <= r.min() and r.max() < 1
    assert gw.randn(size=()).shape == () and gw.randn(4, dtype=gw.float64).dtype == gw.float64


# -- dtypes with Python scalars ------------------------------------------------------------------
@pytest.mark.parametrize("expr", [
    lambda l: 2 * l.arange(4.0), lambda l: l.arange(4.0, dtype=l.float64) * 2.5,
    lambda l: l.arange(4) * 2, lambda l: l.arange(4) * 2.5, lambda l: l.arange(4) / 2,
    lambda l: 1 - l.arange(4.0), lambda l: 2 / (l.arange(4.0) + 1), lambda l: l.arange(4.0) ** 2,
    lambda l: 2 ** l.arange(4.0), lambda l: l.arange(3.0) + l.arange(3),
    lambda l: l.arange(3.0, dtype=l.float64) + l.arange(3.0), lambda l: l.arange(4.0) > 1.5,
    lambda l: l.tensor([True, False]) + 1, lambda l: -l.arange(3.0),
    lambda l: l.arange(4.0) == l.arange(4), lambda l: (l.arange(4.0) * 0.1),
])
def test_scalars_take_the_tensor_dtype(expr):
    _same(expr(gw), expr(torch))


def test_numpy_arrays_on_either_side():
    arr = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    # torch refuses `ndarray * Tensor`; gradwire accepts it, so compare with from_numpy there.
    for ours, theirs in ((lambda x: x + arr, lambda x: x + torch.from_numpy(arr)),
                         (lambda x: arr * x, lambda x: torch.from_numpy(arr) * x),
                         (lambda x: arr - x, lambda x: torch.from_numpy(arr) - x),
                         (lambda x: x @ arr, lambda x: x @ torch.from_numpy(arr))):
        _same(ours(gw.arange(3.0)), theirs(torch.arange(3.0)))


# -- tensor methods -----------------------------------------------------------------------------
M = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 5 - 2


@pytest.mark.parametrize("expr", [
    lambda l, x: x.sum(), lambda l, x: x.sum(1), lambda l, x: x.sum(dim=(0, 2), keepdim=True),
    lambda l, x: x.mean(), lambda l, x: x.mean(-1), lambda l, x: x.norm(),
    lambda l, x: x.reshape(6, 4), lambda l, x: x.reshape(-1), lambda l, x: x[0, 1:, ::2],
    lambda l, x: x[:, 1], lambda l, x: x[-1], lambda l, x: x[None, 0], lambda l, x: x[..., 1],
    lambda l, x: x[:, [2, 0]], lambda l, x: x[l.tensor([1, 0])], lambda l, x: x[1, :, -2:],
    lambda l, x: x[0].T, lambda l, x: x[0] @ x[1].T, lambda l, x: l.matmul(x, x[0].T),
    lambda l, x: l.dot(x[0, 0], x[1, 1]), lambda l, x: l.exp(x), lambda l, x: l.tanh(x),
    lambda l, x: l.sigmoid(x), lambda l, x: l.relu(x), lambda l, x: l.abs(x),
    lambda l, x: l.sqrt(l.abs(x)), lambda l, x: l.log(l.abs(x) + 1), lambda l, x: l.sin(x),
    lambda l, x: l.cos(x), lambda l, x: l.tan(x * 0.3), lambda l, x: l.clamp(x, -1, 1),
    lambda l, x: l.clamp(x, min=0), lambda l, x: l.maximum(x, -x), lambda l, x: l.minimum(x, 0 * x),
    lambda l, x: l.where(x > 0, x, -2 * x), lambda l, x: l.softmax(x, -1),
    lambda l, x: l.log_softmax(x, 1), lambda l, x: l.logsumexp(x, 2),
    lambda l, x: l.cat([x, x], 1), lambda l, x: l.stack([x, x]), lambda l, x: (x > 0).all(),
    lambda l, x: (x > 0).any(), lambda l, x: x.max(), lambda l, x: x.min(),
    lambda l, x: x.unsqueeze(0).squeeze(0), lambda l, x: x.permute(2, 0, 1),
    lambda l, x: x.transpose(0, 2), lambda l, x: x.double(), lambda l, x: x.long(),
    lambda l, x: l.sum(x, 0), lambda l, x: l.mean(x), lambda l, x: l.norm(x),
])
def test_methods_match_torch(expr):
    _same(expr(gw, gw.tensor(M)), expr(torch, torch.tensor(M)))


@pytest.mark.parametrize("expr", [
    lambda l, x: 2 * l.dot(x, x), lambda l, x: x.sum(), lambda l, x: x.sum(0),
    lambda l, x: x.mean(), lambda l, x: x / 2, lambda l, x: x - 2, lambda l, x: 2 - x,
    lambda l, x: x + 1, lambda l, x: -x, lambda l, x: x ** 2, lambda l, x: x.exp(),
    lambda l, x: x.norm(), lambda l, x: x.reshape(2, 2), lambda l, x: x[1:3], lambda l, x: x[1],
    lambda l, x: x[None], lambda l, x: l.cat([x, x]), lambda l, x: l.stack([x, x]),
    lambda l, x: x @ x, lambda l, x: x.reshape(2, 2) @ x.reshape(2, 2),
    lambda l, x: x.reshape(2, 2) @ x[:2], lambda l, x: l.where(x > 1, x, x * 0),
    lambda l, x: l.softmax(x, 0), lambda l, x: l.clamp(x, 0, 1), lambda l, x: x * x,
    lambda l, x: l.maximum(x, x * 0 + 1), lambda l, x: x.sigmoid(), lambda l, x: x.detach() * x,
])
def test_grad_fn_names_match_torch(expr):
    x = gw.tensor([0.5, 1.0, 2.0, 3.0], requires_grad=True)
    tx = torch.tensor([0.5, 1.0, 2.0, 3.0], requires_grad=True)
    ours, theirs = expr(gw, x), expr(torch, tx)
    assert ours.grad_fn.name() == theirs.grad_fn.name()
    assert type(ours.grad_fn).__name__ == type(theirs.grad_fn).__name__
    assert repr(ours) == repr(theirs)


def test_tensor_protocol():
    for lib in (gw, torch):
        x = lib.arange(6.0).reshape(2, 3)
        assert len(x) == 2 and x.ndim == 2 and x.shape == (2, 3) and x.shape[1] == 3
        assert x.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
        assert x.sum().item() == 15.0 and isinstance(x.sum().item(), float)
        assert isinstance(lib.arange(3).sum().item(), int)
        assert bool(x.sum() > 3) and not bool(x.sum() < 3)
        assert float(x[1, 2]) == 5.0 and int(x[1, 2]) == 5
        assert np.array_equal(np.asarray(x), np.arange(6.0).reshape(2, 3))
        assert [row.tolist() for row in x] == x.tolist()
        assert x.numel() == 6 and x.size() == (2, 3) and x.size(0) == 2
        assert (x == x).all() and not (x > 10).any()
        assert f"{x.sum():.1f}" == "15.0"
    assert repr(gw.arange(3.0).shape) == "torch.Size([3])" == repr(torch.arange(3.0).shape)
    assert isinstance(gw.arange(3).shape, tuple)


def test_autograd_flags_match_torch():
    for lib in (gw, torch):
        x = lib.arange(3.0, requires_grad=True)
        y = x * 2
        assert x.is_leaf and not y.is_leaf and y.requires_grad and x.grad_fn is None
        assert y.grad_fn is not None
        d = y.detach()
        assert d.is_leaf and not d.requires_grad and d.grad_fn is None
        with lib.no_grad():
            z = x * 2
        assert not z.requires_grad and z.grad_fn is None and z.is_leaf
        assert not (x > 1).requires_grad and (x > 1).grad_fn is None
        w = lib.ones(3)
        assert w.requires_grad_() is w and w.requires_grad and w.is_leaf


def test_grad_accumulates_and_create_graph_is_differentiable():
    x = gw.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [4.0, 8.0]
    x.grad = None
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.tolist() == [3.0, 12.0]
    g = x.grad
    x.grad = None
    g.sum().backward()
    assert x.grad.tolist() == [6.0, 12.0]


def test_backward_through_a_leaf_and_with_a_tensor_gradient():
    x = gw.arange(3.0, requires_grad=True)
    x.backward(gw.tensor([1.0, 2.0, 3.0]))
    assert x.grad.tolist() == [1.0, 2.0, 3.0]
    y = x * 3
    y.backward(y.detach())   # a pending tensor as the seed
    assert x.grad.tolist() == [1.0, 11.0, 21.0]


def test_grad_function_matches_torch():
    def run(lib):
        x = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        z = lib.tensor(3.0, requires_grad=True)
        y = (x.exp() * z).sum()
        gx, gz = (lib.grad if lib is gw else torch.autograd.grad)(y, [x, z], retain_graph=True)
        (gx2,) = (lib.grad if lib is gw else torch.autograd.grad)(
            (x * x).sum(), x, create_graph=True)
        (hx,) = (lib.grad if lib is gw else torch.autograd.grad)(gx2.sum(), x)
        return [repr(gx), repr(gz), repr(gx2), repr(hx), x.grad]
    assert run(gw) == run(torch)


def test_functional_vjp_jvp_jacobian_hessian_match_torch():
    from torch.autograd import functional as F
    data = np.array([0.3, -1.2, 2.0])

    def f(lib):
        return lambda x: lib.tanh(x) * x.sum()

    x, tx = gw.tensor(data, dtype=gw.float64), torch.tensor(data, dtype=torch.float64)
    v = np.array([1.0, 0.5, -2.0])
    out, g = gw.vjp(f(gw), x, gw.tensor(v, dtype=gw.float64))
    tout, tg = F.vjp(f(torch), tx, torch.tensor(v))
    np.testing.assert_allclose(out.numpy(), tout.numpy())
    np.testing.assert_allclose(g.numpy(), tg.numpy())
    out, jv = gw.jvp(f(gw), x, gw.tensor(v, dtype=gw.float64))
    np.testing.assert_allclose(jv.numpy(), F.jvp(f(torch), tx, torch.tensor(v))[1].numpy())
    np.testing.assert_allclose(gw.jacobian(f(gw), x).numpy(), F.jacobian(f(torch), tx).numpy())
    s = lambda lib: (lambda x: (lib.sin(x) * x).sum())  # noqa: E731
    np.testing.assert_allclose(gw.hessian(s(gw), x).numpy(), F.hessian(s(torch), tx).numpy(),
                               atol=1e-12)
    two = gw.jacobian(lambda a, b: a * b.sum(), (x, x * 2))
    ttwo = F.jacobian(lambda a, b: a * b.sum(), (tx, tx * 2))
    for a, b in zip(two, ttwo):
        np.testing.assert_allclose(a.numpy(), b.numpy())


# -- errors, worded as PyTorch words them ----------------------------------------------------------
@pytest.mark.parametrize("code", [
    lambda l: (l.arange(4.0, requires_grad=True) * 2).backward(),
    lambda l: l.arange(3.0).sum().backward(),
    lambda l: l.arange(3).requires_grad_(),
    lambda l: l.arange(3, requires_grad=True),
    lambda l: l.tensor([1, 2], requires_grad=True),
    lambda l: (l.arange(4.0, requires_grad=True) * 2).backward(l.ones(3)),
    lambda l: (l.arange(4.0, requires_grad=True) * 2).backward(l.ones(2, 2)),
    lambda l: l.arange(4.0).item(),
    lambda l: bool(l.arange(4.0)),
    lambda l: l.arange(4.0, requires_grad=True).numpy(),
    lambda l: l.arange(4.0)[5],
    lambda l: (l.arange(4.0, requires_grad=True) * 2).requires_grad_(False),
    lambda l: len(l.tensor(1.0)),
    lambda l: (l.grad if l is gw else torch.autograd.grad)(
        l.arange(3.0, requires_grad=True).sum(), l.ones(2)),
    lambda l: l.arange(4.0)[::-1],
])
def test_errors_match_torch(code):
    _same_error(code)


def test_second_backward_and_unused_input_errors_match_torch():
    def second(lib):
        x = lib.arange(4.0, requires_grad=True)
        y = (x.exp() * 2).sum()
        y.backward()
        y.backward()
    _same_error(second)

    def unused(lib):
        x = lib.arange(4.0, requires_grad=True)
        z = lib.tensor(1.0, requires_grad=True)
        (lib.grad if lib is gw else torch.autograd.grad)((x * x).sum(), [x, z])
    _same_error(unused)

    def unused_first(lib):
        x = lib.arange(4.0, requires_grad=True)
        z = lib.tensor(1.0, requires_grad=True)
        (lib.grad if lib is gw else torch.autograd.grad)((x * x).sum(), [z, x])
    _same_error(unused_first)
    x = gw.arange(4.0, requires_grad=True)
    z = gw.tensor(1.0, requires_grad=True)
    gx, gz = gw.grad((x * x).sum(), [x, z], allow_unused=True)
    assert gz is None and gx.tolist() == [0.0, 2.0, 4.0, 6.0]


def test_backward_twice_through_ops_that_save_nothing_is_allowed_as_in_torch():
    for lib in (gw, torch):
        x = lib.arange(3.0, requires_grad=True)
        y = (x + 1).sum()
        y.backward()
        y.backward()
        assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_implicit_gradient_of_a_pending_non_scalar_is_refused():
    x = gw.arange(4.0, requires_grad=True)
    y = (x * 2).reshape(2, 2)                      # shape unknown to the client until computed
    with pytest.raises(RuntimeError, match="^grad can be implicitly created only for scalar outputs$"):
        y.backward()
    with pytest.raises(RuntimeError, match=r"^Mismatch in shape: grad_output\[0\] has a shape of "
                                           r"torch.Size\(\[4\]\) and output\[0\] has a shape of "
                                           r"torch.Size\(\[2, 2\]\).$"):
        (x * 3).reshape(2, 2).backward(gw.ones(4))


def test_server_errors_carry_status_codes():
    import grpc
    index = gw.tensor([0, 1]) * 4              # pending: only the server sees that 4 is out of range
    with pytest.raises(gw.InvalidArgument) as info:
        gw.arange(4.0)[index].sum().item()
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert isinstance(info.value, gw.GradwireError) and isinstance(info.value, RuntimeError)
    assert info.value.message and str(info.value) == info.value.message


def test_tensors_of_different_sessions_do_not_mix(server_target):
    with gw.connect(server_target) as other:
        a = other.arange(3.0)
        assert a.tolist() == [0.0, 1.0, 2.0]
        with pytest.raises(RuntimeError, match="same gradwire session"):
            a + gw.arange(3.0)
        assert other.sin(a).tolist() == gw.sin(gw.arange(3.0)).tolist()
        assert other.tensor([1.0])._node.session is other


def test_zero_does_not_change_lazy_results_already_taken():
    x = gw.arange(3.0, requires_grad=True)
    (x * x).sum().backward()
    pending = x.grad * 1                         # recorded before zero_, computed after
    x.grad.zero_()
    assert pending.tolist() == [0.0, 2.0, 4.0] and x.grad.tolist() == [0.0, 0.0, 0.0]


# -- in-place updates ----------------------------------------------------------------------------
def _sgd(lib, steps=5):
    """A few steps of the usual loop: forward, backward, `w -= lr * w.grad` under no_grad, zero_."""
    X = lib.tensor(np.linspace(-1, 1, 24).reshape(8, 3), dtype=lib.float64)
    y = lib.tensor(np.arange(8.0).reshape(8, 1) / 8, dtype=lib.float64)
    w = lib.zeros(3, 1, dtype=lib.float64, requires_grad=True)
    b = lib.zeros(1, dtype=lib.float64, requires_grad=True)
    losses = []
    for _ in range(steps):
        loss = ((X @ w + b - y) ** 2).mean()
        loss.backward()
        with lib.no_grad():
            w -= 0.5 * w.grad
            b.sub_(b.grad, alpha=0.5)
        w.grad.zero_()
        b.grad.zero_()
        losses.append(loss.item())
    return losses, w, b


def test_optimizer_step_in_place_matches_torch():
    ours, theirs = _sgd(gw), _sgd(torch)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-9, atol=1e-15)
    _same(ours[1], theirs[1])   # same values, still a leaf requiring grad (repr shows requires_grad=True)
    _same(ours[2], theirs[2])
    assert ours[1].is_leaf and ours[1].requires_grad and ours[1].grad is not None


def test_in_place_on_a_leaf_that_requires_grad_is_refused_like_torch():
    _same_error(lambda l: l.ones(2, requires_grad=True).add_(1))
    _same_error(lambda l: l.ones(2, requires_grad=True).copy_(l.zeros(2)))

    def iadd(l):
        w = l.ones(2, requires_grad=True)
        w += 1
    _same_error(iadd)


def test_in_place_on_an_interior_tensor_keeps_history():
    for lib in (gw, torch):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        y += 1
        y *= x
        y.sum().backward()
        np.testing.assert_allclose(np.asarray(x.grad.tolist()), [5.0, 9.0, 13.0])  # d/dx (2x+1)x = 4x+1


def test_data_and_copy_replace_values():
    for lib in (gw, torch):
        w = lib.ones(3, requires_grad=True)
        w.data = lib.tensor([1.0, float("nan"), 3.0])
        assert w.requires_grad and w.is_leaf
        with lib.no_grad():
            w.copy_(lib.tensor([4.0, 5.0, 6.0]))   # NaN before is no obstacle to a copy
        assert w.tolist() == [4.0, 5.0, 6.0]
        assert w.data.requires_grad is False


# -- advanced indexing ---------------------------------------------------------------------------
@pytest.mark.parametrize("key", [
    ([0, 1, 2], [1, 2, 3]), ([0, 2], slice(None), [1, 4]), (slice(1, 3), [0, 3], [2, 4]),
    ([[0], [2]], [1, 3]), (1, [0, 3], [2, 4]), ([0, -1], 2), ([0, 1], [1, 2], [3, 4]),
    (slice(None), [0, 1], 2), ([2, 0], slice(None, None, 2), -1), ([1, 2], [[0], [3]], slice(1, 4)),
])
def test_integer_array_indexing_matches_torch(key):
    """Several integer arrays select pointwise (not as an outer product), with gradients."""
    x0 = np.random.default_rng(0).standard_normal((3, 4, 5))
    xg, xt = gw.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    yg, yt = xg[key], xt[tuple(torch.tensor(k) if isinstance(k, list) else k for k in key)]
    _same(yg, yt)
    w = np.random.default_rng(1).standard_normal(tuple(yt.shape))
    (yg * gw.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy())


def test_integer_array_index_errors_match_torch():
    _same_error(lambda l: l.zeros(3, 4)[l.tensor([0, 1]), l.tensor([0, 1, 2])])
    _same_error(lambda l: l.zeros(3, 4)[l.tensor([0, 3]), l.tensor([0, 1])])


@pytest.mark.parametrize("expr", [
    lambda l, x: x[x > 0.5], lambda l, x: x[l.tensor([True, False, True])],
    lambda l, x: x[:, l.tensor([True, False, True, False])], lambda l, x: x[x.abs() < 1.0] * 2,
])
def test_bool_mask_indexing_matches_torch(expr):
    x0 = np.random.default_rng(2).standard_normal((3, 4))
    xg, xt = gw.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    yg, yt = expr(gw, xg), expr(torch, xt)
    _same(yg, yt)
    (yg * yg).sum().backward()
    (yt * yt).sum().backward()
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy())


@pytest.mark.parametrize("key", [
    lambda l: [True, False], lambda l: l.tensor([True, False]), lambda l: (slice(None), [True] * 5),
    lambda l: (0, [True] * 5), lambda l: (None, [True] * 3), lambda l: (Ellipsis, [True] * 3),
    lambda l: l.ones(3, 5, dtype=l.bool), lambda l: ([True] * 3, [True] * 5), lambda l: (None, 1, [True] * 4),
])
def test_bool_mask_shape_must_match_the_dims_it_covers(key):
    """A mask that does not cover its dims exactly is PyTorch's IndexError (naming the shape after integers
    and None applied), never a selection of its True positions."""
    same_as_torch(lambda lib, x: x[key(lib)], np.random.default_rng(3).standard_normal((3, 4, 5)))


def test_slice_errors_match_torch():
    same_as_torch(lambda lib, x: x[:], np.array(2.0))
    same_as_torch(lambda lib, x: x[(slice(None),)], np.array(2.0))
    same_as_torch(lambda lib, x: x[::0], np.zeros((4, 3)))
    same_as_torch(lambda lib, x: x[1, ::0], np.zeros((4, 3)))
    same_as_torch(lambda lib, x: x[::-1], np.zeros((4, 3)))


# -- reductions with indices, statistics, expand ------------------------------------------------
@pytest.mark.parametrize("expr", [
    lambda l, x: x.max(1), lambda l, x: x.min(0), lambda l, x: x.max(dim=1, keepdim=True),
    lambda l, x: l.max(x, 0), lambda l, x: x.max(), lambda l, x: l.max(x, x * 0.5),
    lambda l, x: x.argmax(), lambda l, x: x.argmin(1), lambda l, x: x.argmax(0, keepdim=True),
    lambda l, x: x.var(), lambda l, x: x.std(1), lambda l, x: x.var(0, unbiased=False),
    lambda l, x: x.std(1, keepdim=True), lambda l, x: x.var(1, correction=0),
    lambda l, x: x[0].expand(2, 3, 4), lambda l, x: x[:, :1].expand(-1, 4), lambda l, x: x.contiguous(),
])
def test_reductions_with_indices_and_statistics_match_torch(expr):
    x0 = np.random.default_rng(3).standard_normal((3, 4))
    xg, xt = gw.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    yg, yt = expr(gw, xg), expr(torch, xt)
    assert repr(yg) == repr(yt)
    first_g, first_t = (yg[0], yt[0]) if isinstance(yt, tuple) else (yg, yt)
    if first_t.requires_grad:
        (first_g * first_g).sum().backward()
        (first_t * first_t).sum().backward()
        np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


def test_retain_grad_fills_a_non_leaf_grad_and_reading_one_otherwise_warns_as_torch():
    import warnings

    def program(lib):
        out = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            x = lib.tensor([1.0, 2.0], requires_grad=True)
            y = x * 2
            z = (y * y).sum()
            out += [y.retains_grad, x.retains_grad]
            y.retain_grad()
            z.retain_grad()
            out.append(y.retains_grad)
            z.backward(retain_graph=True)
            out += [y.grad.tolist(), x.grad.tolist(), z.grad.tolist()]
            z.backward()                                   # retained grads accumulate too
            out += [y.grad.tolist(), x.grad.tolist()]
            try:
                lib.ones(2).retain_grad()
            except RuntimeError as e:
                out.append(str(e))
            x.retain_grad()                                # a leaf: nothing changes
            out.append(x.retains_grad)
            out.append((x * 3).grad)                       # a non-leaf's grad: None, with PyTorch's warning
            # (PyTorch's text ends with where in its C++ it was raised)
            out.append([(c.category.__name__, str(c.message).split(" (Triggered internally")[0]) for c in caught])
        return out
    assert program(gw) == program(torch)


_WARNINGS = """
import json, sys, warnings
lib = __import__(sys.argv[1])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    t = lib.tensor(2.5, requires_grad=True)
    float(t); float(t); int(t)
    lib.ones(()).T; lib.ones(()).T; lib.ones(()).mT; lib.ones(()).mT
    lib.ones(3, 3, 3).T; lib.ones(3).T; lib.ones(2, 2).T
    lib.ones(()).mH; lib.ones(()).H; lib.ones(()).adjoint(); lib.ones(()).adjoint()
    y = t * 2; y.grad; y.grad
print(json.dumps([(c.category.__name__, str(c.message).split(" (Triggered internally")[0], c.filename, c.lineno)
                  for c in caught]))
"""


def test_warnings_come_when_and_as_often_as_torchs(server_target):
    """Some of PyTorch's warnings are once per process (its TORCH_WARN_ONCE), whatever Python's filters say;
    the non-leaf .grad one comes every time. Each library in a fresh process."""
    import json
    import os
    import subprocess
    import sys

    def run(name):
        out = subprocess.run([sys.executable, "-c", _WARNINGS, name], capture_output=True, text=True, timeout=120,
                             env=dict(os.environ, GRADWIRE_TARGET=server_target))
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])
    ours, theirs = run("gradwire"), run("torch")
    assert ours == theirs and len(theirs) == 9


def test_legacy_constructors_and_types_as_torch():
    def program(lib):
        out = []
        for f in (lambda: lib.Tensor([1, 2]), lambda: tuple(lib.Tensor(2, 3).shape), lambda: lib.Tensor(),
                  lambda: lib.FloatTensor([1, 2]), lambda: lib.LongTensor([1, 2]), lambda: lib.BoolTensor([1, 0]),
                  lambda: tuple(lib.Tensor(lib.ones(2).shape).shape), lambda: lib.Tensor((2, 3)),   # a tuple is data
                  lambda: lib.Tensor([[1, 2], [3, 4.5]]), lambda: lib.DoubleTensor(2).dtype,
                  lambda: (isinstance(lib.ones(2), lib.FloatTensor), isinstance(lib.ones(2).double(), lib.FloatTensor),
                           isinstance(lib.ones(2).long(), lib.LongTensor), isinstance(lib.ones(2), lib.Tensor)),
                  lambda: lib.tensor([1, 2]).type(lib.FloatTensor), lambda: lib.ones(2).type(lib.DoubleTensor).type(),
                  lambda: lib.Tensor([1, 2], device="cpu"), lambda: lib.Tensor([1, 2], device="cuda")):
            try:
                r = f()
                out.append(repr(r) if isinstance(r, (lib.Tensor, lib.dtype if hasattr(lib, "dtype") else type(None)))
                           else r)
            except Exception as e:  # noqa: BLE001
                out.append((type(e).__name__, str(e)))
        return out
    assert [str(x) for x in program(gw)] == [str(x) for x in program(torch)]


def test_inference_mode_records_no_history_as_torch():
    def program(lib):
        x = lib.ones(2, requires_grad=True)
        with lib.inference_mode():
            y = x * 2
            inside = (lib.is_inference_mode_enabled(), lib.is_grad_enabled(), y.requires_grad)
        with lib.inference_mode(False):
            z = x * 2

        @lib.inference_mode()
        def f(t):
            return t * 3
        return inside, z.requires_grad, f(x).requires_grad, lib.is_inference_mode_enabled(), lib.is_grad_enabled()
    assert program(gw) == program(torch)


def test_gradients_accumulate_into_zeroed_grads_bit_for_bit_as_torch():
    """A zero_()'d grad takes the next gradient as is, except that +0.0 + -0.0 is +0.0, as in PyTorch."""
    def program(lib):
        x = lib.tensor(np.array([0.0, -1.0, 2.0, 3.0], np.float32), requires_grad=True)
        out = []
        for k in range(3):
            (x * lib.tensor(np.array([-0.0, 1.0, -2.0, 0.5], np.float32)) * (k + 1)).sum().backward()
            out += [x.grad.numpy().tolist(), np.signbit(x.grad.numpy()).tolist()]
            x.grad.zero_()
        (x.sin() * 0).sum().backward()
        out.append(np.signbit(x.grad.numpy()).tolist())
        (x ** 2).sum().backward()
        out.append(x.grad.numpy().tolist())
        x.grad.fill_(1.5)
        (x * 2).sum().backward()
        out.append(x.grad.numpy().tolist())
        return out
    assert program(gw) == program(torch)


def test_variance_without_degrees_of_freedom_warns_at_the_callers_line_as_torch():
    import warnings

    def program(lib):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            x = lib.ones(1)
            values = [repr(t) for t in (x.var(), x.std(), lib.var_mean(x)[0], lib.std_mean(x)[0],
                                        lib.ones(3).var(correction=3), lib.ones(2, 1).var(dim=1), lib.ones(0).var(),
                                        lib.ones(3).var(correction=2), lib.ones(4).var(correction=3.5))]
        # (UserWarnings only: the test server runs in this process, and NumPy's warnings there are its own)
        return values, [(str(c.message).split(" (Triggered internally")[0], c.filename) for c in caught
                        if c.category is UserWarning]
    assert program(gw) == program(torch)


def test_bare_decorators_randint_size_and_device_probes_as_torch():
    """What the PyTorch tutorials write: `@torch.no_grad` without parentheses, randint(high, size=...), and the
    device-selection line over torch.accelerator / torch.backends / torch.cuda."""
    def program(lib):
        x = lib.ones(3, requires_grad=True)

        @lib.no_grad
        def doubled(t):
            return t * 2

        @lib.inference_mode
        def tripled(t):
            return t * 3
        device = (lib.accelerator.current_accelerator().type if lib.accelerator.is_available() else
                  "cuda" if lib.cuda.is_available() else "mps" if lib.backends.mps.is_available() else "cpu")
        lib.set_grad_enabled(False)
        off = (x * 2).requires_grad
        lib.set_grad_enabled(True)
        return [doubled(x).requires_grad, tripled(x).requires_grad, lib.no_grad(lambda t: t * 2)(x).requires_grad,
                tuple(lib.randint(10, size=(3,)).shape), tuple(lib.randint(10, (2,)).shape),
                tuple(lib.randint(2, 10, (4,)).shape), device, lib.accelerator.device_count(),
                lib.backends.mps.is_built(), off, (x * 2).requires_grad]
    assert program(gw) == program(torch)


def test_out_arguments_write_into_the_given_tensor_as_torch():
    """out= on the torch.* functions: written in place (through a view too), resized with PyTorch's warning,
    cast where PyTorch casts, refused where it refuses; the linalg functions took out= and ignored it."""
    import warnings

    from torch_diff import outcomes

    def program(lib):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            a, b = lib.ones(2, 2), lib.ones(2, 2) * 2
            y, z, f, g, h = lib.empty(2, 2), lib.zeros(3), lib.zeros(2, 2), lib.zeros(2), lib.zeros(2, 2, dtype=lib.float64)
            v, i, stack, e, inv = lib.zeros(2), lib.zeros(2, dtype=lib.long), lib.zeros(3, 2, 2), lib.empty(0), lib.zeros(2, 2)
            w = lib.ones(2, 2, requires_grad=True)
            results = outcomes((lambda: lib.matmul(a, b, out=y) is y, lambda: lib.add(a, b, out=z) is z,
                                lambda: lib.mul(a, b, out=lib.zeros(2, 2, dtype=lib.long)),
                                lambda: lib.add(lib.ones(2, 2, dtype=lib.long), 1, out=f), lambda: lib.sum(a, 0, out=g),
                                lambda: lib.mul(w, b, out=lib.empty(2, 2)), lambda: repr(lib.max(b, 1, out=(v, i))),
                                lambda: lib.add(a, b, out=stack[1]), lambda: lib.cat([a, b], out=e),
                                lambda: lib.add(a, b, out=h).dtype, lambda: lib.linalg.inv(lib.eye(2) * 2, out=inv)))
            with lib.no_grad():
                results += outcomes((lambda: lib.mul(w, b, out=lib.empty(2, 2)),))
        shown = [r.tolist() if isinstance(r, lib.Tensor) else str(r) for r in results]
        return shown, [t.tolist() for t in (y, z, f, g, h, v, i, stack, e, inv)], [str(c.message)[:80] for c in caught
                                                                                     if c.category is UserWarning]
    assert program(gw) == program(torch)


def test_autograd_functional_namespace_as_torch():
    """torch.autograd.functional's jacobian, hessian, vjp, jvp, hvp and vhp (one input or a tuple)."""
    def program(lib):
        F = lib.autograd.functional
        x = lib.tensor([0.5, 1.0, 2.0], dtype=lib.float64)
        y = lib.tensor([1.0, -1.0, 0.25], dtype=lib.float64)
        v = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)

        def f(x):
            return (x ** 3 * x.sin()).sum()

        def g(x, y):
            return (x * y.sin() * x).sum()
        results = (F.jacobian(lambda x: x ** 2, x), F.hessian(f, x), F.vjp(lambda x: x ** 2, x, v),
                   F.jvp(lambda x: x ** 2, x, v), F.hvp(f, x, v), F.vhp(f, x, v), F.hvp(g, (x, y), (v, v)),
                   F.vhp(g, (x, y), (v, v)), F.hessian(g, (x, y)), F.hvp(lambda x: x.sum(), x, v))

        def flat(r):
            return [u for t in r for u in flat(t)] if isinstance(r, (tuple, list)) else [r.detach().numpy()]
        return [flat(r) for r in results]
    ours, theirs = program(gw), program(torch)
    assert [len(r) for r in ours] == [len(r) for r in theirs]
    for a, b in zip(ours, theirs):
        for u, w in zip(a, b):
            np.testing.assert_allclose(u, w, rtol=1e-12, atol=1e-14)


def test_conjugate_transposes_of_real_tensors_as_torch():
    from torch_diff import outcomes

    def program(lib):
        return outcomes((lambda: lib.ones(3).H, lambda: lib.ones(2, 2, 2).H, lambda: lib.ones(3).mH,
                         lambda: tuple(lib.ones(2, 3).H.shape), lambda: tuple(lib.ones(4, 2, 3).mH.shape),
                         lambda: lib.ones(2, 3, requires_grad=True).H.grad_fn.name(),
                         lambda: lib.arange(6.0).reshape(2, 3).mH.tolist(), lambda: tuple(lib.ones(()).H.shape)))
    assert program(gw) == program(torch)
