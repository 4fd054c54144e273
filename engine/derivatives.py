"""Whole derivative objects built from the transforms: Jacobians (both modes), Hessians, finite-difference checks."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from gradwire.core.dtypes import FLOATS

from . import autodiff, batching
from .api import (DEFAULT_LIMITS, _SEED, _TANGENT, GradCheck, _add_placeholders, _cached, _check, _check_growth,
                  _check_peak, _ids, _known_sig, _signature, evaluate, gradient)
from .errors import GraphError, LimitError
from .executor import compile_plan
from .graph import Graph
from .infer import Checked
from .limits import Limits


def _result_bytes(out_size: int, wrt_sizes: Sequence[int], itemsize: int, limits: Limits, what: str) -> int:
    """Bytes left for the working chunk once the result is allocated."""
    need = out_size * sum(wrt_sizes) * itemsize
    if need > limits.jacobian_memory_bytes:
        raise LimitError(f"the {what} would take {need} bytes; the limit is {limits.jacobian_memory_bytes}")
    return limits.jacobian_memory_bytes - need


class _Sweep:
    """A derivative assembled from unit vectors (Jacobian rows or columns, Hessian columns), C at a time.
    The vector placeholders are batched (`batching.batch`) to a leading axis of C, so one plan run gives C
    rows or columns. Only the nodes that depend on the vectors run per chunk: the forward pass and everything
    else that does not change between chunks run once, and reach the per-chunk plan as known values."""

    def __init__(self, ext: Checked, primal: int, outputs: Sequence[int], vector_ids: Sequence[int],
                 names: Sequence[str], known: Sequence[int], limits: Limits, n_forward: int, chunk: int):
        self.out_ndims = [ext.avals[o].ndim for o in outputs]  # an output that does not vary stays unbatched
        ext, ids = batching.batch(ext, {v: chunk for v in vector_ids}, [primal, *outputs, *vector_ids])
        _check_growth(ext, n_forward, limits)
        primal, outputs, vector_ids = ids[0], ids[1:1 + len(outputs)], ids[1 + len(outputs):]
        nodes = ext.nodes
        varies = [False] * len(nodes)
        for v in vector_ids:
            varies[v] = True
        for i, node in enumerate(nodes):
            if not varies[i] and any(varies[j] for j in node.inputs):
                varies[i] = True
        boundary = {o for o in outputs if not varies[o]}
        for i, node in enumerate(nodes):
            if varies[i]:
                boundary.update(j for j in node.inputs if not varies[j])
        self.boundary = (primal,) + tuple(sorted(boundary - {primal}))
        self.names = list(names)
        self.chunk = chunk
        self.once = _check_peak(compile_plan(ext, self.boundary, list(known), forward_nodes=n_forward),
                                limits, "derivative computation")
        self.each = _check_peak(compile_plan(ext, tuple(outputs), list(known) + list(self.boundary),
                                             forward_nodes=n_forward), limits, "derivative computation")
        self.avals = [ext.avals[v] for v in vector_ids]
        self.compile_seconds = self.once.compile_seconds + self.each.compile_seconds

    def run(self, inputs, known, cancel):
        """Yield (value of the primal, start, count, per-chunk outputs): outputs[k][r] belongs to unit vector
        start + r (the unit vectors of all vector placeholders, numbered one after the other), for r < count."""
        shared, _ = self.once.run(inputs, known, cancel)
        given = {**(known or {}), **dict(zip(self.boundary, shared))}
        C = self.chunk
        sizes = [a.size // C for a in self.avals]
        n = sum(sizes)
        eye = np.zeros((C, n))
        for start in range(0, n, C):
            count = min(C, n - start)
            eye[:] = 0
            eye[np.arange(count), start + np.arange(count)] = 1
            parts = np.split(eye, np.cumsum(sizes)[:-1], axis=1)
            vectors = [p.reshape(a.shape).astype(a.dtype) for p, a in zip(parts, self.avals)]
            outs, _ = self.each.run({**inputs, **dict(zip(self.names, vectors))}, given, cancel)
            outs = [o if o.ndim > nd else np.broadcast_to(o, (C,) + o.shape) for o, nd in zip(outs, self.out_ndims)]
            yield shared[0], start, count, outs


def _chunked(ext: Checked, primal: int, outputs, vector_ids, names, known, limits: Limits, n_forward: int,
             itemsize: int, room: int) -> _Sweep:
    """The sweep with the largest chunk whose per-chunk plan keeps its peak under `room` bytes (what the
    Jacobian memory limit leaves beside the result): all vectors at once if that fits, else a chunk estimated
    from the peaks at 1 and at all, halved until it fits (1 at the least)."""
    n = sum(ext.avals[v].size for v in vector_ids)
    budget = room // max(itemsize, 1)

    def build(c):
        try:
            return _Sweep(ext, primal, outputs, vector_ids, names, known, limits, n_forward, c)
        except LimitError:
            if c == 1:
                raise
            return None

    whole = build(max(n, 1))
    if whole is not None and whole.each.peak_elements <= budget:
        return whole
    one = build(1)
    if n <= 1 or one.each.peak_elements >= budget:
        return one
    per = (whole.each.peak_elements - one.each.peak_elements) / (n - 1) if whole is not None else 0
    c = int((budget - one.each.peak_elements) / per) + 1 if per > 0 else n // 2
    c = max(1, min(c, n - 1))
    while c > 1:
        s = build(c)
        if s is not None and s.each.peak_elements <= budget:
            return s
        c //= 2
    return one


def _prepare_rows(graph, inputs, known, limits, output, wrt, itemsize, room) -> _Sweep:
    """Reverse mode: the gradient graph with a placeholder seed; the seed's unit vectors give the rows."""
    checked = _check(graph, inputs, known, limits)
    withseed, (sid,) = _add_placeholders(checked, [checked.avals[output]], [_SEED])
    ext, grads, _ = autodiff.vjp(withseed, [output], wrt, [sid])
    _check_growth(ext, len(graph), limits)
    return _chunked(ext, output, grads, [sid], [_SEED], list(known or ()), limits, len(graph), itemsize, room)


def _prepare_columns(graph, inputs, known, limits, output, wrt, itemsize, room) -> _Sweep:
    """Forward mode: tangent placeholders for every wrt node; their unit vectors give the columns."""
    checked = _check(graph, inputs, known, limits)
    names = [_TANGENT.format(k) for k in range(len(wrt))]
    withtan, tids = _add_placeholders(checked, [checked.avals[w] for w in wrt], names)
    ext, (tout,) = autodiff.jvp(withtan, [output], wrt, tids)
    _check_growth(ext, len(graph), limits)
    return _chunked(ext, output, [tout], tids, names, list(known or ()), limits, len(graph), itemsize, room)


def jacobian(graph: Graph, inputs: Mapping[str, np.ndarray], output: int, wrt: Sequence[int], *,
             mode: str = "auto", known=None, limits: Limits | None = None, cancel=None):
    """jac[k] has shape output.shape + wrt[k].shape: one VJP per output element (reverse) or one JVP per
    input element (forward), the forward pass computed once."""
    limits = limits or DEFAULT_LIMITS
    (output,), wrt = _ids(graph, [output], "output"), _ids(graph, wrt, "wrt node")
    if mode not in ("auto", "reverse", "forward"):
        raise GraphError(f"unknown Jacobian mode '{mode}'")
    checked = _check(graph, inputs, known, limits)
    out_aval, wrt_avals = checked.avals[output], [checked.avals[w] for w in wrt]
    m, sizes = out_aval.size, [w.size for w in wrt_avals]
    dtype = np.dtype(out_aval.dtype if out_aval.dtype in FLOATS else "float32")
    room = _result_bytes(m, sizes, dtype.itemsize, limits, "Jacobian")
    if mode == "auto":
        mode = "reverse" if m <= sum(sizes) else "forward"
    prepare = _prepare_rows if mode == "reverse" else _prepare_columns
    key = ("jac", mode, graph.hash(), output, wrt, _signature(inputs, limits), _known_sig(known), limits)
    (sweep,), _ = _cached(key, graph, _one, prepare, graph, inputs, known, limits, output, wrt, dtype.itemsize, room)
    n = sum(sizes)
    full = np.zeros((m, n) if mode == "reverse" else (n, m), dtype)  # forward mode fills columns as rows
    value = None
    for value, start, count, outs in sweep.run(inputs, known, cancel):
        rows = full[start:start + count]
        if mode == "reverse":
            rows[:] = np.concatenate([g[:count].reshape(count, -1) for g in outs], axis=1) if outs else 0
        else:
            rows[:] = outs[0][:count].reshape(count, -1)
    if mode == "forward":
        full = full.T
    jacs = np.split(full, np.cumsum(sizes)[:-1], axis=1) if sizes else []
    if value is None:  # nothing to differentiate (an empty output or inputs)
        value = evaluate(graph, inputs, [output], known=known, limits=limits, cancel=cancel).values[0]
    return value, [j.reshape(out_aval.shape + w.shape) for j, w in zip(jacs, wrt_avals)]


def _one(build, *args) -> tuple:
    """A sweep as the one-element tuple the plan cache holds."""
    return (build(*args),)


def _prepare_hessian(graph, inputs, known, limits, output, wrt, itemsize, room) -> _Sweep:
    """Forward over reverse: the JVP of the gradient graph gives one Hessian column per tangent vector."""
    checked = _check(graph, inputs, known, limits)
    if checked.avals[output].size != 1:
        raise GraphError("the Hessian needs a single-element output", output, checked.nodes[output].op)
    ext, grads, _ = autodiff.vjp(checked, [output], wrt, None)
    names = [_TANGENT.format(k) for k in range(len(wrt))]
    withtan, tids = _add_placeholders(ext, [checked.avals[w] for w in wrt], names)
    full, touts = autodiff.jvp(withtan, grads, wrt, tids)
    _check_growth(full, len(graph), limits)
    return _chunked(full, output, touts, tids, names, list(known or ()), limits, len(graph), itemsize, room)


def hessian(graph: Graph, inputs: Mapping[str, np.ndarray], output: int, wrt: Sequence[int], *, known=None,
            limits: Limits | None = None, cancel=None):
    """blocks[i * len(wrt) + j] has shape wrt[i].shape + wrt[j].shape."""
    limits = limits or DEFAULT_LIMITS
    (output,), wrt = _ids(graph, [output], "output"), _ids(graph, wrt, "wrt node")
    checked = _check(graph, inputs, known, limits)
    avals, out_aval = [checked.avals[w] for w in wrt], checked.avals[output]
    sizes = [a.size for a in avals]
    dtype = np.dtype(out_aval.dtype if out_aval.dtype in FLOATS else "float32")
    room = _result_bytes(sum(sizes), sizes, dtype.itemsize, limits, "Hessian")
    key = ("hess", graph.hash(), output, wrt, _signature(inputs, limits), _known_sig(known), limits)
    (sweep,), _ = _cached(key, graph, _one, _prepare_hessian, graph, inputs, known, limits, output, wrt,
                          dtype.itemsize, room)
    n = sum(sizes)
    full = [np.zeros((n, si), dtype) for si in sizes]  # full[i][c] = column c of the i-th block row
    value = None
    for value, start, count, outs in sweep.run(inputs, known, cancel):
        for i, t in enumerate(outs):
            full[i][start:start + count] = t[:count].reshape(count, -1)
    cols = [np.split(f.T, np.cumsum(sizes)[:-1], axis=1) for f in full]
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
