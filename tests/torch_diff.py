"""Differential checks against PyTorch: one program run by gradwire and by torch on the same inputs.

    same_as_torch(lambda lib, x, y: lib.hypot(x, y), a, b)

runs the program with `lib` = gradwire and `lib` = torch; both must raise the same exception type with the
same message, or give outputs of the same kinds, dtypes, shapes and values (NaN equal to NaN), and the same
gradients of a random weighting of the float outputs with respect to the float inputs (second order too,
with `second_order=True`). Arrays become tensors with the array's dtype; float inputs require grad.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch

import gradwire as gw


def _tensor(lib, a, requires_grad):
    a = np.asarray(a)
    dtype = getattr(lib, "bool" if a.dtype == np.bool_ else a.dtype.name)
    t = lib.tensor(a.tolist(), dtype=dtype) if a.size else lib.zeros(a.shape, dtype=dtype)  # [] loses the shape
    if requires_grad and a.dtype.kind == "f":
        t.requires_grad_(True)
    return t


def _flat(out) -> list:
    if isinstance(out, (tuple, list)):
        return [y for x in out for y in _flat(x)]
    return [out]


def _run(lib, fn, arrays, requires_grad, second_order, seed):
    inputs = [_tensor(lib, a, requires_grad) for a in arrays]
    try:
        outs = _flat(fn(lib, *inputs))
    except Exception as e:  # noqa: BLE001  (compared with torch's)
        return ("raised", type(e).__name__, str(e).split("\n")[0])
    tensor_type = gw.Tensor if lib is gw else torch.Tensor
    values = []
    for o in outs:
        if isinstance(o, tensor_type):
            values.append(("tensor", str(o.dtype), tuple(o.shape), o.detach().numpy()))
        else:
            values.append((type(o).__name__, o))
    grads = []
    wrt = [t for t in inputs if t.requires_grad]
    diff = [o for o in outs if isinstance(o, tensor_type) and o.requires_grad]
    if wrt and diff:
        rng = np.random.default_rng(seed)
        total = sum((o * _tensor(lib, rng.uniform(0.5, 1.5, tuple(o.shape)), False).to(o.dtype)).sum()
                    for o in diff)
        grad = gw.grad if lib is gw else torch.autograd.grad
        gs = grad(total, wrt, allow_unused=True, create_graph=second_order)
        grads = [None if g is None else g.detach().numpy() for g in gs]
        if second_order:
            # Second order: a gradient that does not depend on the inputs counts as zeros (PyTorch keeps a graph
            # of zeros for relu's gradient; gradwire's has no path), so None and zeros compare equal here.
            live = [g for g in gs if g is not None and g.requires_grad]
            again = sum((g * g).sum() for g in live) if live else None
            hs = grad(again, wrt, allow_unused=True) if again is not None else [None] * len(wrt)
            grads += [np.zeros(tuple(w.shape)) if h is None else h.numpy() for h, w in zip(hs, wrt)]
    return ("ok", values, grads)


def _close(a, b, rtol, atol, what):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch's {b.shape}"
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=rtol, atol=atol,
                                   equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def same_as_torch(fn, *arrays, requires_grad=True, second_order=False, rtol=1e-6, atol=1e-6, seed=0):
    """Assert gradwire and torch agree on fn(lib, *tensors): error, or values and gradients."""
    ours = _run(gw, fn, arrays, requires_grad, second_order, seed)
    theirs = _run(torch, fn, arrays, requires_grad, second_order, seed)
    if theirs[0] == "raised" or ours[0] == "raised":
        assert ours == theirs, f"gradwire: {ours[:3] if ours[0] == 'raised' else 'no error'}; torch: {theirs}"
        return
    _, values, grads = ours
    _, t_values, t_grads = theirs
    assert len(values) == len(t_values), f"{len(values)} outputs, torch gives {len(t_values)}"
    for k, (v, t) in enumerate(zip(values, t_values)):
        assert v[0] == t[0], f"output {k}: {v[0]}, torch gives {t[0]}"
        if v[0] == "tensor":
            assert v[1:3] == t[1:3], f"output {k}: {v[1]}{list(v[2])}, torch gives {t[1]}{list(t[2])}"
            _close(v[3], t[3], rtol, atol, f"output {k}")
        elif isinstance(t[1], numbers.Number):
            _close(v[1], t[1], rtol, atol, f"output {k}")
        else:
            assert v[1] == t[1], f"output {k}"
    assert [g is None for g in grads] == [g is None for g in t_grads], \
        f"gradient presence {[g is not None for g in grads]}, torch {[g is not None for g in t_grads]}"
    for k, (g, t) in enumerate(zip(grads, t_grads)):
        if t is not None:
            _close(g, t, rtol, atol, f"gradient {k}")


def outcomes(calls) -> list:
    """Each call's result, or (exception type name, message) for one that raised: a program's observable
    behaviour, to compare between the libraries."""
    out = []
    for call in calls:
        try:
            out.append(call())
        except Exception as e:  # noqa: BLE001
            out.append((type(e).__name__, str(e)))
    return out


def same_outcomes_and_warnings(cases) -> None:
    """cases(lib) -> outcomes: equal for gradwire and torch (str of each), and so are the warnings each raised."""
    import warnings
    seen = []
    for lib in (gw, torch):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            seen.append(([str(c) for c in cases(lib)], [str(w.message) for w in caught]))
    assert seen[0] == seen[1], (seen[0], seen[1])
