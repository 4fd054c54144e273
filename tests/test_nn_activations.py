"""gradwire.nn.functional's activations and their modules against torch: values (the sign of zero too), gradients,
second order, grad_fn names, in-place forms, PyTorch's behaviour at NaN, infinities and its backward's bounds,
errors with PyTorch's messages, and module reprs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gradwire as gw
from client_fixtures import counter, session  # noqa: F401
from torch_diff import same_as_torch

pytestmark = pytest.mark.usefixtures("session")
RNG = np.random.default_rng(7)
X = RNG.standard_normal((4, 5))

ACTIVATIONS = [
    ("relu", {}), ("relu6", {}), ("leaky_relu", {"negative_slope": 0.2}), ("elu", {"alpha": 0.7}), ("selu", {}),
    ("celu", {"alpha": 1.3}), ("silu", {}), ("mish", {}), ("gelu", {"approximate": "tanh"}), ("gelu", {}),
    ("softplus", {"beta": 2.0, "threshold": 1.5}), ("logsigmoid", {}), ("softsign", {}), ("hardtanh", {}),
    ("hardsigmoid", {}), ("hardswish", {}), ("tanhshrink", {}), ("threshold", {"threshold": 0.1, "value": 2.0}),
    ("sigmoid", {}), ("tanh", {}), ("softmax", {"dim": 1}), ("log_softmax", {"dim": 0}), ("softmin", {"dim": 1}),
    ("glu", {"dim": 0}), ("normalize", {"p": 2.0, "dim": 1}),
]


@pytest.mark.parametrize("name,kw", ACTIVATIONS, ids=[f"{n}-{k}" for n, k in ACTIVATIONS])
def test_activation(name, kw):
    def fn(lib, x):
        out = getattr(lib.nn.functional, name)(x, **kw)
        return out, out.grad_fn.name()
    # PyTorch's hardsigmoid and celu backward kernels round a constant to float32 (1.0f / 6.0f): 3e-8 apart.
    rtol = 1e-6 if name in ("hardsigmoid", "celu") else 1e-9
    same_as_torch(fn, X, second_order=name != "hardsigmoid", rtol=rtol, atol=1e-12)  # torch has no 2nd order there


IN_PLACE = [
    ("relu", {}), ("relu6", {}), ("hardtanh", {"min_val": -0.5, "max_val": 0.8}), ("leaky_relu", {"negative_slope": 0.2}),
    ("elu", {"alpha": 0.7}), ("selu", {}), ("celu", {"alpha": 1.3}), ("silu", {}), ("mish", {}), ("hardsigmoid", {}),
    ("hardswish", {}), ("threshold", {"threshold": 0.1, "value": 2.0}),
]


@pytest.mark.parametrize("name,kw", IN_PLACE, ids=[f"{n}-{k}" for n, k in IN_PLACE])
def test_in_place_activation(name, kw):
    """inplace=True: the input takes the result, under PyTorch's grad_fn name (EluBackward1 ...), and the backward
    works, as PyTorch's does (it keeps the values from before the write, or the result)."""
    def fn(lib, x):
        y = x * 1.0
        out = getattr(lib.nn.functional, name)(y, inplace=True, **kw)
        return out, out is y, out.grad_fn.name()
    rtol = 1e-6 if name in ("hardsigmoid", "celu") else 1e-9
    same_as_torch(fn, X, rtol=rtol, atol=1e-12)


def test_in_place_dropout_is_a_multiplication_as_in_torch():
    names = []
    for lib in (torch, gw):
        y = lib.ones(8, requires_grad=True) * 1.0
        out = lib.nn.functional.dropout(y, 0.5, inplace=True)
        names.append((out is y, out.grad_fn.name(), lib.nn.functional.dropout(y, 1.0, inplace=True).grad_fn.name()))
    assert names[0] == names[1]


SPECIAL = np.array([np.nan, -0.0, 0.0, -1.0, 2.0, np.inf, -np.inf, 1e-30, -1e-30, 20.0, -20.0, 6.0, 3.0, -3.0, 1.0,
                    0.5, -0.5, -0.3, 0.25], np.float32)     # long enough for PyTorch's vectorized kernels
AT_SPECIAL = [
    ("relu", {}), ("relu6", {}), ("hardtanh", {}), ("hardtanh", {"min_val": -0.0, "max_val": 1.0}),
    ("elu", {}), ("elu", {"alpha": 0.5}), ("selu", {}), ("celu", {"alpha": 2.0}), ("hardsigmoid", {}),
    ("hardswish", {}), ("logsigmoid", {}), ("threshold", {"threshold": 0.5, "value": -2.0}), ("hardshrink", {}),
    ("hardshrink", {"lambd": 1.0}), ("softshrink", {"lambd": 0.7}), ("rrelu", {}), ("leaky_relu", {}),
]


@pytest.mark.parametrize("name,kw", AT_SPECIAL, ids=[f"{n}-{k}" for n, k in AT_SPECIAL])
def test_activation_at_special_values(name, kw):
    """NaN, ±0.0, ±inf, the bounds: PyTorch's values with their sign of zero, and its gradients there (1 or 0 at a
    bound as its backward defines it, no NaN from an exponential branch the value does not take)."""
    def fn(lib, x):
        out = getattr(lib.nn.functional, name)(x, **kw)
        # A NaN's sign means nothing; softshrink's zeros inside the band take their sign from PyTorch's vectorized
        # kernel in a way its scalar one does not share: values only there.
        sign = lib.signbit(out).logical_and(out.isnan().logical_not())
        return (out, out.grad_fn.name()) if name == "softshrink" else (out, sign, out.grad_fn.name())
    same_as_torch(fn, SPECIAL, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name,kw", [("hardshrink", {}), ("softshrink", {"lambd": 0.3}), ("rrelu", {})])
def test_shrinks_and_rrelu(name, kw):
    same_as_torch(lambda lib, x: (getattr(lib.nn.functional, name)(x, **kw),
                                  getattr(lib.nn.functional, name)(x, **kw).grad_fn.name()), X, second_order=True)


def test_shrink_rrelu_modules_errors_as_torch():
    from torch_diff import outcomes

    def cases(lib):
        nn, F = lib.nn, lib.nn.functional
        return outcomes([
            lambda: [repr(m) for m in (nn.Hardshrink(), nn.Softshrink(0.3), nn.RReLU(), nn.RReLU(0.1, 0.2, True))],
            lambda: F.softshrink(lib.ones(2), -1), lambda: F.softshrink(lib.ones(2, dtype=lib.float64), -0.5),
            lambda: F.hardtanh(lib.ones(2), 2, 1), lambda: F.celu(lib.ones(2), alpha=0),
            lambda: F.rrelu(lib.ones(2), 0.5, 0.1), lambda: lib.hardshrink(lib.tensor([0.2, -0.7])).tolist(),
            lambda: lib.tensor([0.2, -0.7]).hardshrink(0.1).tolist(), lambda: lib.rrelu(-lib.ones(2)).tolist(),
            lambda: nn.RReLU().eval()(-lib.ones(2)).tolist()])
    assert [str(c) for c in cases(gw)] == [str(c) for c in cases(torch)]


def test_rrelu_in_training_draws_slopes_in_range():
    gw.manual_seed(3)
    x = gw.ones(2000, requires_grad=True)
    y = gw.nn.functional.rrelu(-x, 0.1, 0.3, training=True)
    y.sum().backward()
    slopes = -y.detach().numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and abs(slopes.mean() - 0.2) < 0.01
    np.testing.assert_allclose(x.grad.numpy(), -slopes, rtol=1e-6)
    positive = gw.ones(5, requires_grad=True)
    assert gw.nn.functional.rrelu(positive, training=True).tolist() == [1.0] * 5
