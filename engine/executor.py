"""Compile a checked graph into a plan once (steps, buffer lifetimes), run it many times; plans are cached."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Mapping, Sequence

import numpy as np

from .errors import Cancelled, GraphError
from .infer import Checked
from .registry import OPS

CANCEL_EVERY = 64          # poll the caller's cancel() at least this often (in steps)
CANCEL_BIG = 1 << 16       # and after any step producing this many elements


@dataclass
class Anomaly:
    node: int
    op: str
    phase: str
    message: str


@dataclass
class Step:
    fn: Callable
    inputs: tuple[int, ...]
    out: int
    dtype: np.dtype
    free: tuple[int, ...]   # buffers whose last use is this step
    poll: bool              # check for cancellation after this step


@dataclass
class Plan:
    """Straight-line program over value slots; slots die right after their last use."""

    n: int
    steps: list[Step]
    placeholders: dict[str, int]     # name -> slot
    constants: dict[int, np.ndarray]
    outputs: tuple[int, ...]
    ops: list[str]                   # op name per node (for messages)
    forward_nodes: int               # nodes below this id belong to the forward pass
    compile_seconds: float = 0.0
    float_steps: frozenset = field(default_factory=frozenset)

    def run(self, feeds: Mapping[str, np.ndarray], known: Mapping[int, np.ndarray] | None = None,
            cancel: Callable[[], bool] | None = None, anomaly: bool = False):
        vals: list = [None] * self.n
        for slot, v in self.constants.items():
            vals[slot] = v
        for name, slot in self.placeholders.items():
            vals[slot] = feeds[name]
        if known:
            for slot, v in known.items():
                vals[slot] = v
        found = None
        with np.errstate(all="ignore"):  # NaN/Inf are values, not warnings
            for st in self.steps:
                try:
                    r = st.fn(*[vals[j] for j in st.inputs])
                except IndexError as e:  # data-dependent: an index out of range
                    raise GraphError(str(e), st.out, self.ops[st.out]) from None
                if type(r) is not np.ndarray or r.dtype != st.dtype:
                    r = np.asarray(r, dtype=st.dtype)
                vals[st.out] = r
                for j in st.free:
                    vals[j] = None
                if anomaly and found is None and st.out in self.float_steps and not np.isfinite(r).all():
                    found = self._anomaly(st.out, r)
                if st.poll and cancel is not None and cancel():
                    raise Cancelled("the call was cancelled or its deadline passed while computing",
                                    st.out, self.ops[st.out])
        return [vals[o] for o in self.outputs], found

    def _anomaly(self, node: int, r: np.ndarray) -> Anomaly:
        phase = "forward" if node < self.forward_nodes else "backward"
        what = "NaN" if np.isnan(r).any() else "Inf"
        return Anomaly(node, self.ops[node], phase, f"node {node} ({self.ops[node]}) produced {what} "
                                                    f"in the {phase} pass")


def compile_plan(checked: Checked, outputs: Sequence[int], known: Sequence[int] = (),
                 forward_nodes: int | None = None) -> Plan:
    t0 = time.perf_counter()
    nodes, avals = checked.nodes, checked.avals
    n = len(nodes)
    known_set = set(known)
    # Which nodes are needed: reverse sweep from the outputs, stopping at values we are given.
    need = [False] * n
    for o in outputs:
        need[o] = True
    for i in range(n - 1, -1, -1):
        if need[i] and i not in known_set:
            for j in nodes[i].inputs:
                need[j] = True
    last_use: dict[int, int] = {}
    for i in range(n):
        if need[i] and i not in known_set:
            for j in nodes[i].inputs:
                last_use[j] = i
    keep = set(outputs)
    frees: dict[int, list[int]] = {}
    for j, i in last_use.items():
        if j not in keep:
            frees.setdefault(i, []).append(j)
    steps, placeholders, constants = [], {}, {}
    since_poll = 0
    float_steps = set()
    for i in range(n):
        if not need[i] or i in known_set:
            continue
        node = nodes[i]
        if node.op == "placeholder":
            placeholders[node.attrs["name"]] = i
            continue
        if node.op == "constant":
            constants[i] = node.attrs["value"]
            continue
        impl = OPS[node.op].impl
        fn = partial(impl, **node.attrs) if node.attrs else impl
        since_poll += 1
        poll = since_poll >= CANCEL_EVERY or avals[i].size >= CANCEL_BIG or i == n - 1
        if poll:
            since_poll = 0
        if avals[i].dtype in ("float32", "float64"):
            float_steps.add(i)
        steps.append(Step(fn, node.inputs, i, np.dtype(avals[i].dtype), tuple(frees.get(i, ())), poll))
    if steps:
        steps[-1].poll = True
    return Plan(n, steps, placeholders, constants, tuple(outputs), [nd.op for nd in nodes],
                n if forward_nodes is None else forward_nodes, time.perf_counter() - t0, frozenset(float_steps))


class PlanCache:
    """Bounded LRU of prepared plans, safe under concurrent requests."""

    def __init__(self, capacity: int = 512):
        self.capacity = capacity
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.compile_seconds: OrderedDict[str, float] = OrderedDict()

    def get(self, key):
        with self._lock:
            v = self._items.get(key)
            if v is not None:
                self._items.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return v

    def put(self, key, value, graph_hash: str = "", seconds: float = 0.0):
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
            if graph_hash:
                self.compile_seconds[graph_hash] = seconds
                self.compile_seconds.move_to_end(graph_hash)
                while len(self.compile_seconds) > self.capacity:
                    self.compile_seconds.popitem(last=False)

    def stats(self) -> dict:
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "size": len(self._items),
                    "capacity": self.capacity, "compile_seconds_by_hash": dict(self.compile_seconds)}

    def clear(self):
        with self._lock:
            self._items.clear()
