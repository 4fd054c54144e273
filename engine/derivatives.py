"""Whole derivative objects built from the transforms: Jacobians (both modes), Hessians, finite-difference checks."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from . import autodiff
from .api import (DEFAULT_LIMITS, _SEED, _TANGENT, GradCheck, _add_placeholders, _cached, _check, _check_growth,
                  _check_peak, _ids, _known_sig, _signature, evaluate, gradient)
from .dtypes import FLOATS
from .errors import GraphError, LimitError
from .executor import compile_plan
from .graph import Graph
from .limits import Limits
from .registry import Aval


def _result_bytes(out_size: int, wrt_sizes: Sequence[int], itemsize: int, limits: Limits, what: str) -> None:
    need = out_size * sum(wrt_sizes) * itemsize
    if need > limits.jacobian_memory_bytes:
        raise LimitError(f"the {what} would take {need} bytes; the limit is {limits.jacobian_memory_bytes}")


def _prepare_rows(graph, inputs, known, limits, output, wrt):
    """A gradient plan whose seed is a placeholder: one run per output element gives one Jacobian row."""
    checked = _check(graph, inputs, known, limits)
    a = checked.avals[output]
    withseed, (sid,) = _add_placeholders(checked, [a], [_SEED])
    ext, grads, _ = autodiff.vjp(withseed, [output], wrt, [sid])
    _check_growth(ext, len(graph), limits)
    plan = compile_plan(ext, (output,) + tuple(grads), list(known or ()), forward_nodes=len(graph))
    return _check_peak(plan, limits, "derivative computation"), a, [checked.avals[w] for w in wrt]


def _one_hots(avals: Sequence[Aval]):
    """Yield (k, c, arrays): arrays[k] holds the c-th unit vector of avals[k]'s shape, the others zeros.
    The buffers are reused from one step to the next."""
    arrays = [np.zeros(a.shape, a.dtype) for a in avals]
    for k, a in enumerate(avals):
        flat = arrays[k].reshape(-1)
        for c in range(a.size):
            flat[c] = 1
            yield k, c, arrays
            flat[c] = 0


def jacobian(graph: Graph, inputs: Mapping[str, np.ndarray], output: int, wrt: Sequence[int], *,
             mode: str = "auto", known=None, limits: Limits | None = None, cancel=None):
    """jac[k] has shape output.shape + wrt[k].shape: one VJP per output element (reverse) or one JVP per
    input element (forward), each a run of one cached plan."""
    limits = limits or DEFAULT_LIMITS
    (output,), wrt = _ids(graph, [output], "output"), _ids(graph, wrt, "wrt node")
    if mode not in ("auto", "reverse", "forward"):
        raise GraphError(f"unknown Jacobian mode '{mode}'")
    checked = _check(graph, inputs, known, limits)
    out_aval, wrt_avals = checked.avals[output], [checked.avals[w] for w in wrt]
    m, sizes = out_aval.size, [w.size for w in wrt_avals]
    dtype = np.dtype(out_aval.dtype if out_aval.dtype in FLOATS else "float32")
    _result_bytes(m, sizes, dtype.itemsize, limits, "Jacobian")
    if mode == "auto":
        mode = "reverse" if m <= sum(sizes) else "forward"
    jacs = [np.zeros((m, s), dtype) for s in sizes]
    value = None
    if mode == "reverse":
        key = ("jac-rows", graph.hash(), output, wrt, _signature(inputs, limits), _known_sig(known), limits)
        (plan, _, _), _ = _cached(key, lambda: _prepare_rows(graph, inputs, known, limits, output, wrt), graph)
        for _, r, (seed,) in _one_hots([out_aval]):
            vals, _ = plan.run({**inputs, _SEED: seed}, known, cancel)
            value = vals[0]
            for k, g in enumerate(vals[1:]):
                jacs[k][r] = g.reshape(-1)
    else:
        for k, c, tangents in _one_hots(wrt_avals):
            value, t = _jvp_run(graph, inputs, known, limits, output, wrt, tangents, cancel)
            jacs[k][:, c] = t.reshape(-1)
    if value is None:  # nothing to differentiate (an empty output or inputs)
        value = evaluate(graph, inputs, [output], known=known, limits=limits, cancel=cancel).values[0]
    return value, [j.reshape(out_aval.shape + w.shape) for j, w in zip(jacs, wrt_avals)]


def _jvp_run(graph, inputs, known, limits, output, primals, tangents, cancel):
    from .api import jvp
    r = jvp(graph, inputs, [output], primals, tangents, known=known, limits=limits, cancel=cancel)
    return r.values[0], r.tangents[0]


def _prepare_hessian(graph, inputs, known, limits, output, wrt):
    """Forward over reverse: the JVP of the gradient graph gives one Hessian column per run."""
    checked = _check(graph, inputs, known, limits)
    if checked.avals[output].size != 1:
        raise GraphError("the Hessian needs a single-element output", output, checked.nodes[output].op)
    ext, grads, _ = autodiff.vjp(checked, [output], wrt, None)
    names = [_TANGENT.format(k) for k in range(len(wrt))]
    withtan, tids = _add_placeholders(ext, [checked.avals[w] for w in wrt], names)
    full, touts = autodiff.jvp(withtan, grads, wrt, tids)
    _check_growth(full, len(graph), limits)
    plan = compile_plan(full, (output,) + tuple(touts), list(known or ()), forward_nodes=len(graph))
    plan = _check_peak(plan, limits, "derivative computation")
    return plan, names, [checked.avals[w] for w in wrt], checked.avals[output]


def hessian(graph: Graph, inputs: Mapping[str, np.ndarray], output: int, wrt: Sequence[int], *, known=None,
            limits: Limits | None = None, cancel=None):
    """blocks[i * len(wrt) + j] has shape wrt[i].shape + wrt[j].shape."""
    limits = limits or DEFAULT_LIMITS
    (output,), wrt = _ids(graph, [output], "output"), _ids(graph, wrt, "wrt node")
    key = ("hess", graph.hash(), output, wrt, _signature(inputs, limits), _known_sig(known), limits)
    (plan, names, avals, out_aval), _ = _cached(
        key, lambda: _prepare_hessian(graph, inputs, known, limits, output, wrt), graph)
    sizes = [a.size for a in avals]
    dtype = np.dtype(out_aval.dtype if out_aval.dtype in FLOATS else "float32")
    _result_bytes(sum(sizes), sizes, dtype.itemsize, limits, "Hessian")
    cols = [[np.zeros((si, sj), dtype) for sj in sizes] for si in sizes]
    value = None
    for j, c, tangents in _one_hots(avals):
        vals, _ = plan.run({**inputs, **dict(zip(names, tangents))}, known, cancel)
        value = vals[0]
        for i, t in enumerate(vals[1:]):
            cols[i][j][:, c] = t.reshape(-1)
    if value is None:
        value = evaluate(graph, inputs, [output], known=known, limits=limits, cancel=cancel).values[0]
    blocks = [cols[i][j].reshape(avals[i].shape + avals[j].shape) for i in range(len(avals)) for j in range(len(avals))]
    return value, blocks


def check_gradients(graph: Graph, inputs: Mapping[str, np.ndarray], output: int, wrt: Sequence[int], *,
                    eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, limits: Limits | None = None,
                    cancel=None):
    """Reverse mode vs float64 central differences; returns (all ok, one GradCheck per wrt node)."""
    limits = limits or DEFAULT_LIMITS
    inputs64 = {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in inputs.items()}
    res = gradient(graph, inputs64, [output], wrt, limits=limits, cancel=cancel)
    if res.values[0].size != 1:
        raise GraphError("gradient check needs a single-element output", output, graph[output].op)
    base = evaluate(graph, inputs64, list(wrt), limits=limits, cancel=cancel).values
    total = sum(b.size for b in base)
    if total > limits.max_check_elements:
        raise LimitError(f"a finite-difference check of {total} elements exceeds the limit of "
                         f"{limits.max_check_elements}")
    results, all_ok = [], True
    for w, v, analytic in zip(wrt, base, res.gradients):
        if v.dtype.kind != "f":
            raise GraphError(f"cannot differentiate with respect to a {v.dtype.name} node", w, graph[w].op)
        x = np.array(v, dtype=np.float64)
        flat = x.reshape(-1)
        numeric = np.zeros_like(flat)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            hi = evaluate(graph, inputs64, [output], known={w: x.astype(v.dtype)}, limits=limits, cancel=cancel)
            flat[i] = old - eps
            lo = evaluate(graph, inputs64, [output], known={w: x.astype(v.dtype)}, limits=limits, cancel=cancel)
            flat[i] = old
            numeric[i] = (float(hi.values[0].reshape(())) - float(lo.values[0].reshape(()))) / (2 * eps)
        numeric = numeric.reshape(v.shape)
        a = np.asarray(analytic, np.float64)
        err = np.abs(a - numeric)
        abs_err = float(err.max()) if err.size else 0.0
        rel_err = float((err / np.maximum(np.abs(numeric), 1e-12)).max()) if err.size else 0.0
        ok = bool(np.allclose(a, numeric, atol=atol, rtol=rtol, equal_nan=True))
        all_ok &= ok
        results.append(GradCheck(w, abs_err, rel_err, ok, a, numeric))
    return all_ok, results
