"""gradwire.optim.lr_scheduler against torch.optim.lr_scheduler: the same optimizer and schedule, stepped 30 times
(saved and reloaded halfway), give the same lrs and momenta or betas at every step, get_last_lr(), state dicts,
warnings and final parameters; bad arguments raise the same errors."""
from __future__ import annotations

import inspect
import math
import warnings
from collections import Counter

import numpy as np
import pytest
import torch

import gradwire as gw
from client_fixtures import counter, session  # noqa: F401
from test_optim import X, Y, model

pytestmark = pytest.mark.usefixtures("session")
STEPS, RESUME_AT = 30, 17
# A validation loss for ReduceLROnPlateau: improvements, plateaus within the threshold, a rise, a recovery.
PLATEAU = [1.0, 0.8, 0.7, 0.7, 0.699, 0.71, 0.72, 0.6, 0.6, 0.6, 0.6, 0.6, 0.59995, 0.5, 0.5, 0.5, 0.5, 0.5,
           0.55, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.39, 0.39, 0.39, 0.39, 0.39]


class Warmup:
    """A callable object: LambdaLR keeps its __dict__ in the state dict (a plain function, as None)."""

    def __init__(self, n):
        self.n = n

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.n)


def step_with(*args):
    return lambda s, k, loss, lib: s.step(*args)


def each_epoch(f):
    return lambda s, k, loss, lib: s.step(f(k))


# name: (optimizer, its options, scheduler from (lr_scheduler module, optimizer), how to step it)
CASES = {
    "StepLR": ("SGD", {"momentum": 0.9}, lambda L, o: L.StepLR(o, step_size=4, gamma=0.5), None),
    "MultiStepLR": ("SGD", {}, lambda L, o: L.MultiStepLR(o, milestones=[9, 3, 9, 20], gamma=0.3), None),
    "ExponentialLR": ("Adam", {}, lambda L, o: L.ExponentialLR(o, gamma=0.93), None),
    "LambdaLR": ("SGD", {}, lambda L, o: L.LambdaLR(o, [lambda e: 1 / (1 + e), Warmup(6)]), None),
    "MultiplicativeLR": ("SGD", {"momentum": 0.5},
                         lambda L, o: L.MultiplicativeLR(o, lambda e: 0.9 if e % 3 else 1.05), None),
    "ConstantLR": ("SGD", {}, lambda L, o: L.ConstantLR(o, factor=0.25, total_iters=6), None),
    "LinearLR": ("Adam", {}, lambda L, o: L.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=12), None),
    "PolynomialLR": ("SGD", {}, lambda L, o: L.PolynomialLR(o, total_iters=20, power=2.0), None),
    "CosineAnnealingLR": ("SGD", {}, lambda L, o: L.CosineAnnealingLR(o, T_max=7, eta_min=0.001), None),
    "CosineAnnealingLR-resumed": ("SGD", {}, lambda L, o: L.CosineAnnealingLR(
        o, T_max=9, eta_min=0.002, last_epoch=3) if all(g.setdefault("initial_lr", g["lr"]) for g in o.param_groups)
        else None, None),
    "CosineAnnealingWarmRestarts": ("SGD", {}, lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2,
                                                                                       eta_min=0.01), None),
    "CosineAnnealingWarmRestarts-fractional": ("SGD", {}, lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=3),
                                               each_epoch(lambda k: k * 0.37 + 0.1)),
    "CosineAnnealingWarmRestarts-fractional-T_mult=1": ("SGD", {}, lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=3),
                                                        each_epoch(lambda k: (k % 11) * 0.61)),
    "CyclicLR-triangular": ("SGD", {"momentum": 0.9}, lambda L, o: L.CyclicLR(
        o, base_lr=0.01, max_lr=[0.1, 0.2], step_size_up=4, step_size_down=6), None),
    "CyclicLR-triangular2-Adam-betas": ("Adam", {}, lambda L, o: L.CyclicLR(
        o, base_lr=[0.001, 0.002], max_lr=0.01, step_size_up=3, mode="triangular2", base_momentum=0.85,
        max_momentum=[0.95, 0.9]), None),
    "CyclicLR-exp_range": ("RMSprop", {"momentum": 0.5}, lambda L, o: L.CyclicLR(
        o, base_lr=0.001, max_lr=0.01, step_size_up=5, mode="exp_range", gamma=0.97), None),
    "CyclicLR-scale_fn": ("SGD", {}, lambda L, o: L.CyclicLR(
        o, base_lr=0.01, max_lr=0.05, step_size_up=2, scale_fn=lambda x: 0.5 ** x, scale_mode="iterations",
        cycle_momentum=False), None),
    "OneCycleLR": ("SGD", {"momentum": 0.9}, lambda L, o: L.OneCycleLR(o, max_lr=[0.1, 0.3], total_steps=STEPS), None),
    "OneCycleLR-linear-three_phase-Adam": ("Adam", {}, lambda L, o: L.OneCycleLR(
        o, max_lr=0.02, total_steps=STEPS + 2, anneal_strategy="linear", three_phase=True, div_factor=10.0,
        final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9), None),
    "OneCycleLR-epochs": ("SGD", {}, lambda L, o: L.OneCycleLR(
        o, max_lr=0.1, epochs=3, steps_per_epoch=10, pct_start=0.25, cycle_momentum=False), None),
    "SequentialLR": ("SGD", {"momentum": 0.9}, lambda L, o: L.SequentialLR(
        o, [L.LinearLR(o, start_factor=0.1, total_iters=5), L.LambdaLR(o, lambda e: 0.9 ** e),
            L.StepLR(o, step_size=3, gamma=0.5)], milestones=[5, 14]), None),
    "ChainedScheduler": ("SGD", {}, lambda L, o: L.ChainedScheduler(
        [L.ConstantLR(o, factor=0.5, total_iters=4), L.ExponentialLR(o, gamma=0.9)]), None),
    "ChainedScheduler-of-SequentialLR": ("Adam", {}, lambda L, o: L.ChainedScheduler(
        [L.SequentialLR(o, [L.ConstantLR(o, factor=0.5, total_iters=3), L.CosineAnnealingLR(o, T_max=10)], [4]),
         L.MultiplicativeLR(o, lambda e: 0.99)], optimizer=o), None),
    "ReduceLROnPlateau": ("SGD", {"momentum": 0.9}, lambda L, o: L.ReduceLROnPlateau(
        o, factor=0.5, patience=2, threshold=0.01, cooldown=1, min_lr=[0.01, 0.004]),
        lambda s, k, loss, lib: s.step(PLATEAU[k])),
    "ReduceLROnPlateau-max-abs-tensor": ("Adam", {}, lambda L, o: L.ReduceLROnPlateau(
        o, mode="max", factor=0.3, patience=1, threshold=0.02, threshold_mode="abs", min_lr=1e-4, eps=1e-3),
        lambda s, k, loss, lib: s.step(lib.tensor(-PLATEAU[k], dtype=lib.float64))),
    "ReduceLROnPlateau-training-loss": ("SGD", {}, lambda L, o: L.ReduceLROnPlateau(o, patience=0, threshold=0.05),
                                        lambda s, k, loss, lib: s.step(loss.detach())),
}
# step(epoch): the closed forms, where a scheduler has one (PyTorch warns each time)
for _name, _make in {
    "StepLR": lambda L, o: L.StepLR(o, step_size=4, gamma=0.5),
    "MultiStepLR": lambda L, o: L.MultiStepLR(o, milestones=[3, 9, 9, 20], gamma=0.3),
    "ExponentialLR": lambda L, o: L.ExponentialLR(o, gamma=0.93),
    "ConstantLR": lambda L, o: L.ConstantLR(o, factor=0.25, total_iters=6),
    "LinearLR": lambda L, o: L.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=12),
    "PolynomialLR": lambda L, o: L.PolynomialLR(o, total_iters=20, power=2.0),
    "CosineAnnealingLR": lambda L, o: L.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    "LambdaLR": lambda L, o: L.LambdaLR(o, lambda e: 0.5 ** e),     # (no closed form: get_lr at that epoch)
}.items():
    CASES[f"{_name}-step(epoch)"] = ("SGD", {}, _make, each_epoch(lambda k: (k * 7) % 23))


def snapshot(lib, opt, sched):
    keys = [k for k in ("lr", "momentum", "betas") if k in opt.param_groups[0]]
    return [[g[k] for k in keys] for g in opt.param_groups], list(sched.get_last_lr())


def run(lib, case, state):
    opt_name, options, make, stepper = CASES[case]
    stepper = stepper or step_with()
    m = model(lib, "float64")
    m.load_state_dict(state)

    def optimizer():
        return getattr(lib.optim, opt_name)([{"params": m[0].parameters(), "lr": 0.1},
                                             {"params": m[2].parameters(), "lr": 0.05}], **options)
    x, y = lib.tensor(X), lib.tensor(Y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt = optimizer()
        sched = make(lib.optim.lr_scheduler, opt)
        history = [snapshot(lib, opt, sched)]
        for k in range(STEPS):
            if k == RESUME_AT:      # a new optimizer and scheduler carry on from the old ones' state dicts
                saved_opt, saved = opt.state_dict(), sched.state_dict()
                opt = optimizer()
                sched = make(lib.optim.lr_scheduler, opt)
                opt.load_state_dict(saved_opt)
                sched.load_state_dict(saved)
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            stepper(sched, k, loss, lib)
            history.append(snapshot(lib, opt, sched))
    groups = [[(k, v) for k, v in g.items() if k != "params"] for g in opt.param_groups]
    return (history, [p.detach().numpy() for p in m.parameters()], sched.state_dict(), groups,
            [(w.category.__name__, str(w.message)) for w in caught])


def assert_same(a, b, where="", rel=1e-12):
    """The same structure, types and keys in the same order; floats to `rel`."""
    assert type(a).__name__ == type(b).__name__, (where, a, b)
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}", rel)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), (where, a, b)
        for i, (u, v) in enumerate(zip(a, b)):
            assert_same(u, v, f"{where}[{i}]", rel)
    elif isinstance(a, float) and math.isfinite(a):
        assert a == pytest.approx(b, rel=rel, abs=0), (where, a, b)
    else:
        assert a == b, (where, a, b)


@pytest.mark.parametrize("case", list(CASES))
def test_schedule_matches_torch(case):
    state = model(torch, "float64").state_dict()
    ours, theirs = run(gw, case, state), run(torch, case, state)
    history, params, sched_state, groups, caught = ours
    assert_same(history, theirs[0], "history")
    for a, b in zip(params, theirs[1]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert_same(sched_state, theirs[2], "state_dict")
    assert_same(groups, theirs[3], "param_groups")
    assert caught == theirs[4]


def test_the_schedule_changes_what_the_optimizer_does():
    """A check that the comparisons above can fail: the same run without its schedule ends elsewhere."""
    state = model(torch, "float64").state_dict()
    scheduled = run(gw, "OneCycleLR", state)[1]
    CASES["unscheduled"] = ("SGD", {"momentum": 0.9}, lambda L, o: L.LambdaLR(o, lambda e: 1.0), None)
    try:
        plain = run(gw, "unscheduled", state)[1]
    finally:
        del CASES["unscheduled"]
    assert not np.allclose(scheduled[0], plain[0], rtol=1e-3)


SCHEDULERS = sorted(set(torch.optim.lr_scheduler.__all__) - {"LRScheduler"})


def test_every_torch_scheduler_is_here():
    assert sorted(set(gw.optim.lr_scheduler.__all__) - {"LRScheduler"}) == SCHEDULERS


@pytest.mark.parametrize("name", SCHEDULERS)
def test_signature_matches_torch(name):
    def signature(lib):
        return [(p.name, p.kind, p.default)
                for p in inspect.signature(getattr(lib.optim.lr_scheduler, name)).parameters.values()]
    assert signature(gw) == signature(torch)


def outcomes(lib, program):
    """What program(lib) does: its result or error (type, message), and the warnings it gives, in order."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = program(lib)
        except Exception as e:  # noqa: BLE001
            result = (type(e).__name__, str(e).replace("torch.", "").replace("gradwire.", ""))
    return result, [(w.category.__name__, str(w.message)) for w in caught]


def two_groups(lib, name="SGD", **options):
    a, b = lib.nn.Parameter(lib.zeros(2)), lib.nn.Parameter(lib.zeros(3))
    return getattr(lib.optim, name)([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, **options)


def stepped(make, steps):
    def program(lib):
        sched = make(lib.optim.lr_scheduler, two_groups(lib))
        for _ in range(steps):
            sched.optimizer.step()
            sched.step()
        return sched.get_last_lr()
    return program


def plateau_with_a_new_group(lib):
    opt = two_groups(lib)
    sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, min_lr=[0.0, 0.0])
    opt.add_param_group({"params": [lib.nn.Parameter(lib.zeros(1))]})
    sched.step(1.0)
    sched.step(2.0)


ERRORS = {
    "not an optimizer": lambda lib: lib.optim.lr_scheduler.StepLR("sgd", 2),
    "plateau, not an optimizer": lambda lib: lib.optim.lr_scheduler.ReduceLROnPlateau("sgd"),
    "resumed without initial_lr": lambda lib: lib.optim.lr_scheduler.StepLR(two_groups(lib), 2, last_epoch=3),
    "lambdas per group": lambda lib: lib.optim.lr_scheduler.LambdaLR(two_groups(lib), [lambda e: 1] * 3),
    "multiplicative non-callable": lambda lib: lib.optim.lr_scheduler.MultiplicativeLR(two_groups(lib), [0.9, 0.8]),
    "constant factor": lambda lib: lib.optim.lr_scheduler.ConstantLR(two_groups(lib), factor=1.5),
    "linear start": lambda lib: lib.optim.lr_scheduler.LinearLR(two_groups(lib), start_factor=0),
    "linear end": lambda lib: lib.optim.lr_scheduler.LinearLR(two_groups(lib), end_factor=1.2),
    "T_0": lambda lib: lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(two_groups(lib), T_0=0),
    "T_0 float": lambda lib: lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(two_groups(lib), T_0=2.5),
    "T_mult": lambda lib: lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(two_groups(lib), T_0=2, T_mult=0),
    "eta_min": lambda lib: lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(two_groups(lib), 2, eta_min="0"),
    "negative epoch": lambda lib: lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(two_groups(lib), 2).step(-1),
    "cyclic mode": lambda lib: lib.optim.lr_scheduler.CyclicLR(two_groups(lib), 0.01, 0.1, mode="sine"),
    "cyclic without momentum": lambda lib: lib.optim.lr_scheduler.CyclicLR(two_groups(lib, "Adagrad"), 0.01, 0.1),
    "cyclic lengths": lambda lib: lib.optim.lr_scheduler.CyclicLR(two_groups(lib), [0.01], 0.1),
    "cyclic momentum lengths": lambda lib: lib.optim.lr_scheduler.CyclicLR(two_groups(lib), 0.01, 0.1,
                                                                          max_momentum=(0.9, 0.9, 0.9)),
    "one-cycle steps": lambda lib: lib.optim.lr_scheduler.OneCycleLR(two_groups(lib), 0.1),
    "one-cycle total": lambda lib: lib.optim.lr_scheduler.OneCycleLR(two_groups(lib), 0.1, total_steps=0),
    "one-cycle epochs": lambda lib: lib.optim.lr_scheduler.OneCycleLR(two_groups(lib), 0.1, epochs=0,
                                                                     steps_per_epoch=2),
    "one-cycle steps_per_epoch": lambda lib: lib.optim.lr_scheduler.OneCycleLR(two_groups(lib), 0.1, epochs=2,
                                                                              steps_per_epoch=1.5),
    "one-cycle pct_start": lambda lib: lib.optim.lr_scheduler.OneCycleLR(two_groups(lib), 0.1, 10, pct_start=1),
    "one-cycle anneal": lambda lib: lib.optim.lr_scheduler.OneCycleLR(two_groups(lib), 0.1, 10,
                                                                     anneal_strategy="exp"),
    "one-cycle without momentum": lambda lib: lib.optim.lr_scheduler.OneCycleLR(two_groups(lib, "Adagrad"), 0.1, 10),
    "one-cycle past its end": stepped(lambda L, o: L.OneCycleLR(o, 0.1, total_steps=3), 4),
    "sequential empty": lambda lib: lib.optim.lr_scheduler.SequentialLR(two_groups(lib), [], []),
    "sequential milestones": lambda lib: (lambda o: lib.optim.lr_scheduler.SequentialLR(
        o, [lib.optim.lr_scheduler.StepLR(o, 2)], [3]))(two_groups(lib)),
    "sequential plateau": lambda lib: (lambda o: lib.optim.lr_scheduler.SequentialLR(
        o, [lib.optim.lr_scheduler.ReduceLROnPlateau(o)], []))(two_groups(lib)),
    "sequential other optimizer": lambda lib: lib.optim.lr_scheduler.SequentialLR(
        two_groups(lib), [lib.optim.lr_scheduler.StepLR(two_groups(lib), 2)], []),
    "chained empty": lambda lib: lib.optim.lr_scheduler.ChainedScheduler([]),
    "chained non-scheduler": lambda lib: lib.optim.lr_scheduler.ChainedScheduler([object()], two_groups(lib)),
    "plateau factor": lambda lib: lib.optim.lr_scheduler.ReduceLROnPlateau(two_groups(lib), factor=1.0),
    "plateau mode": lambda lib: lib.optim.lr_scheduler.ReduceLROnPlateau(two_groups(lib), mode="avg"),
    "plateau threshold mode": lambda lib: lib.optim.lr_scheduler.ReduceLROnPlateau(two_groups(lib),
                                                                                  threshold_mode="pct"),
    "plateau min_lrs": lambda lib: lib.optim.lr_scheduler.ReduceLROnPlateau(two_groups(lib), min_lr=[0.1]),
    "plateau, a group added": plateau_with_a_new_group,
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_match_torch(name):
    ours, theirs = outcomes(gw, ERRORS[name]), outcomes(torch, ERRORS[name])
    assert isinstance(theirs[0], tuple) and theirs[0][0].endswith("Error"), theirs    # the case does fail
    assert ours == theirs


def scheduler_first(lib):
    sched = lib.optim.lr_scheduler.StepLR(two_groups(lib), 2)
    sched.step()
    sched.optimizer.step()
    sched.step()


def optimizer_step_replaced(lib):
    opt = two_groups(lib)
    sched = lib.optim.lr_scheduler.ExponentialLR(opt, 0.5)
    opt.step = lambda closure=None: None
    opt.step()
    sched.step()


def get_lr_outside_step(lib):
    return lib.optim.lr_scheduler.CosineAnnealingLR(two_groups(lib), T_max=4).get_lr()


WARNINGS = {"scheduler stepped first": scheduler_first, "optimizer step replaced": optimizer_step_replaced,
            "get_lr outside step": get_lr_outside_step,
            "the right order": stepped(lambda L, o: L.StepLR(o, 2), 3),
            "plateau with an epoch": lambda lib: lib.optim.lr_scheduler.ReduceLROnPlateau(two_groups(lib)).step(1.0, 5),
            "warm restarts with an epoch (no warning)": lambda lib: lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(
                two_groups(lib), 3).step(1.5)}


@pytest.mark.parametrize("name", list(WARNINGS))
def test_warnings_match_torch(name):
    ours, theirs = outcomes(gw, WARNINGS[name]), outcomes(torch, WARNINGS[name])
    assert_same(ours, theirs)


def test_multistep_milestones_are_counted_as_torch():
    opt = two_groups(gw)
    assert gw.optim.lr_scheduler.MultiStepLR(opt, [4, 2, 4]).milestones == Counter({4: 2, 2: 1})


@pytest.mark.parametrize("case", ["OneCycleLR", "ReduceLROnPlateau-training-loss", "CyclicLR-triangular2-Adam-betas"])
def test_a_scheduled_training_step_is_one_request(counter, case):
    """A scheduler only rewrites Python floats in the param groups, so it adds no request (a tensor metric for
    ReduceLROnPlateau, the loss, is read by the request that runs the step)."""
    opt_name, options, make, stepper = CASES[case]
    m = gw.nn.Sequential(gw.nn.Linear(5, 16), gw.nn.ReLU(), gw.nn.Linear(16, 3))
    opt = getattr(gw.optim, opt_name)([{"params": m[0].parameters()}, {"params": m[2].parameters()}], lr=0.01,
                                      **options)
    sched = make(gw.optim.lr_scheduler, opt)
    x, y = gw.tensor(X, dtype=gw.float32), gw.tensor(Y)
    for k in range(6):
        if k == 2:
            counter.reset()
        opt.zero_grad()
        loss = gw.nn.functional.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        (stepper or step_with())(sched, k, loss, gw)
    assert sum(counter.calls.values()) == 4, counter.calls       # steps 2..5: one request each
