"""Every behaviour the course notes (/work/shared/seeds) show, through gradwire, checked against
the values the notes print and against PyTorch running the identical code."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gradwire as gw
from client_fixtures import counter, session  # noqa: F401

pytestmark = pytest.mark.usefixtures("session")
LIBS = [gw, torch]


def both(fn):
    """Run fn(lib) with gradwire and with torch; return both results (printed strings)."""
    return fn(gw), fn(torch)


@pytest.mark.filterwarnings("ignore:The use of `x.T`")
def test_arange_prints_like_the_notes():
    def run(lib):
        x = lib.arange(4.0)
        return [repr(x), repr(x.shape), repr(x * x), repr(x.T), repr(lib.dot(x, x))]
    ours, theirs = both(run)
    assert ours == ["tensor([0., 1., 2., 3.])", "torch.Size([4])", "tensor([0., 1., 4., 9.])",
                    "tensor([0., 1., 2., 3.])", "tensor(14.)"]
    assert ours == theirs


def test_y_is_two_x_dot_x_and_its_gradient_is_4x():
    def run(lib):
        x = lib.arange(4.0)
        x.requires_grad_(True)
        out = [repr(x), repr(x.grad)]
        y = 2 * lib.dot(x, x)
        out.append(repr(y))
        y.backward()
        out += [repr(x.grad), repr(x.grad == 4 * x)]
        return out
    ours, theirs = both(run)
    assert ours == ["tensor([0., 1., 2., 3.], requires_grad=True)", "None",
                    "tensor(28., grad_fn=<MulBackward0>)", "tensor([ 0.,  4.,  8., 12.])",
                    "tensor([True, True, True, True])"]
    assert ours == theirs


def test_arange_with_requires_grad_is_the_same_as_requires_grad_():
    x = gw.arange(4.0, requires_grad=True)
    assert x.grad is None and x.requires_grad and x.is_leaf


def test_gradients_accumulate_until_zeroed():
    def run(lib):
        x = lib.arange(4.0, requires_grad=True)
        (2 * lib.dot(x, x)).backward()
        y = x.sum()
        y.backward()
        accumulated = repr(x.grad)
        x.grad.zero_()
        y = x.sum()
        printed_y = repr(y)
        y.backward()
        return [accumulated, printed_y, repr(x.grad)]
    ours, theirs = both(run)
    assert ours == ["tensor([ 1.,  5.,  9., 13.])", "tensor(6., grad_fn=<SumBackward0>)",
                    "tensor([1., 1., 1., 1.])"]
    assert ours == theirs


def test_zero_keeps_the_grad_tensor_object():
    x = gw.arange(4.0, requires_grad=True)
    x.sum().backward()
    g = x.grad
    assert g.zero_() is g and x.grad is g
    assert g.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_non_scalar_backward_with_ones_is_sum_backward():
    def run(lib):
        x = lib.arange(4.0, requires_grad=True)
        y = x * x
        y.backward(lib.ones(len(x)))
        first = repr(x.grad)
        x.grad.zero_()
        y = x * x
        printed = [repr(y)]
        y.sum().backward()
        printed.append(repr(y.sum()))
        return [first, *printed, repr(x.grad), repr(x.grad == 2 * x)]
    ours, theirs = both(run)
    assert ours == ["tensor([0., 2., 4., 6.])", "tensor([0., 1., 4., 9.], grad_fn=<MulBackward0>)",
                    "tensor(14., grad_fn=<SumBackward0>)", "tensor([0., 2., 4., 6.])",
                    "tensor([True, True, True, True])"]
    assert ours == theirs


def test_backward_of_a_vector_without_gradient_is_refused():
    for lib in LIBS:
        x = lib.arange(4.0, requires_grad=True)
        with pytest.raises(RuntimeError, match="^grad can be implicitly created only for scalar outputs$"):
            (x * x).backward()


def test_detach_makes_a_constant():
    def run(lib):
        x = lib.arange(4.0, requires_grad=True)
        (2 * lib.dot(x, x)).backward()
        x.grad.zero_()
        y = x * x
        u = y.detach()
        out = [repr(y), repr(y.detach()), repr(u)]
        z = u * x
        z.sum().backward()
        out += [repr(x.grad), repr(x.grad == u)]
        return out
    ours, theirs = both(run)
    assert ours == ["tensor([0., 1., 4., 9.], grad_fn=<MulBackward0>)", "tensor([0., 1., 4., 9.])",
                    "tensor([0., 1., 4., 9.])", "tensor([0., 1., 4., 9.])",
                    "tensor([True, True, True, True])"]
    assert ours == theirs


def test_y_keeps_its_history_after_detach():
    def run(lib):
        x = lib.arange(4.0, requires_grad=True)
        (2 * lib.dot(x, x)).backward()
        x.grad.zero_()
        y = x * x
        u = y.detach()
        (u * x).sum().backward()
        x.grad.zero_()
        out = [repr(x.sum()), repr(y.sum())]
        y.sum().backward()
        out += [repr(x.grad), repr(x.grad == 2 * x)]
        return out
    ours, theirs = both(run)
    assert ours == ["tensor(6., grad_fn=<SumBackward0>)", "tensor(14., grad_fn=<SumBackward0>)",
                    "tensor([0., 2., 4., 6.])", "tensor([True, True, True, True])"]
    assert ours == theirs


def test_detach_on_a_fresh_x_without_grad_history():
    # 002: x = arange(4.0) with requires_grad, then u = y.detach(); z = u * x.
    x = gw.arange(4.0, requires_grad=True)
    y = x * x
    u = y.detach()
    (u * x).sum().backward()
    assert repr(x.grad == u) == "tensor([True, True, True, True])"
    assert u.grad_fn is None and not u.requires_grad and y.grad_fn.name() == "MulBackward0"


def f_doubling(a):
    """The notes' control-flow function (both spellings `b * 2` and `2 * b` appear)."""
    b = a * 2
    while b.norm() < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c


@pytest.mark.parametrize("a0", [-0.8566, 0.3, -2.5, 1e-3, 7.0, -1e-2])
def test_control_flow_gradient_is_d_over_a(a0):
    a = gw.tensor(a0, requires_grad=True)
    assert repr(a) == repr(torch.tensor(a0, requires_grad=True))
    d = f_doubling(a)
    d.backward()
    assert repr(a.grad == d / a) == "tensor(True)"
    ta = torch.tensor(a0, requires_grad=True)
    td = f_doubling(ta)
    td.backward()
    assert repr(a.grad) == repr(ta.grad)
    assert repr(d / a) == repr(td / ta)
    assert d.item() == td.item()


def test_control_flow_with_random_a_as_printed():
    gw.manual_seed(0)
    for _ in range(5):
        a = gw.randn(size=(), requires_grad=True)
        assert a.shape == () and a.requires_grad
        d = f_doubling(a)
        d.backward()
        assert bool(a.grad == d / a)


def test_control_flow_on_a_vector():
    # Exercise 3: with a vector a the gradient has a's shape.
    a = gw.tensor([0.5, -1.25, 2.0], requires_grad=True)
    d = f_doubling(a)
    d.sum().backward()
    ta = torch.tensor([0.5, -1.25, 2.0], requires_grad=True)
    f_doubling(ta).sum().backward()
    assert a.grad.shape == a.shape and repr(a.grad) == repr(ta.grad)


def test_notes_printed_control_flow_values():
    a = gw.tensor(-0.8566, requires_grad=True)
    assert repr(a) == "tensor(-0.8566, requires_grad=True)"
    d = f_doubling(a)
    d.backward()
    assert repr(a.grad) == "tensor(204800.)"
    assert repr(d / a) == "tensor(204800., grad_fn=<DivBackward0>)"
    assert repr(a.grad == d / a) == "tensor(True)"


def test_second_backward_fails_unless_graph_retained():
    for lib in LIBS:
        x = lib.arange(4.0, requires_grad=True)
        y = 2 * lib.dot(x, x)
        y.backward()
        with pytest.raises(RuntimeError, match="^Trying to backward through the graph a second time"):
            y.backward()
    messages = []
    for lib in LIBS:
        x = lib.arange(4.0, requires_grad=True)
        y = 2 * lib.dot(x, x)
        y.backward()
        try:
            y.backward()
        except RuntimeError as e:
            messages.append(str(e))
    assert messages[0] == messages[1]
    for lib in LIBS:
        x = lib.arange(4.0, requires_grad=True)
        y = 2 * lib.dot(x, x)
        y.backward(retain_graph=True)
        y.backward()
        assert x.grad.tolist() == [0.0, 8.0, 16.0, 24.0]


def g_branch(x):
    if x > 1:
        y = x * x
    else:
        y = 3 * x
    return y


@pytest.mark.parametrize("x0,expected", [(2.0, 4.0), (0.5, 3.0), (-1.0, 3.0)])
def test_exercise_branch_gradient(x0, expected):
    x = gw.tensor(x0, requires_grad=True)
    g_branch(x).backward()
    assert x.grad.item() == expected


def test_sin_gradient_is_cos():
    x = gw.linspace(-2 * gw.pi, 2 * gw.pi, 200, requires_grad=True)
    y = gw.sin(x)
    y.backward(gw.ones_like(x))
    tx = torch.linspace(-2 * torch.pi, 2 * torch.pi, 200, requires_grad=True)
    np.testing.assert_allclose(x.detach().numpy(), tx.detach().numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), np.cos(x.detach().numpy()), atol=1e-6)
    np.testing.assert_allclose(y.detach().numpy(), np.sin(x.detach().numpy()), atol=1e-6)
    assert x.grad.shape == (200,)


def test_linear_combination_gradients():
    def run(lib):
        x1 = lib.tensor(3.0, requires_grad=True)
        x2 = lib.tensor(4.0, requires_grad=True)
        x3 = lib.tensor(2.0, requires_grad=True)
        y = 2 * x1 + 5 * x2 + x3 ** 2
        y.backward()
        return [f"Gradient of x1: {x1.grad.item()}", f"Gradient of x2: {x2.grad.item()}",
                f"Gradient of x3: {x3.grad.item()}"]
    ours, theirs = both(run)
    assert ours == ["Gradient of x1: 2.0", "Gradient of x2: 5.0", "Gradient of x3: 4.0"]
    assert ours == theirs


# -- 004: matrix calculus identities -------------------------------------------------------------
A_MN = np.arange(12, dtype=np.float64).reshape(3, 4) / 7 - 0.5
A_NN = np.array([[1.0, 2.0, 0.5], [-1.0, 0.25, 3.0], [2.0, -0.5, 1.5]])


def test_gradient_of_Ax_is_A():
    A = gw.tensor(A_MN, dtype=gw.float64)
    x = gw.tensor([1.0, -2.0, 0.5, 3.0], dtype=gw.float64)
    J = gw.jacobian(lambda x: A @ x, x)
    np.testing.assert_allclose(J.numpy(), A_MN)


def test_gradient_of_xT_A_is_A_transposed():
    A = gw.tensor(A_MN.T, dtype=gw.float64)        # n x m with n = 4
    x = gw.tensor([1.0, -2.0, 0.5, 3.0], dtype=gw.float64)
    J = gw.jacobian(lambda x: x @ A, x)             # d(xᵀA)_j / dx_i laid out [j, i]
    np.testing.assert_allclose(J.numpy(), A_MN)     # = (Aᵀ)[j, i]
    np.testing.assert_allclose(J.T.numpy(), A_MN.T)


def test_gradient_of_xT_A_x_is_A_plus_AT_x():
    A = gw.tensor(A_NN, dtype=gw.float64)
    x = gw.tensor([0.5, -1.0, 2.0], dtype=gw.float64, requires_grad=True)
    (x @ A @ x).backward()
    xs = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), (A_NN + A_NN.T) @ xs)
    J = gw.jacobian(lambda x: x @ A @ x, x.detach())
    np.testing.assert_allclose(J.numpy(), (A_NN + A_NN.T) @ xs)


def test_gradient_of_squared_norm_is_2x():
    x = gw.tensor([0.5, -1.0, 2.0, 3.0], requires_grad=True)
    (x.norm() ** 2).backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy(), rtol=1e-6)
    x.grad.zero_()
    gw.dot(x, x).backward()
    assert x.grad.tolist() == [1.0, -2.0, 4.0, 6.0]


def test_second_derivative_of_cube_is_6x():
    x = gw.tensor([0.5, -1.0, 2.0], dtype=gw.float64, requires_grad=True)
    y = (x ** 3).sum()
    g, = gw.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), 3 * np.array([0.5, -1.0, 2.0]) ** 2)
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * np.array([0.5, -1.0, 2.0]))
    H = gw.hessian(lambda x: (x ** 3).sum(), x.detach())
    np.testing.assert_allclose(H.numpy(), np.diag(6 * np.array([0.5, -1.0, 2.0])))


def test_second_derivative_of_scalar_cube():
    x = gw.tensor(2.0, requires_grad=True)
    y = x ** 3
    g, = gw.grad(y, x, create_graph=True)
    g.backward()
    assert g.item() == 12.0 and x.grad.item() == 12.0
