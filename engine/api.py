"""Entry points: evaluate, gradient, jvp, jacobian, hessian, check_gradients — each prepares (cached) then runs a plan."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from gradwire.core.dtypes import DTYPES

from . import autodiff, compiled
from .errors import GraphError, LimitError
from .executor import Anomaly, Plan, PlanCache, compile_plan
from .graph import Graph, Node
from .infer import Checked, infer
from .limits import Limits
from .registry import Aval

CACHE = PlanCache()
DEFAULT_LIMITS = Limits()
_TANGENT = "\x00tangent{}"   # reserved placeholder names for values the engine feeds itself
_SEED = "\x00seed"


@dataclass(slots=True)
class EvalResult:
    values: list
    anomaly: Anomaly | None
    cache_hit: bool


@dataclass(slots=True)
class GradResult:
    values: list
    gradients: list
    unused: list
    extra: list
    grad_graph: Graph | None
    gradient_nodes: list | None
    anomaly: Anomaly | None
    cache_hit: bool


@dataclass(slots=True)
class JvpResult:
    values: list
    tangents: list
    anomaly: Anomaly | None
    cache_hit: bool


@dataclass
class GradCheck:
    node: int
    max_abs_error: float
    max_rel_error: float
    ok: bool
    analytic: np.ndarray
    numeric: np.ndarray


_DTYPE_NAMES = {np.dtype(n): n for n in DTYPES}  # a dict lookup: dtype.name costs ~2 µs a call


def _signature(inputs: Mapping[str, np.ndarray], limits: Limits) -> tuple:
    """(name, shape, dtype) of each input: part of every plan's cache key, so kept cheap."""
    sig = []
    for name, a in inputs.items():
        if not isinstance(a, np.ndarray):
            raise GraphError(f"input '{name}' is not an array")
        dt = _DTYPE_NAMES.get(a.dtype)
        if dt is None:
            raise GraphError(f"input '{name}' has dtype {a.dtype.name}; supported: {', '.join(DTYPES)}")
        if a.size > limits.max_tensor_elements:
            raise LimitError(f"input '{name}' has {a.size} elements; the limit is {limits.max_tensor_elements}")
        sig.append((name, a.shape, dt))
    if len(sig) > 1:
        sig.sort()
    return tuple(sig)


def _known_sig(known: Mapping[int, np.ndarray] | None) -> tuple:
    if not known:
        return ()
    return tuple(sorted((int(k), v.shape, v.dtype.name) for k, v in known.items()))


def _ids(graph: Graph, ids: Sequence[int], what: str) -> tuple[int, ...]:
    n = len(graph.nodes)
    for i in ids:
        if not 0 <= i < n:
            raise GraphError(f"{what} {i} is not a node id (the graph has {n} nodes)")
    return ids if type(ids) is tuple and all(type(i) is int for i in ids) else tuple(int(i) for i in ids)


def _check(graph, inputs, known, limits) -> Checked:
    feeds = {k: Aval(v.shape, v.dtype.name) for k, v in inputs.items()}
    kn = {int(k): Aval(v.shape, v.dtype.name) for k, v in (known or {}).items()}
    checked = infer(graph, feeds, kn, limits)
    _check_extents(checked, 0, limits)
    return checked


def _check_extents(checked: Checked, start: int, limits: Limits) -> None:
    """A zero-size value still has a shape NumPy must represent: the product of its nonzero
    dimensions (its extent) obeys the element limit too, in exact integer arithmetic. This keeps
    shapes like (2**62, 2**62, 0), which NumPy cannot build, away from every kernel."""
    for i in range(start, len(checked.avals)):
        shape = checked.avals[i].shape
        if 0 in shape and math.prod(d or 1 for d in shape) > limits.max_intermediate_elements:
            raise LimitError(f"result would have shape {list(shape)}: no elements, but its nonzero "
                             f"dimensions multiply past the limit of "
                             f"{limits.max_intermediate_elements} elements", i, checked.nodes[i].op)


def _check_growth(checked: Checked, start: int, limits: Limits) -> None:
    """Nodes appended by a transform obey the same limits as the caller's."""
    if len(checked.nodes) > limits.max_nodes * 4:
        raise LimitError(f"the derivative graph would have {len(checked.nodes)} nodes; the limit is "
                         f"{limits.max_nodes * 4}")
    _check_extents(checked, start, limits)
    for i in range(start, len(checked.avals)):
        if checked.avals[i].size > limits.max_intermediate_elements:
            raise LimitError(f"an intermediate of the derivative would have {checked.avals[i].size} elements",
                             i, checked.nodes[i].op)


def _add_placeholders(checked: Checked, avals: Sequence[Aval], names: Sequence[str]) -> tuple[Checked, list[int]]:
    nodes, vals = list(checked.nodes), list(checked.avals)
    ids = []
    for aval, name in zip(avals, names):
        ids.append(len(nodes))
        nodes.append(Node("placeholder", (), {"name": name}))
        vals.append(aval)
    return Checked(nodes, vals), ids


def _check_peak(plan: Plan, limits: Limits, what: str) -> Plan:
    if plan.peak_elements > limits.max_total_elements:
        raise LimitError(f"the {what} would hold {plan.peak_elements} computed elements at once; the limit is "
                         f"{limits.max_total_elements}")
    return plan


class _Memo:
    """What a Graph object was last asked and the prepared plan that answered: the same call again on the same
    graph object skips building and hashing the cache key (for the seed example that was most of the time)."""

    __slots__ = ("kind", "ids", "limits", "feeds", "entry")

    def __init__(self, kind, ids, limits, inputs, entry):
        self.kind, self.ids, self.limits, self.entry = kind, ids, limits, entry
        self.feeds = tuple((name, a.shape, a.dtype) for name, a in inputs.items())


def _snapshot(ids: tuple):
    """A copy of the caller's id lists to compare the next call's with (None when they are not plain lists)."""
    for x in ids:
        if x is not None and type(x) is not list and type(x) is not tuple:
            return None
    return tuple(x if x is None else x[:] for x in ids)


def _repeat(graph: Graph, kind: str, ids: tuple, inputs, known, limits, hot: bool):
    """The prepared plan when this call repeats the graph's last one (same ids, limits, input shapes and
    dtypes, no known values) and the plan is still cached; else None. Counts the hit as `_cached` does."""
    m = graph.memo
    if m is None or m.kind != kind or known or m.limits is not limits or m.ids != ids \
            or len(inputs) != len(m.feeds):
        return None
    for name, shape, dt in m.feeds:
        a = inputs.get(name)
        if type(a) is not np.ndarray or a.shape != shape or a.dtype != dt:
            return None
    if not CACHE.refresh(m.entry):
        return None
    prepared = m.entry.value
    if prepared[0].tier is None:   # (once its compilation is asked for, hits no longer matter)
        _tier(prepared, hot)
    return prepared


def _cached(key, graph: Graph, build: Callable[..., tuple], *args, hot: bool = False, memo=None):
    """The prepared plan for `key`; `build(*args)` (validation, transforms, compile) runs on a miss only.
    Taking the builder's arguments rather than a closure keeps the cache-hit path free of allocations.
    Hits are counted: a hot plan (or one whose request says `hot`) compiles in the background (compiled.py).
    `memo`: (kind, ids, inputs, limits) to remember on the graph object for `_repeat` (calls with known
    values are not remembered: their plans expect those values)."""
    entry = CACHE.entry(key)
    if entry is not None:
        hit, found = entry.value, True
        _tier(hit, hot)
    else:
        hit, found = build(*args), False
        entry = CACHE.put(key, hit, graph.hash(), hit[0].compile_seconds)
        if type(hit[0]) is Plan:
            hit[0].graph_hash = graph.hash()
            if hot or compiled.synchronous:
                compiled.submit(hit[0])
    if memo is not None:
        kind, ids, inputs, limits = memo
        ids = _snapshot(ids)
        if ids is not None:
            graph.memo = _Memo(kind, ids, limits, inputs, entry)
    return hit, found


def _tier(prepared: tuple, hot: bool) -> None:
    if type(prepared[0]) is Plan:   # (Jacobian sweeps run plans of their own: not tiered)
        compiled.touch(prepared[0])
        if (hot or compiled.synchronous) and prepared[0].tier is None:
            compiled.submit(prepared[0])


def _key(*ids) -> tuple:
    """Node-id lists as hashable tuples; they are range-checked by the build on a cache miss."""
    return tuple(None if x is None else tuple(x) for x in ids)


# evaluate ---------------------------------------------------------------------------------------
def _build_eval(graph, inputs, known, limits, outputs):
    outputs = _ids(graph, outputs, "output")
    checked = _check(graph, inputs, known, limits)
    return (_check_peak(compile_plan(checked, outputs, list(known or ())), limits, "evaluation"),)


def evaluate(graph: Graph, inputs: Mapping[str, np.ndarray], outputs: Sequence[int], *, known=None,
             limits: Limits | None = None, anomaly: bool = False, cancel=None, hot: bool = False,
             into=None) -> EvalResult:
    """into(k, shape, dtype) -> array or None: where to compute output k, when a fused group computes it
    (Plan.run); the values returned are then those arrays."""
    limits = limits or DEFAULT_LIMITS
    ids = (outputs,)
    prepared = _repeat(graph, "eval", ids, inputs, known, limits, hot)
    if prepared is not None:
        hit = True
    else:
        key = ("eval", graph.hash(), _key(outputs), _signature(inputs, limits), _known_sig(known), limits)
        prepared, hit = _cached(key, graph, _build_eval, graph, inputs, known, limits, outputs, hot=hot,
                                memo=None if known else ("eval", ids, inputs, limits))
    (plan,) = prepared
    values, found = plan.run(inputs, known, cancel, anomaly, into)
    return EvalResult(values, found, hit)


# gradient ---------------------------------------------------------------------------------------
def _build_grad(graph, inputs, known, limits, outputs, wrt, seeds, extra):
    outputs, wrt, extra = _ids(graph, outputs, "output"), _ids(graph, wrt, "wrt node"), _ids(graph, extra, "extra")
    seeds = None if not seeds else _ids(graph, seeds, "seed")
    checked = _check(graph, inputs, known, limits)
    ext, grads, unused = autodiff.vjp(checked, outputs, wrt, seeds)
    _check_growth(ext, len(graph), limits)
    plan = compile_plan(ext, outputs + tuple(grads) + extra, list(known or ()), forward_nodes=len(graph))
    return _check_peak(plan, limits, "derivative computation"), ext, grads, unused, len(outputs)


def gradient(graph: Graph, inputs: Mapping[str, np.ndarray], outputs: Sequence[int], wrt: Sequence[int], *,
             seeds: Sequence[int] | None = None, create_graph: bool = False, extra: Sequence[int] = (),
             known=None, limits: Limits | None = None, anomaly: bool = False, cancel=None,
             hot: bool = False, into=None) -> GradResult:
    """into(k, shape, dtype): as evaluate's, k counting the outputs, then the gradients, then extra."""
    limits = limits or DEFAULT_LIMITS
    ids = (outputs, wrt, seeds, extra)
    prepared = _repeat(graph, "grad", ids, inputs, known, limits, hot)
    if prepared is not None:
        hit = True
    else:
        key = ("grad", graph.hash(), _key(outputs, wrt, seeds or None, extra), _signature(inputs, limits),
               _known_sig(known), limits)
        prepared, hit = _cached(key, graph, _build_grad, graph, inputs, known, limits, outputs, wrt, seeds, extra,
                                hot=hot, memo=None if known else ("grad", ids, inputs, limits))
    plan, ext, grads, unused, n = prepared
    values, found = plan.run(inputs, known, cancel, anomaly, into)
    m = len(grads)
    return GradResult(values[:n], values[n:n + m], list(unused), values[n + m:],
                      Graph(ext.nodes) if create_graph else None, list(grads) if create_graph else None, found, hit)


# jvp --------------------------------------------------------------------------------------------
def _prepare_jvp(graph, inputs, known, limits, outputs, primals, tangent_avals):
    checked = _check(graph, inputs, known, limits)
    for p, t in zip(primals, tangent_avals):
        a = checked.avals[p]
        if t.shape != a.shape:
            raise GraphError(f"tangent has shape {list(t.shape)}, but the primal has {list(a.shape)}",
                             p, checked.nodes[p].op)
    names = [_TANGENT.format(k) for k in range(len(primals))]
    withtan, tids = _add_placeholders(checked, [Aval(checked.avals[p].shape, checked.avals[p].dtype)
                                                for p in primals], names)
    ext, touts = autodiff.jvp(withtan, outputs, primals, tids)
    _check_growth(ext, len(graph), limits)
    plan = compile_plan(ext, tuple(outputs) + tuple(touts), list(known or ()), forward_nodes=len(graph))
    dtypes = [np.dtype(checked.avals[p].dtype) for p in primals]
    return _check_peak(plan, limits, "derivative computation"), names, dtypes


def jvp(graph: Graph, inputs: Mapping[str, np.ndarray], outputs: Sequence[int], primals: Sequence[int],
        tangents: Sequence[np.ndarray], *, known=None, limits: Limits | None = None, anomaly: bool = False,
        cancel=None, hot: bool = False) -> JvpResult:
    limits = limits or DEFAULT_LIMITS
    outputs, primals = _ids(graph, outputs, "output"), _ids(graph, primals, "primal")
    if len(tangents) != len(primals):
        raise GraphError(f"{len(tangents)} tangents given for {len(primals)} primals")
    tsig = _signature({str(k): t for k, t in enumerate(tangents)}, limits)
    key = ("jvp", graph.hash(), outputs, primals, tsig, _signature(inputs, limits), _known_sig(known), limits)
    tavals = [Aval(t.shape, t.dtype.name) for t in tangents]
    (plan, names, dtypes), hit = _cached(key, graph, _prepare_jvp, graph, inputs, known, limits, outputs, primals,
                                         tavals, hot=hot)
    feeds = dict(inputs)
    for name, t, dt in zip(names, tangents, dtypes):
        feeds[name] = t.astype(dt, copy=False)
    values, found = plan.run(feeds, known, cancel, anomaly)
    n = len(outputs)
    return JvpResult(values[:n], values[n:], found, hit)
