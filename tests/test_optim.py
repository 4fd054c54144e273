"""gradwire.optim against torch.optim: the same model, data and initial parameters trained for N steps give the
same parameters (float64 to 1e-10, float32 to 1e-4); a training step is one request. (Schedulers:
test_lr_scheduler.py.)"""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import gradwire as gw
from client_fixtures import counter, session  # noqa: F401

pytestmark = pytest.mark.usefixtures("session")
RNG = np.random.default_rng(11)
X = RNG.standard_normal((32, 5))
Y = RNG.integers(0, 3, 32)

CONFIGS = [
    ("SGD", {"lr": 0.1}), ("SGD", {"lr": 0.05, "momentum": 0.9}), ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "maximize": True}),
    ("Adam", {"lr": 0.01}), ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "maximize": True, "eps": 1e-6}),
    ("Adam", {"lr": 0.02, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {"lr": 0.01}), ("AdamW", {"lr": 0.02, "weight_decay": 0.1, "amsgrad": True}),
    ("RMSprop", {"lr": 0.01}), ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.01}),
    ("Adagrad", {"lr": 0.1}), ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01,
                                           "initial_accumulator_value": 0.1}),
    ("Adadelta", {}), ("Adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-4, "weight_decay": 0.01}),
    ("Adadelta", {"maximize": True}),
    ("Adamax", {"lr": 0.01}), ("Adamax", {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-4, "weight_decay": 0.1}),
    ("Adamax", {"lr": 0.01, "maximize": True}),
    ("NAdam", {"lr": 0.01}), ("NAdam", {"lr": 0.02, "betas": (0.8, 0.99), "momentum_decay": 0.1, "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.01, "maximize": True, "eps": 1e-6}),
    ("NAdam", {"lr": 0.02, "weight_decay": 0.1, "decoupled_weight_decay": True}),
]

OPTIMIZERS = sorted({name for name, _ in CONFIGS})


def model(lib, dtype):
    nn = lib.nn
    m = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    return m.double() if dtype == "float64" else m


def train(lib, name, options, dtype, state, steps=6, resume_at=None):
    m = model(lib, dtype)
    m.load_state_dict(state)
    opt = getattr(lib.optim, name)(m.parameters(), **options)
    x = lib.tensor(X, dtype=getattr(lib, dtype))
    y = lib.tensor(Y)
    losses = []
    for k in range(steps):
        if k == resume_at:      # a new optimizer carries on from the old one's state dict
            saved = opt.state_dict()
            opt = getattr(lib.optim, name)(m.parameters(), **options)
            opt.load_state_dict(saved)
        opt.zero_grad()
        loss = lib.nn.functional.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        losses.append(loss)
    return [p.detach().numpy() for p in m.parameters()], [float(v.item()) for v in losses], opt


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-4)])
@pytest.mark.parametrize("name,options", CONFIGS, ids=[f"{n}-{sorted(o)}" for n, o in CONFIGS])
def test_optimizer_matches_torch(name, options, dtype, tol):
    state = model(torch, dtype).state_dict()
    ours, our_losses, our_opt = train(gw, name, options, dtype, state)
    theirs, their_losses, their_opt = train(torch, name, options, dtype, state)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    np.testing.assert_allclose(our_losses, their_losses, rtol=tol, atol=tol)
    assert_same_state(our_opt, their_opt, tol)


def assert_same_state(ours, theirs, tol):
    """Both optimizers' state dicts hold the same groups (keys in order) and, per parameter, the same entries
    in order: tensors of the same dtype, shape and values (a plain number where PyTorch keeps one)."""
    a, b = ours.state_dict(), theirs.state_dict()
    assert [list(g.items()) for g in a["param_groups"]] == [list(g.items()) for g in b["param_groups"]]
    assert len(ours.state) == len(theirs.state)

    def layout(sd, lib):
        return {i: [(k, (str(v.dtype), tuple(v.shape)) if isinstance(v, lib.Tensor) else v) for k, v in s.items()]
                for i, s in sd["state"].items()}
    assert layout(a, gw) == layout(b, torch)
    for i, s in a["state"].items():
        for k, v in s.items():
            if isinstance(v, gw.Tensor):
                np.testing.assert_allclose(v.numpy(), b["state"][i][k].numpy(), rtol=tol, atol=tol, err_msg=k)


@pytest.mark.parametrize("name,options", dict(CONFIGS).items(), ids=list(dict(CONFIGS)))  # each one's last config
def test_training_resumed_from_a_state_dict_matches_torch(name, options):
    state = model(torch, "float64").state_dict()
    ours = train(gw, name, options, "float64", state, resume_at=3)
    theirs = train(torch, name, options, "float64", state, resume_at=3)
    for a, b in zip(ours[0], theirs[0]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    assert_same_state(ours[2], theirs[2], 1e-10)


def test_loading_casts_the_state_to_the_parameters_dtype_as_torch():
    state = model(torch, "float64").state_dict()
    saved = {lib: train(lib, "Adam", {"lr": 0.01}, "float32", state, steps=2)[2].state_dict() for lib in (gw, torch)}
    opts = []
    for lib in (gw, torch):
        opts.append(lib.optim.Adam(model(lib, "float64").parameters(), lr=0.01))
        opts[-1].load_state_dict(saved[lib])
    assert_same_state(*opts, 1e-6)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_signature_matches_torch(name):
    def signature(lib):
        return [(p.name, p.kind, p.default) for p in inspect.signature(getattr(lib.optim, name)).parameters.values()]
    assert signature(gw) == signature(torch)


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_repr_defaults_and_param_groups_match_torch(name, groups):
    def build(lib):
        m = model(lib, "float64")
        params = [{"params": m[0].parameters(), "lr": 0.5, "weight_decay": 3}, {"params": m[2].parameters()}]
        return getattr(lib.optim, name)(params if groups > 1 else m.parameters(), lr=0.1)
    ours, theirs = build(gw), build(torch)
    assert repr(ours) == repr(theirs)
    assert list(ours.defaults.items()) == list(theirs.defaults.items())
    assert_same_state(ours, theirs, 0)


def test_adam_with_decoupled_weight_decay_is_adamw():
    state = model(torch, "float64").state_dict()
    adam = train(gw, "Adam", {"lr": 0.02, "weight_decay": 0.1, "decoupled_weight_decay": True}, "float64", state)
    adamw = train(gw, "AdamW", {"lr": 0.02, "weight_decay": 0.1}, "float64", state)
    for a, b in zip(adam[0], adamw[0]):
        np.testing.assert_array_equal(a, b)


def test_adamw_loading_an_adam_state_dict_still_decouples():
    def groups(lib):
        p = lib.nn.Parameter(lib.zeros(2))
        opt = lib.optim.AdamW([p], weight_decay=0.5)
        opt.load_state_dict(lib.optim.Adam([p], weight_decay=0.1).state_dict())
        return [[(k, v) for k, v in g.items() if k != "params"] for g in opt.param_groups]
    assert groups(gw) == groups(torch)


def test_param_groups_zero_grad_closure_and_state_dict():
    state = model(torch, "float64").state_dict()
    results = []
    for lib in (gw, torch):
        m = model(lib, "float64")
        m.load_state_dict(state)
        opt = lib.optim.Adam([{"params": m[0].parameters(), "lr": 0.05}, {"params": m[2].parameters()}], lr=0.01)
        x, y = lib.tensor(X), lib.tensor(Y)

        def closure():
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(m(x), y)
            loss.backward()
            return loss
        first = opt.step(closure)
        opt.step(closure)
        sd = opt.state_dict()
        opt2 = lib.optim.Adam([{"params": m[0].parameters(), "lr": 0.05}, {"params": m[2].parameters()}], lr=0.01)
        opt2.load_state_dict(sd)
        opt2.step(closure)
        opt.zero_grad(set_to_none=False)
        zeros = [p.grad is not None and not p.grad.numpy().any() for p in m.parameters()]
        opt.zero_grad()
        nones = [p.grad is None for p in m.parameters()]
        # (torch's state_dict shares the step tensors it reports with both optimizers; read opt2's own)
        results.append(([p.detach().numpy() for p in m.parameters()], float(first.item()), zeros, nones,
                        sorted(sd["state"]), [g["params"] for g in sd["param_groups"]],
                        float(opt2.state_dict()["state"][0]["step"].item())))
    (pa, fa, *rest_a), (pb, fb, *rest_b) = results
    for a, b in zip(pa, pb):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    assert fa == pytest.approx(fb, rel=1e-12) and rest_a == rest_b


# Options for the request-counting tests: each optimizer with the state it can keep.
STATEFUL = {"SGD": {"lr": 0.1, "momentum": 0.9}, "Adam": {"lr": 0.01, "amsgrad": True},
            "RMSprop": {"lr": 0.01, "momentum": 0.5, "centered": True}, "Adagrad": {"lr": 0.01}, "Adadelta": {},
            "Adamax": {"lr": 0.01}, "NAdam": {"lr": 0.01}}


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_a_training_step_is_one_request(counter, name):
    m = gw.nn.Sequential(gw.nn.Linear(5, 16), gw.nn.ReLU(), gw.nn.Linear(16, 3))
    opt = getattr(gw.optim, name)(m.parameters(), **STATEFUL[name])
    x, y = gw.tensor(X, dtype=gw.float32), gw.tensor(Y)
    losses = []
    for step in range(6):
        if step == 2:
            counter.reset()
        opt.zero_grad()
        loss = gw.nn.functional.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        losses.append(loss)
    assert sum(counter.calls.values()) == 4, counter.calls          # steps 2..5: one request each
    assert losses[-1].item() < losses[0].item()


def test_optimizer_errors_match_torch():
    def program(lib):
        out = []
        p = lib.nn.Parameter(lib.zeros(2))
        for bad in (lambda: lib.optim.SGD(p, lr=0.1), lambda: lib.optim.Adam([p], lr=-0.1),
                    lambda: lib.optim.Adam([p], eps=-1.0), lambda: lib.optim.RMSprop([p], alpha=-1.0),
                    lambda: lib.optim.Adagrad([p], lr_decay=-1.0), lambda: lib.optim.Adadelta([p], rho=1.5),
                    lambda: lib.optim.Adamax([p], betas=(0.9, 1.0)), lambda: lib.optim.NAdam([p], momentum_decay=-1),
                    lambda: lib.optim.SGD([p, p * 2], lr=0.1),
                    lambda: lib.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)):
            try:
                bad()
                out.append("no error")
            except Exception as e:  # noqa: BLE001
                out.append((type(e).__name__, str(e).replace("torch.", "").replace("gradwire.", "")))
        return out
    assert program(gw) == program(torch)


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_optimizer_state_does_not_grow_the_requests(counter, name):
    """Optimizer state (momentum, moment estimates) is updated in place every step and never read: each request
    brings its new value (or handle) back, so the next step's request starts from it, not from its history."""
    m = gw.nn.Sequential(gw.nn.Linear(5, 16), gw.nn.BatchNorm1d(16), gw.nn.Linear(16, 3))
    opt = getattr(gw.optim, name)(m.parameters(), **STATEFUL[name])
    x, y = gw.tensor(X, dtype=gw.float32), gw.tensor(Y)
    sizes = []
    for step in range(14):
        counter.reset()
        opt.zero_grad()
        gw.nn.functional.cross_entropy(m(x), y).backward()
        opt.step()
        sizes.append(sum(r.ByteSize() for _, r in counter.requests))
    assert max(sizes[5:]) < 1.25 * min(sizes[5:]), sizes       # (the first steps settle what exists)
