"""Compile a checked graph into a plan once (fused groups, bound kernels, buffer lifetimes), run it many times.

The run loop is the per-op cost of every small request, so a step is a plain tuple and the common case
(a ufunc bound at compile time, exact dtype known) is one call and one store. Rarer needs (dtype fix-up,
in-place accumulation, cancel polling, fused groups, anomaly checks) are flags on the slow branch.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from gradwire.core.linalg import LinAlgError

from . import fperr, fusion
from .errors import Cancelled, GraphError
from .graph import Node, node_bytes
from .infer import Checked
from .registry import OPS

CANCEL_EVERY = 64          # poll the caller's cancel() at least this often (in steps)
CANCEL_BIG = 1 << 16       # and after any step producing this many elements

# Step flags (0 = the fast path).
FIX = 1        # the kernel may return a scalar or another dtype: coerce
POLL = 2       # check for cancellation after this step
GROUP = 4      # a fused group: returns a tuple of outputs
INTO0 = 8      # write the result into the first operand's buffer (dead, owned by the plan)
INTO1 = 16     # ... into the second operand's
CHECK = 32     # anomaly mode: test the result for NaN/Inf
PLACE = 64     # a result whose kernel can write where the caller wants it (run's `into`): see Plan.placeable
EXTERNAL = -1  # buffer owner of inputs, constants and known values: never written

FOLD_MAX_ELEMENTS = 4096   # larger folded values are kept only if they are views (e.g. a broadcast seed)


@dataclass
class Anomaly:
    node: int
    op: str
    phase: str
    message: str


@dataclass
class Plan:
    """Straight-line program over value slots; slots die right after their last use.

    A step is (kernel, input slots, output slot(s), slots to free, flags, dtype, node id for messages).
    `steps` runs fused groups; `plain` is the same program one node at a time, used to name the first
    node producing NaN/Inf in anomaly mode (built on first use: most requests never ask). The compiled tier
    (compiled.py) may replace `steps` with an equivalent list, in one assignment, and set `whole`.
    """

    n: int
    steps: list[tuple]
    build_plain: Callable[[], list[tuple]]
    placeholders: dict[str, int]     # name -> slot
    constants: dict[int, np.ndarray]
    outputs: tuple[int, ...]
    ops: list[str]                   # op name per node (for messages)
    forward_nodes: int               # nodes below this id belong to the forward pass
    compile_seconds: float = 0.0
    groups: int = 0                  # fused groups in `steps`
    peak_elements: int = 0           # most computed elements alive at once during a run
    program: tuple | None = None     # (checked graph, units, kept ids): what compiled.py compiles `steps` from

    @property
    def plain(self) -> list[tuple]:
        if self._plain is None:
            self._plain = self.build_plain()   # a race builds it twice, harmlessly
        return self._plain

    def __post_init__(self):
        self._plain = None
        self._init = [None] * self.n
        for slot, v in self.constants.items():
            self._init[slot] = v
        self._feeds = tuple(self.placeholders.items())
        self.hits = 0                # cache hits (api.py counts them): a hot plan compiles in the background
        self.tier = None             # compiled.py's record of this plan's compilation, once one is asked for
        self.graph_hash = ""          # set by api.py: the key of the compile-time statistics
        self.whole = None            # compiled.py: (kernel, feed names, output positions) when one call is the plan
        self._result_of = {}         # slot -> its first position in `outputs` (for run's `into`)
        for k, slot in enumerate(self.outputs):
            self._result_of.setdefault(slot, k)
        self.placeable = {}          # result slot of a PLACE step -> (kernel taking out=, the result's shape)

    def run(self, feeds: Mapping[str, np.ndarray], known: Mapping[int, np.ndarray] | None = None,
            cancel: Callable[[], bool] | None = None, anomaly: bool = False, into=None):
        """The outputs' values (and the first anomaly). into(k, shape, dtype) -> array or None: where the
        caller wants result k computed (a shared-memory region): a fused group or a kernel taking out= (a ufunc,
        a matmul) computing it writes it there instead of into a fresh array. Best effort: results other
        kernels compute are not placed."""
        whole = self.whole
        if whole is not None and not anomaly and not known:   # one compiled kernel call (compiled.py)
            fn, names, pick, quiet = whole
            if quiet:    # compiled code raises no floating-point warnings
                r = fn(feeds[names[0]]) if len(names) == 1 else fn(*[feeds[k] for k in names])
            else:
                token = fperr.ignore()
                try:
                    r = fn(*[feeds[k] for k in names])
                finally:
                    fperr.restore(token)
            if cancel is not None and cancel():
                raise Cancelled("the call was cancelled or its deadline passed while computing", -1, "")
            return (list(r) if pick is None else [r[k] for k in pick]), None
        vals = self._init.copy()
        for name, slot in self._feeds:
            vals[slot] = feeds[name]
        if known:
            for slot, v in known.items():
                vals[slot] = v
        found = None
        node = -1
        token = fperr.ignore()   # NaN/Inf are values, not warnings
        try:
            for fn, ins, out, free, flags, dtype, node in (self.plain if anomaly else self.steps):
                if not flags:
                    vals[out] = fn(*[vals[j] for j in ins])
                elif flags & GROUP:
                    bufs = self._placed(fn, out, into) if into is not None else None
                    for s, r in zip(out, fn(*[vals[j] for j in ins]) if bufs is None else
                                    fn(*[vals[j] for j in ins], outs=bufs)):
                        vals[s] = r
                else:
                    args = [vals[j] for j in ins]
                    r = self._place(out, args, dtype, into) if flags & PLACE and into is not None else None
                    if r is None:
                        r = fn(*args, out=args[0]) if flags & INTO0 else fn(*args, out=args[1]) if flags & INTO1 \
                            else fn(*args)
                    if flags & FIX and (type(r) is not np.ndarray or r.dtype != dtype):
                        r = np.asarray(r, dtype=dtype)
                    vals[out] = r
                    if flags & CHECK and found is None and not np.isfinite(r).all():
                        found = self._anomaly(out, r)
                r = args = None   # no local may hold a value past its last use: `free` is what frees it
                for j in free:
                    vals[j] = None
                if flags & POLL and cancel is not None and cancel():
                    raise Cancelled("the call was cancelled or its deadline passed while computing",
                                    node, self.ops[node])
        except (IndexError, ZeroDivisionError, LinAlgError) as e:  # data-dependent: an index out of range, an int
            # x // 0, a singular matrix
            raise GraphError(str(e), node, self.ops[node]) from None
        finally:
            fperr.restore(token)
        return [vals[o] for o in self.outputs], found

    def _place(self, out, args, dtype, into):
        """A result computed straight into the buffer the caller wants it in, or None (it wants none there)."""
        kernel, shape = self.placeable[out]
        buf = into(self._result_of[out], shape, dtype)
        if buf is None or buf.shape != shape or buf.dtype != dtype or not buf.flags.writeable:
            return None
        return kernel(*args, out=buf)

    def _placed(self, fn, out, into):
        """Buffers for a fused group's outputs that are results the caller placed (None: none is)."""
        dtypes = getattr(fn, "out_dtypes", None)
        if dtypes is None or not any(s in self._result_of for s in out):
            return None
        bufs = [into(self._result_of[s], fn.shape, dt) if s in self._result_of else None
                for s, dt in zip(out, dtypes)]
        return bufs if any(b is not None for b in bufs) else None

    def _anomaly(self, node: int, r: np.ndarray) -> Anomaly:
        phase = "forward" if node < self.forward_nodes else "backward"
        what = "NaN" if np.isnan(r).any() else "Inf"
        return Anomaly(node, self.ops[node], phase, f"node {node} ({self.ops[node]}) produced {what} "
                                                    f"in the {phase} pass")


def _needed(nodes, outputs, known_set) -> list[bool]:
    """Reverse sweep from the outputs, stopping at values we are given."""
    need = [False] * len(nodes)
    for o in outputs:
        need[o] = True
    for i in range(len(nodes) - 1, -1, -1):
        if need[i] and i not in known_set:
            for j in nodes[i].inputs:
                need[j] = True
    return need


def _build_steps(checked: Checked, units: Sequence[Sequence[int]], keep: set[int], anomaly: bool) -> list[tuple]:
    """Bind kernels, decide buffer lifetimes and in-place writes for units in run order."""
    nodes, avals = checked.nodes, checked.avals
    unit_of = {i: k for k, unit in enumerate(units) for i in unit}
    used_outside = set(keep)   # values some other unit reads: a group must write them to full arrays
    for k, unit in enumerate(units):
        for i in unit:
            used_outside.update(j for j in nodes[i].inputs if unit_of.get(j) != k)
    reads: list[list[int]] = []
    programs = []
    for unit in units:
        if len(unit) == 1:
            reads.append(list(nodes[unit[0]].inputs))
            programs.append(None)
        else:
            ext, outs, bp = fusion.build_program(nodes, avals, unit, used_outside)
            reads.append(ext)
            programs.append((ext, outs, bp))
    last_use: dict[int, int] = {}
    for k, r in enumerate(reads):
        for j in r:
            last_use[j] = k
    # Buffer owners: a slot whose kernel surely returns a fresh array owns its buffer; any other kernel may
    # return a view of (or the very object of) an input, so its result is owned by its inputs' owners.
    owner: dict[int, frozenset] = {}
    ext_owner = frozenset((EXTERNAL,))
    aliases: dict[int, list[int]] = {}   # buffer owner -> slots that may point into it

    def own(slot: int, owners: frozenset):
        owner[slot] = owners
        for b in owners:
            aliases.setdefault(b, []).append(slot)

    def dead(s: int, k: int) -> bool:
        return s not in keep and last_use.get(s, -1) < k

    whole: set[int] = set()   # slots holding their whole buffer, not a view into it (views may be read-only)

    def writable(a: int, k: int) -> bool:
        o = owner.get(a, ext_owner)
        if a not in whole or len(o) != 1 or EXTERNAL in o or a in keep or last_use.get(a) != k:
            return False
        (b,) = o
        live = aliases[b] = [s for s in aliases[b] if not dead(s, k)]   # dead stays dead: prune, or a long
        return all(s == a for s in live)                                 # in-place chain turns quadratic

    steps = []
    since_poll = 0
    n = len(nodes)
    for k, unit in enumerate(units):
        free = tuple(j for j in dict.fromkeys(reads[k]) if last_use[j] == k and j not in keep)
        if programs[k] is not None:
            ext, outs, bp = programs[k]
            for o in outs:
                own(o, frozenset((o,)))
                whole.add(o)
            big = True
            steps.append([bp, tuple(ext), tuple(outs), free, GROUP, None, unit[-1]])
        else:
            i = unit[0]
            node = nodes[i]
            in_avals = [avals[j] for j in node.inputs]
            uf = fusion.ufunc_for(node.op, node.attrs, in_avals, avals[i])
            flags = 0 if uf is not None and avals[i].shape != () else FIX
            if uf is not None:
                for p, j in enumerate(node.inputs[:2]):
                    if avals[j].shape == avals[i].shape and avals[j].dtype == avals[i].dtype and writable(j, k):
                        flags |= INTO0 if p == 0 else INTO1
                        break
            if flags & (INTO0 | INTO1):
                own(i, owner[node.inputs[0 if flags & INTO0 else 1]])
                whole.add(i)
            elif uf is not None:
                own(i, frozenset((i,)))
                whole.add(i)
            else:
                own(i, frozenset().union(*(owner.get(j, ext_owner) for j in node.inputs)) or frozenset((i,)))
            if anomaly and avals[i].dtype in ("float32", "float64"):
                flags |= CHECK
            big = avals[i].size >= CANCEL_BIG
            steps.append([uf if uf is not None else fusion.bound_kernel(node.op, node.attrs), tuple(node.inputs),
                          i, free, flags, np.dtype(avals[i].dtype), i])
        since_poll += 1
        if since_poll >= CANCEL_EVERY or big or unit[-1] == n - 1 or k == len(units) - 1:
            steps[-1][4] |= POLL
            since_poll = 0
    return [tuple(s) for s in steps]


def _fold(checked: Checked, i: int, constants: dict) -> bool:
    """Evaluate a node once at compile time if its value cannot change between runs: all its inputs are
    constants, or its value depends only on shapes. Most important case: the seed of a gradient
    (ones_like of the loss, broadcast back), which otherwise cuts every forward+backward chain in two
    fused groups at the loss's reduction. Kept only if small or a view (no memory held by a cached plan)."""
    node, aval = checked.nodes[i], checked.avals[i]
    shape_only = OPS[node.op].shape_only
    if not shape_only and not all(j in constants for j in node.inputs):
        return False
    args = [np.empty(checked.avals[j].shape, checked.avals[j].dtype) if shape_only else constants[j]
            for j in node.inputs]
    try:
        with fperr.ignored():
            r = np.asarray(fusion.bound_kernel(node.op, node.attrs)(*args), dtype=aval.dtype)
    except Exception:   # e.g. an index out of range: leave it to the run, which reports it with its node
        return False
    if r.size > FOLD_MAX_ELEMENTS and (r.flags.owndata or any(r is a for a in args)):
        return False
    if any(np.shares_memory(r, a) for a in args if shape_only):
        return False
    constants[i] = r
    return True


def _dedupe(checked: Checked, outputs: Sequence[int], known_set: set[int]):
    """Common subexpressions computed once: a node with the same op, inputs and attributes as an earlier
    one reads the earlier one's value. Reverse mode makes many (e.g. both VJPs of dot(x, x) are g * x)."""
    nodes = list(checked.nodes)
    need = _needed(nodes, outputs, known_set)
    rep = list(range(len(nodes)))
    seen: dict[bytes, int] = {}
    for i, node in enumerate(nodes):
        if not need[i] or i in known_set or node.op == "placeholder":
            continue
        ins = tuple(rep[j] for j in node.inputs)
        if ins != node.inputs:
            node = nodes[i] = Node(node.op, ins, node.attrs)
        rep[i] = seen.setdefault(node_bytes(node), i)
    return Checked(nodes, checked.avals), tuple(rep[o] for o in outputs)


def compile_plan(checked: Checked, outputs: Sequence[int], known: Sequence[int] = (),
                 forward_nodes: int | None = None, fuse: bool = True) -> Plan:
    t0 = time.perf_counter()
    known_set = set(known)
    checked, outputs = _dedupe(checked, outputs, known_set)
    nodes, n = checked.nodes, len(checked.nodes)
    keep = set(outputs)
    need = _needed(nodes, outputs, known_set)
    placeholders, constants, order = {}, {}, []
    for i in range(n):
        if not need[i] or i in known_set:
            continue
        node = nodes[i]
        if node.op == "placeholder":
            placeholders[node.attrs["name"]] = i
        elif node.op == "constant":
            constants[i] = node.attrs["value"]
        elif i not in keep and _fold(checked, i, constants):
            pass
        else:
            order.append(i)
    units = fusion.partition(nodes, checked.avals, order, keep) if fuse else [[i] for i in order]
    steps = _build_steps(checked, units, keep, anomaly=False)
    placeable = _placeable(checked, steps, keep)
    plan = Plan(n, steps, lambda: _build_steps(checked, [[i] for i in order], keep, anomaly=True), placeholders,
                constants, tuple(outputs), [nd.op for nd in nodes], n if forward_nodes is None else forward_nodes,
                time.perf_counter() - t0, sum(len(u) > 1 for u in units),
                _peak_elements(nodes, checked.avals, order, keep), (checked, units, keep))
    plan.placeable = placeable
    return plan


def _placeable(checked: Checked, steps: list, keep: set[int]) -> dict:
    """Flag the unfused steps computing a result with a kernel that can write into a buffer (a ufunc, a row's
    out= kernel): run's `into` can then place the result, e.g. a gradient a matmul computes straight into
    the client's shared-memory region. Returns their slots' (kernel, shape)."""
    found = {}
    for k, (fn, ins, out, free, flags, dtype, node) in enumerate(steps):
        if flags & GROUP or out not in keep or checked.avals[out].shape == ():
            continue
        nd, aval = checked.nodes[out], checked.avals[out]
        in_avals = [checked.avals[j] for j in nd.inputs]
        kernel = fusion.ufunc_for(nd.op, nd.attrs, in_avals, aval) or fusion.into_for(nd.op, nd.attrs, in_avals, aval)
        if kernel is not None:
            found[out] = (kernel, aval.shape)
            steps[k] = (fn, ins, out, free, flags | PLACE, dtype, node)
    return found


def _peak_elements(nodes, avals, order: Sequence[int], keep: set[int]) -> int:
    """Walk the unfused program's allocations and frees: the memory a run needs, known before it runs.
    Conservative: a view or an in-place result counts as a new buffer."""
    last = {}
    for k, i in enumerate(order):
        last[i] = k              # a value nobody reads dies right after it is made
        for j in nodes[i].inputs:
            last[j] = k
    dies: dict[int, list[int]] = {}
    computed = set(order)
    for j, k in last.items():
        if j in computed and j not in keep:
            dies.setdefault(k, []).append(j)
    live = peak = 0
    for k, i in enumerate(order):
        live += avals[i].size
        peak = max(peak, live)
        live -= sum(avals[j].size for j in dies.get(k, ()))
    return peak


@dataclass
class PlanStats:
    """Use of the plans built for one graph (all its shape and output variants together)."""
    hits: int = 0
    compiles: int = 0
    compile_seconds: float = 0.0
    last_used: float = 0.0    # time.time()


class _Entry:
    __slots__ = ("key", "value", "graph_hash", "used", "live")

    def __init__(self, key, value, graph_hash):
        self.key, self.value, self.graph_hash, self.used, self.live = key, value, graph_hash, False, True


class PlanCache:
    """Bounded cache of prepared plans, safe under concurrent requests: second-chance eviction (an entry hit
    since it last came up for eviction goes to the back instead), which keeps what LRU keeps for a hit costing
    one flag. Also keeps per-graph use statistics (bounded like the plans) and tells `listeners` the seconds
    of every compile."""

    def __init__(self, capacity: int = 512):
        self.capacity = capacity
        self._items: dict = {}     # key -> _Entry, oldest first
        self._by_graph: OrderedDict[str, PlanStats] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.listeners: list[Callable[[float], None]] = []

    def get(self, key):
        entry = self.entry(key)
        return None if entry is None else entry.value

    def entry(self, key) -> _Entry | None:
        """The entry for `key`, its hit counted; None (a miss counted) when absent. A caller that keeps the
        entry counts later hits with `refresh`, without the lookup."""
        entry = self._items.get(key)
        if entry is None:
            with self._lock:
                self.misses += 1
            return None
        self.refresh(entry)
        return entry

    def refresh(self, entry: _Entry) -> bool:
        """Count a hit on an entry a caller kept; False when it has been evicted since."""
        if not entry.live:
            return False
        entry.used = True
        with self._lock:
            self.hits += 1
            stats = self._by_graph.get(entry.graph_hash)
            if stats is not None:
                stats.hits += 1
                stats.last_used = time.time()
        return True

    def put(self, key, value, graph_hash: str = "", seconds: float = 0.0) -> _Entry:
        entry = _Entry(key, value, graph_hash)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                old.live = False
            self._items[key] = entry
            while len(self._items) > self.capacity:
                oldest = next(iter(self._items.values()))
                del self._items[oldest.key]
                if oldest.used:            # a second chance: to the back, unmarked
                    oldest.used = False
                    self._items[oldest.key] = oldest
                else:
                    oldest.live = False
            if graph_hash:
                stats = self._by_graph.pop(graph_hash, None) or PlanStats()
                stats.compiles += 1
                stats.compile_seconds += seconds
                stats.last_used = time.time()
                self._by_graph[graph_hash] = stats
                while len(self._by_graph) > self.capacity:
                    self._by_graph.popitem(last=False)
        for listener in self.listeners:
            listener(seconds)
        return entry

    def stats(self) -> dict:
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "size": len(self._items),
                    "capacity": self.capacity}

    def top(self, n: int) -> list[tuple[str, PlanStats]]:
        """The `n` graphs with the most plan-cache hits (ties: most recently used first)."""
        with self._lock:
            rows = [(h, PlanStats(s.hits, s.compiles, s.compile_seconds, s.last_used))
                    for h, s in self._by_graph.items()]
        rows.sort(key=lambda r: (r[1].hits, r[1].last_used), reverse=True)
        return rows[:n]

    def prepared(self) -> list:
        """What `put` stored for each key, oldest first (benchmarks and tests look at the plans)."""
        with self._lock:
            return [e.value for e in self._items.values()]

    def clear(self):
        with self._lock:
            for entry in self._items.values():
                entry.live = False
            self._items.clear()
            self._by_graph.clear()
