"""The compiled tier: a hot plan is compiled in a background thread and its new step list swapped in with one
assignment. No request waits for a compile: until the swap the plan runs interpreted; a failed compile leaves
it interpreted.

Two kinds of compiled step (README, "Compiled plans, tiered"): consecutive single-node units that tape.py can
express (small tensors) become one tape segment, returning its values as a fused group does; a flat fused group
of large tensors gets its arithmetic runs as generated Numba loops (codegen.py), written under PLAN_DIR by
content hash and compiled with Numba's on-disk cache, so a restart or a replica sharing the directory loads them.
Everything else keeps its interpreted step.
"""
from __future__ import annotations

import logging
import os
import pickle
import queue
import select
import signal
import threading
import time
from collections import OrderedDict

from . import codegen, tape
from .executor import GROUP, POLL, Plan
from .jit import COMPILE_AFTER

log = logging.getLogger("gradwire.engine.compiled")

_lock = threading.Lock()
_queue: queue.Queue = queue.Queue()
_thread: threading.Thread | None = None
_stats: OrderedDict[str, dict] = OrderedDict()   # by graph hash, newest last
STATS_KEPT = 512
compile_after = COMPILE_AFTER
# Where tapes are encoded: in the compile thread, in slices (_Slices), or with GRADWIRE_COMPILE_OFFLOAD=1 in a
# forked child (_encode_elsewhere). Measured (first 100 requests of the 2 000-op graph): the fork took 3 ms
# holding the GIL, and requests during the child's ~100 ms ran up to 2-5x slower (copy-on-write faults, the
# child's CPU); slices slow them ~10% while the compile lasts (about 10x its work, ~1 s here).
offload = os.environ.get("GRADWIRE_COMPILE_OFFLOAD", "0") == "1"
SLICE_SECONDS = 0.0005
synchronous = False   # tests: compile in the caller's thread (a request then waits; never in a server)


class Tier:
    """A plan's compilation record: state queued -> compiled | interpreted (nothing to compile) | failed."""

    __slots__ = ("state", "seconds", "segments", "nodes", "runs", "machine_code", "graph_hash", "error", "done")

    def __init__(self):
        self.state, self.seconds, self.segments, self.nodes = "queued", 0.0, 0, 0
        self.runs, self.machine_code = 0, ""
        self.graph_hash, self.error = "", ""
        self.done = threading.Event()

    def as_dict(self) -> dict:
        """state; seconds (background build); segments and their nodes (tape tier); arithmetic runs compiled
        in large groups and whether their machine code was "compiled" or "loaded" from disk."""
        return {"state": self.state, "seconds": self.seconds, "segments": self.segments, "nodes": self.nodes,
                "runs": self.runs, "machine_code": self.machine_code, "error": self.error}


def touch(plan: Plan) -> None:
    """Count a cache hit; at `compile_after` hits the plan is hot."""
    plan.hits += 1   # racy under concurrent hits, harmlessly: >= (not ==), and submit() acts once
    if compile_after and plan.hits >= compile_after and plan.tier is None:
        submit(plan)


def submit(plan: Plan) -> Tier | None:
    """Ask for the plan's compilation (once); returns its record. Never compiles in the caller's thread
    unless `synchronous` is set."""
    if plan.program is None:
        return None
    with _lock:
        if plan.tier is not None:
            return plan.tier
        tier = plan.tier = Tier()
    if synchronous:
        _compile(plan, tier)
        return tier
    _ensure_thread()
    _queue.put(plan)
    return tier


def _ensure_thread() -> None:
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_worker, name="gradwire-compile", daemon=True)
            _thread.start()


def _worker() -> None:
    while True:
        plan = _queue.get()
        try:
            _compile(plan, plan.tier)
        finally:
            _queue.task_done()


def wait_idle() -> None:
    """Block until every queued compile has finished (tests and benchmarks)."""
    _queue.join()


def stats() -> dict:
    """State, compile seconds, segments and nodes per compiled plan, by graph hash (newest last)."""
    with _lock:
        return {h: dict(v) for h, v in _stats.items()}


def _compile(plan: Plan, tier: Tier) -> None:
    t0 = time.perf_counter()
    tier.graph_hash = plan.graph_hash or f"plan-{id(plan):x}"
    try:
        steps, n_seg, n_nodes = build(plan)
        tier.segments, tier.nodes = n_seg, n_nodes
        tier.runs, tier.machine_code = codegen.arithmetic_runs(plan.steps if steps is None else steps)
        if steps is not None:
            tape.warm_up()        # the tape kernel, once per process (from Numba's disk cache after the first)
            plan.steps = steps    # one store: a run in progress keeps the list it started with
            plan.whole = _whole(plan, steps)
        tier.state = "compiled" if steps is not None or tier.runs else "interpreted"
    except Exception as e:   # a compile must never break a plan: it keeps running interpreted
        tier.state, tier.error = "failed", f"{type(e).__name__}: {e}"
        log.warning("plan compile failed, staying interpreted: %s", tier.error)
    tier.seconds = time.perf_counter() - t0
    with _lock:
        _stats[tier.graph_hash] = tier.as_dict()
        _stats.move_to_end(tier.graph_hash)
        while len(_stats) > STATS_KEPT:
            _stats.popitem(last=False)
    tier.done.set()


def build(plan: Plan):
    """(new steps, segments, nodes in segments); steps is None when no run of the plan is worth a segment."""
    pieces = _encode_elsewhere(plan) if offload and not synchronous else encode(plan)
    return assemble(plan, pieces)


def encode(plan: Plan) -> list:
    """The plan's units as pieces: ("step", unit index) kept as it is, or ("seg", members, ext, outs, dtype,
    tape state). Pure computation on the plan's program (it may run in a forked child)."""
    checked, units, keep = plan.program
    nodes, avals = checked.nodes, checked.avals
    raw: list = []          # ("seg", unit indices, float dtype) or ("step", unit index)
    run: list = []
    fdt = None

    def flush():
        if len(run) >= 2:
            raw.append(("seg", list(run), fdt))
        else:
            raw.extend(("step", u) for u in run)
        run.clear()

    tick = _Slices()
    for k, unit in enumerate(units):
        tick()
        i = unit[0]
        ok = False
        if len(unit) == 1:
            in_avals = [avals[j] for j in nodes[i].inputs]
            if not run:
                fdt = tape.float_dtype(avals, [i, *nodes[i].inputs]) or "float32"
            ok = tape.expressible(nodes[i], in_avals, avals[i], fdt)
            if not ok and run:
                flush()
                fdt = tape.float_dtype(avals, [i, *nodes[i].inputs]) or "float32"
                ok = tape.expressible(nodes[i], in_avals, avals[i], fdt)
        if ok:
            run.append(k)
        else:
            flush()
            raw.append(("step", k))
    flush()
    if not any(p[0] == "seg" for p in raw):
        return []
    read_by: dict[int, set] = {}     # node id -> pieces reading it
    for k, p in enumerate(raw):
        for u in (p[1] if p[0] == "seg" else [p[1]]):
            for i in units[u]:
                for j in nodes[i].inputs:
                    read_by.setdefault(j, set()).add(k)
    pieces = []
    for k, p in enumerate(raw):
        if p[0] == "step":
            pieces.append(p)
            continue
        members = [units[u][0] for u in p[1]]
        dt = p[2]
        mset = set(members)
        ext = list(dict.fromkeys(j for i in members for j in nodes[i].inputs if j not in mset))
        consts = {j: plan.constants[j] for j in ext if j in plan.constants and avals[j].dtype in (dt, "bool")}
        ext = [j for j in ext if j not in consts]
        outs = [i for i in members if i in keep or any(r != k for r in read_by.get(i, ()))]
        state = tape.encode(nodes, avals, members, ext, outs, dt, consts, tick)
        pieces.append(("seg", members, ext, outs, dt, state))
    return pieces


class _Slices:
    """Called once per unit of encoding work: every SLICE_SECONDS it sleeps(0), handing the GIL to a request
    waiting for it at once instead of after the interpreter's 5 ms switch interval. A request then loses at
    most SLICE_SECONDS of every switch interval to a compile (~10%), and without requests nothing waits."""

    def __init__(self):
        self.t = time.perf_counter()

    def __call__(self):
        now = time.perf_counter()
        if now - self.t > SLICE_SECONDS:
            time.sleep(0)
            self.t = time.perf_counter()


def assemble(plan: Plan, pieces: list):
    """Steps from pieces: kept steps as they are, segments as tape.Segment; buffer frees recomputed."""
    if not pieces:
        return None, 0, 0
    keep = plan.program[2]
    steps, reads = [], []
    for p in pieces:
        if p[0] == "step":
            st = plan.steps[p[1]]
            steps.append(list(st))
            reads.append(st[1])
            continue
        _, members, ext, outs, dt, state = p
        steps.append([tape.Segment(state), tuple(ext), tuple(outs), (), GROUP, None, members[-1]])
        reads.append(ext)
    last_use: dict[int, int] = {}
    for k, r in enumerate(reads):
        for j in r:
            last_use[j] = k
    for k, st in enumerate(steps):
        st[3] = tuple(j for j in dict.fromkeys(reads[k]) if last_use[j] == k and j not in keep)
        st[4] |= POLL
    segs = [p for p in pieces if p[0] == "seg"]
    return [tuple(st) for st in steps], len(segs), sum(len(p[1]) for p in segs)


def _encode_elsewhere(plan: Plan, timeout: float = 120.0) -> list:
    """encode(plan) in a forked child, so that encoding a long plan (~20 µs a node of Python) does not compete
    with requests for this process's GIL; the child shares the plan by fork and sends back only arrays.
    The child touches no lock another thread could hold (no imports, no logging, no threads) and ends
    with os._exit. Falls back to encoding here where fork is unavailable."""
    if not hasattr(os, "fork"):
        return encode(plan)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:   # the child
        code = 1
        try:
            os.close(r)
            data = pickle.dumps(encode(plan), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(w, "wb") as f:
                f.write(data)
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    try:
        chunks = []
        with os.fdopen(r, "rb", buffering=0) as f:
            while True:
                ready, _, _ = select.select([f], [], [], timeout)
                if not ready:
                    os.kill(pid, signal.SIGKILL)
                    raise TimeoutError(f"plan encoding took over {timeout} s")
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        _, status = os.waitpid(pid, 0)
    if status != 0:
        raise RuntimeError(f"the encoding process failed (status {status})")
    return pickle.loads(b"".join(chunks))


def _whole(plan: Plan, steps):
    """(segment, feed names, output positions or None for all in order, quiet) when the plan is one segment
    over its placeholders: run then calls it directly (executor.Plan.run)."""
    if len(steps) != 1 or not isinstance(steps[0][0], tape.Segment):
        return None
    names = {slot: name for name, slot in plan.placeholders.items()}
    seg, ins, outs = steps[0][0], steps[0][1], steps[0][2]
    if not all(j in names for j in ins) or not all(o in outs for o in plan.outputs):
        return None
    pick = tuple(outs.index(o) for o in plan.outputs)
    return (seg.call, tuple(names[j] for j in ins), None if pick == tuple(range(len(outs))) else pick,
            tape.JIT)


def _unit_nodes(step) -> tuple:
    """Node ids a step computes (a fused group's outputs, or its one node)."""
    return step[2] if isinstance(step[2], tuple) else (step[2],)
