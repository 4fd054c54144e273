"""Tensor reprs are character-for-character PyTorch's, over many values, shapes and dtypes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gradwire as gw
from gradwire._format import tensor_repr
from client_fixtures import counter, session  # noqa: F401


def _cases():
    rng = np.random.default_rng(1234)
    yield np.arange(4, dtype=np.float32)
    yield np.array([0.0, 4.0, 8.0, 12.0], dtype=np.float32)
    yield np.float32(28.0)
    yield np.float32(-0.8566)
    yield np.array([True, True, False])
    yield np.array(True)
    yield np.array([], dtype=np.float32)
    yield np.zeros((0, 3), dtype=np.float32)
    yield np.array([np.nan, np.inf, -np.inf, 0.0], dtype=np.float32)
    yield np.array([-0.0, 0.0], dtype=np.float32)
    yield np.array([1e-5, 1.0, 1e5], dtype=np.float32)
    yield np.array([1e9, 2e9], dtype=np.float64)
    yield np.array([123456789.0], dtype=np.float32)
    yield np.arange(12, dtype=np.int64).reshape(3, 4) - 5
    yield np.arange(6, dtype=np.int32)
    yield np.arange(2000, dtype=np.float32) / 7
    yield np.arange(3000, dtype=np.int64).reshape(30, 100)
    yield (np.arange(60, dtype=np.float64).reshape(3, 4, 5) - 30) / 3
    for _ in range(40):
        shape = tuple(rng.integers(0, 5, size=rng.integers(0, 4)))
        scale = 10.0 ** rng.integers(-6, 9)
        dtype = rng.choice([np.float32, np.float64])
        yield (rng.standard_normal(shape) * scale).astype(dtype)
    for _ in range(10):
        yield rng.integers(-10 ** 6, 10 ** 6, size=rng.integers(1, 30)).astype(np.int64)
        yield np.round(rng.standard_normal(rng.integers(1, 30)) * 100).astype(np.float32)
    yield rng.standard_normal((40, 40)).astype(np.float32)


CASES = list(_cases())


@pytest.mark.parametrize("value", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_repr_matches_torch(value):
    value = np.asarray(value)
    assert tensor_repr(value) == repr(torch.from_numpy(value.copy()))


@pytest.mark.parametrize("value", [np.float32(-0.8566), np.arange(4, dtype=np.float32),
                                   np.ones((2, 3), dtype=np.float64) / 3])
def test_repr_suffixes_match_torch(value):
    value = np.asarray(value)
    t = torch.from_numpy(value.copy()).requires_grad_(True)
    assert tensor_repr(value, requires_grad=True) == repr(t)
    assert tensor_repr(value * 2, grad_fn="MulBackward0") == repr(t * 2)


def test_long_suffix_wraps_like_torch():
    value = np.linspace(0, 1, 13).astype(np.float64)
    t = torch.from_numpy(value.copy()).requires_grad_(True)
    assert tensor_repr(value * 3, grad_fn="MulBackward0") == repr(t * 3)


def test_client_tensors_print_like_torch(session):
    rng = np.random.default_rng(7)
    for _ in range(10):
        data = rng.standard_normal((3, 4)).astype(np.float32)
        x, tx = gw.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        for f in (lambda a: a, lambda a: a * 2, lambda a: a.sum(), lambda a: a.exp() - 1,
                  lambda a: (a > 0), lambda a: a.detach(), lambda a: a.mean(1)):
            assert repr(f(x)) == repr(f(tx))
    d = gw.tensor([1.5, 2.0], dtype=gw.float64)
    assert repr(d) == "tensor([1.5000, 2.0000], dtype=torch.float64)"
    assert repr(gw.arange(4)) == repr(torch.arange(4))
    assert repr(gw.arange(4, dtype=gw.int32)) == repr(torch.arange(4, dtype=torch.int32))
    assert str(gw.float64) == "torch.float64" and repr(gw.Size((2, 3))) == "torch.Size([2, 3])"


def test_set_printoptions_prints_as_torch():
    def run(lib):
        x = lib.tensor(np.array([1.123456, 2.5, 1e-5, 300.0], np.float32))
        m = lib.tensor(np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4))
        out = []
        try:
            for kw in ({"precision": 2}, {"threshold": 5}, {"edgeitems": 1, "threshold": 5}, {"linewidth": 20},
                       {"sci_mode": True}, {"sci_mode": False}, {"profile": "short"}, {"profile": "full"},
                       {"profile": "default"}):
                lib.set_printoptions(**kw)
                out.append([repr(t) for t in (x, lib.arange(20), m, lib.tensor(1.123456))])
        finally:
            lib.set_printoptions(profile="default")
        return out
    assert run(gw) == run(torch)
