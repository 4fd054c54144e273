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
