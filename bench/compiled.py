"""Compiled-tier benchmark: forward+backward per call, each implementation in its own process, targets beside.

Usage: python bench/compiled.py [--quick] [--case small|seed|big]. Cases (issue 14): 2 000 sequential small ops on 16 elements, the seed
example y = 2·dot(x, x) on 4 elements, a 10^6-element arithmetic-only chain of 10 ops + sum. Implementations:
gradwire interpreted (compiling disabled), gradwire compiled (hot plan compiled in the background, then steady
state), PyTorch eager, one hand-written @njit function. Each child process warms up, then reports the median
of repeats; the parent runs the children back to back, so read ratios within one run (the machine is shared).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

F32 = np.float32
W4_OPS = ("sin", "mul", "add", "tanh")        # as bench/engine.py W4
ARITH_OPS = ("mul", "add", "mul", "sub", "mul", "add", "div", "mul", "add", "mul")
N_SMALL, N_BIG = 2000, 10**6


# graphs ------------------------------------------------------------------------------------------------
def graph(case):
    from gradwire.engine import Graph, Node
    nodes = []

    def add(op, *ins, **attrs):
        nodes.append(Node(op, ins, attrs))
        return len(nodes) - 1

    x = add("placeholder", name="x")
    if case == "small":
        c = add("constant", value=np.full(16, 0.5, F32))
        h = x
        for k in range(N_SMALL):
            op = W4_OPS[k % 4]
            h = add(op, h, c) if op in ("mul", "add") else add(op, h)
        out = add("sum", h)
        xv = np.linspace(-1, 1, 16, dtype=F32)
    elif case == "seed":
        out = add("mul", add("constant", value=np.array(2.0, F32)), add("dot", x, x))
        xv = np.arange(4, dtype=F32)
    else:
        half, third = add("constant", value=np.array(0.5, F32)), add("constant", value=np.array(1.5, F32))
        h = x
        for op in ARITH_OPS:
            h = add(op, h, x if op == "mul" else third if op == "div" else half)
        out = add("sum", h)
        xv = np.random.default_rng(0).standard_normal(N_BIG).astype(F32)
    return Graph(nodes), out, xv


# implementations (each runs in its own process) ------------------------------------------------------------
def gradwire_step(case, mode, plain=False):
    from gradwire.engine import compiled, gradient, warm_up
    from gradwire.engine.api import CACHE
    warm_up()
    from gradwire.engine import tape
    tape.warm_up()
    CACHE.clear()
    g, out, xv = graph(case)
    info = {}
    compiled.compile_after = 0
    gradient(g, {"x": xv}, [out], [0], hot=(mode == "compiled"))
    if mode == "compiled":
        (plan, *_) = CACHE.prepared()[0]
        t0 = time.perf_counter()
        answered = 0
        while not plan.tier.done.is_set():   # requests keep being answered (interpreted) during the compile
            gradient(g, {"x": xv}, [out], [0])
            answered += 1
        info = {"compile_s": plan.tier.seconds, "state": plan.tier.state, "answered_while_compiling": answered,
                "wall_s": time.perf_counter() - t0, "machine_code": plan.tier.machine_code}
    if plain:   # the plan alone (Plan.run), without gradient()'s cache lookup and result assembly
        (plan, *_) = CACHE.prepared()[0]
        feeds = {"x": xv}
        return (lambda: plan.run(feeds)), info
    return (lambda: gradient(g, {"x": xv}, [out], [0])), info


def torch_step(case):
    import torch
    _, _, xv = graph(case)
    xt = torch.from_numpy(xv.copy())
    ct = torch.full((16,), 0.5)

    def step():
        v = xt.detach().requires_grad_()
        if case == "small":
            h = v
            for k in range(N_SMALL):
                op = W4_OPS[k % 4]
                h = h * ct if op == "mul" else h + ct if op == "add" else getattr(torch, op)(h)
            h.sum().backward()
        elif case == "seed":
            (2 * torch.dot(v, v)).backward()
        else:
            h = v
            for op in ARITH_OPS:
                h = h * v if op == "mul" else h / 1.5 if op == "div" else h + 0.5 if op == "add" else h - 0.5
            h.sum().backward()
        return v.grad
    return step, {"threads": torch.get_num_threads()}


def njit_step(case):
    from numba import njit
    _, _, xv = graph(case)
    if case == "small":
        @njit(cache=True)
        def f(x, c, n):
            hs = np.empty((n, x.size), x.dtype)
            h = x.copy()
            for k in range(n):
                hs[k] = h
                op = k % 4
                if op == 0:
                    h = np.sin(h)
                elif op == 1:
                    h = h * c
                elif op == 2:
                    h = h + c
                else:
                    h = np.tanh(h)
            g = np.ones_like(x)
            for k in range(n - 1, -1, -1):
                op = k % 4
                if op == 0:
                    g = g * np.cos(hs[k])
                elif op == 1:
                    g = g * c
                elif op == 3:
                    t = np.tanh(hs[k])
                    g = g * (1 - t * t)
            return h.sum(), g
        c = np.full(16, 0.5, F32)
        return (lambda: f(xv, c, N_SMALL)), {}
    if case == "seed":
        @njit(cache=True)
        def f(x):
            acc = F32(0)
            for i in range(x.size):
                acc += x[i] * x[i]
            return F32(2) * acc, F32(4) * x
        return (lambda: f(xv)), {}

    @njit(cache=True, fastmath={"reassoc", "contract", "arcp"})   # the sum vectorizes; no nnan/ninf
    def f(x):
        g = np.empty_like(x)
        acc = F32(0)
        for i in range(x.size):
            v = x[i]
            h, d = v, F32(1)             # value and d value/dx, forward mode per element
            for op in range(10):
                if op in (0, 2, 4, 7, 9):
                    d = d * v + h
                    h = h * v
                elif op in (1, 5, 8):
                    h = h + F32(0.5)
                elif op == 3:
                    h = h - F32(0.5)
                else:
                    h = h / F32(1.5)
                    d = d / F32(1.5)
            acc += h
            g[i] = d
        return acc, g
    return (lambda: f(xv)), {}


def first_requests(case, tiered: bool, n=100):
    """Latency of each of the first n requests of a new graph (the first builds the plan)."""
    from gradwire.engine import compiled, gradient, tape, warm_up
    warm_up()
    tape.warm_up()
    compiled.compile_after = 16 if tiered else 0
    g, out, xv = graph(case)
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        gradient(g, {"x": xv}, [out], [0])
        ts.append(time.perf_counter() - t0)
    return {"p50": float(np.percentile(ts, 50)), "p99": float(np.percentile(ts, 99)),
            "p99_after_first": float(np.percentile(ts[1:], 99)), "first": ts[0]}


def threshold(repeats):
    """Interpreted vs compiled steady state of a 50-op chain (sin, mul, add, tanh) per tensor size, measured
    back to back in one process (GRADWIRE_COMPILE_MAX_ELEMENTS raised by the parent): where the tape stops
    paying, COMPILE_MAX_ELEMENTS should be."""
    from gradwire.engine import Graph, Node, compiled, gradient
    from gradwire.engine.api import CACHE
    compiled.compile_after = 0
    out = {}
    for size in (16, 64, 256, 512, 1024, 2048, 4096, 16384):
        nodes = [Node("placeholder", (), {"name": "x"}), Node("constant", (), {"value": np.full(size, 0.5, F32)})]
        h = 0
        for k in range(50):
            op = W4_OPS[k % 4]
            nodes.append(Node(op, (h, 1) if op in ("mul", "add") else (h,)))
            h = len(nodes) - 1
        nodes.append(Node("sum", (len(nodes) - 1,), {"axes": None}))
        g, xv = Graph(nodes), np.linspace(-1, 1, size, dtype=F32)
        res = {}
        for mode in ("interpreted", "compiled"):
            CACHE.clear()
            gradient(g, {"x": xv}, [len(nodes) - 1], [0], hot=(mode == "compiled"))
            compiled.wait_idle()
            fn = (lambda: gradient(g, {"x": xv}, [len(nodes) - 1], [0]))
            fn()
            ts = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                for _ in range(20):
                    fn()
                ts.append((time.perf_counter() - t0) / 20)
            res[mode] = statistics.median(ts)
        out[size] = res
    return out


def child(case, impl, number, repeats):
    if impl == "threshold":
        return threshold(repeats)
    if impl.startswith("first100"):
        return first_requests(case, impl.endswith("tiered"))
    make = {"gradwire interpreted": lambda: gradwire_step(case, "interpreted"),
            "gradwire compiled": lambda: gradwire_step(case, "compiled"),
            "gradwire compiled, plan alone": lambda: gradwire_step(case, "compiled", True),
            "gradwire interpreted, plan alone": lambda: gradwire_step(case, "interpreted", True),
            "PyTorch eager": lambda: torch_step(case),
            "hand-written @njit": lambda: njit_step(case)}[impl]
    fn, info = make()
    for _ in range(8):   # warm up; fused groups time their two programs on their first runs
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    if impl.startswith("gradwire"):
        from gradwire.engine.api import CACHE
        from gradwire.engine.blocks import BlockProgram
        for plan, *_ in CACHE.prepared():
            for st in plan.steps:
                bp = st[0]
                if isinstance(bp, BlockProgram) and bp.alt is not None:
                    info.setdefault("groups", []).append(
                        {"ufuncs_s": min(bp.timings[0]), "compiled_runs_s": min(bp.timings[1]),
                         "kept": "compiled runs" if bp.chosen is bp.alt else "ufuncs"})
    return {"median": statistics.median(samples), "min": min(samples), **info}


# parent ------------------------------------------------------------------------------------------------
CASES = {
    "small": ("2 000 small ops, 16 elements", ["gradwire interpreted", "gradwire compiled", "PyTorch eager",
                                                "hand-written @njit"], 20),
    "seed": ("seed y = 2·dot(x, x), 4 elements", ["gradwire interpreted", "gradwire compiled",
                                                  "gradwire interpreted, plan alone", "gradwire compiled, plan alone",
                                                  "PyTorch eager", "hand-written @njit"], 2000),
    "big": ("10^6 arithmetic chain, 10 ops + sum", ["gradwire interpreted", "gradwire compiled", "PyTorch eager",
                                                     "hand-written @njit"], 10),
}


def run_child(case, impl, number, repeats, **env):
    out = subprocess.run([sys.executable, __file__, "--child", case, impl, str(number), str(repeats)],
                         capture_output=True, text=True, check=True, env={**os.environ, **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt(s):
    return f"{s * 1e6:.2f} µs" if s < 1e-4 else f"{s * 1e3:.3f} ms"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--child", nargs=4)
    ap.add_argument("--case", choices=sorted(CASES), help="run this case's implementations only, and no other table")
    args = ap.parse_args()
    if args.child:
        case, impl, number, repeats = args.child
        print(json.dumps(child(case, impl, int(number), int(repeats))))
        return
    repeats = 3 if args.quick else 9
    print(f"# gradwire compiled tier, forward+backward per call; each implementation in its own process, "
          f"median of {repeats} repeats; {os.cpu_count()} cores")
    res = {}
    for case, (title, impls, number) in CASES.items():
        if args.case and case != args.case:
            continue
        for impl in impls:
            res[case, impl] = run_child(case, impl, max(1, number // (4 if args.quick else 1)), repeats)
    if args.case:
        torch_t = res[args.case, "PyTorch eager"]["median"]
        print("\n| implementation | time per call | vs PyTorch eager |\n|---|---|---|")
        for impl in CASES[args.case][1]:
            print(f"| {impl} | {fmt(res[args.case, impl]['median'])} | {res[args.case, impl]['median'] / torch_t:.3f}× |")
        return
    firsts = {"interpreted": [], "tiered": []}
    for _ in range(1 if args.quick else 3):          # interleaved: a disturbance hits both alike
        for k in firsts:
            firsts[k].append(run_child("small", f"first100-{k}", 0, 0))
    first = {k: {stat: statistics.median(r[stat] for r in v) for stat in v[0]} for k, v in firsts.items()}
    print("\n| case | implementation | time per call | vs PyTorch eager | note |\n|---|---|---|---|---|")
    for case, (title, impls, _) in CASES.items():
        torch_t = res[case, "PyTorch eager"]["median"]
        for impl in impls:
            r = res[case, impl]
            note = ""
            if "compile_s" in r:
                note = (f"background compile {r['compile_s']:.2f} s ({r['state']}"
                        f"{', machine code ' + r['machine_code'] if r['machine_code'] else ''}), "
                        f"{r['answered_while_compiling']} requests answered meanwhile")
            for grp in r.get("groups", []):
                note += (f"; group timed {fmt(grp['ufuncs_s'])} ufuncs vs {fmt(grp['compiled_runs_s'])} compiled "
                         f"runs, kept {grp['kept']}")
            print(f"| {title} | {impl} | {fmt(r['median'])} | {r['median'] / torch_t:.3f}× | {note} |")
    s = res["small", "gradwire compiled"]
    seed = res["seed", "gradwire compiled"]
    seed_plan = res["seed", "gradwire compiled, plan alone"]
    big = res["big", "gradwire compiled"]
    tor = {c: res[c, "PyTorch eager"]["median"] for c in CASES}
    print("\n| target | measured | met |\n|---|---|---|")
    rows = [("2 000 small ops ≤ 0.05× PyTorch eager", f"{s['median'] / tor['small']:.3f}×",
             s["median"] <= 0.05 * tor["small"]),
            ("their compile ≤ 2 s, in the background", f"{s['compile_s']:.2f} s", s["compile_s"] <= 2.0),
            ("seed example in process ≤ 2 µs (gradient())", fmt(seed["median"]), seed["median"] <= 2e-6),
            ("seed example in process ≤ 2 µs (Plan.run)", fmt(seed_plan["median"]), seed_plan["median"] <= 2e-6),
            ("10^6 arithmetic chain ≤ 0.2× PyTorch eager", f"{big['median'] / tor['big']:.3f}×",
             big["median"] <= 0.2 * tor["big"])]
    for name, value, ok in rows:
        print(f"| {name} | {value} | {'yes' if ok else 'no'} |")
    th = run_child("-", "threshold", 0, repeats, GRADWIRE_COMPILE_MAX_ELEMENTS=str(1 << 20))
    print("\nCompile threshold: a 50-op chain (sin, mul, add, tanh) + sum, forward+backward, per tensor size:")
    print("| elements | interpreted | compiled | compiled / interpreted |\n|---|---|---|---|")
    for size, r in th.items():
        print(f"| {size} | {fmt(r['interpreted'])} | {fmt(r['compiled'])} | {r['compiled'] / r['interpreted']:.2f} |")
    fi, ft = first["interpreted"], first["tiered"]
    print(f"\nFirst 100 requests of a new 2 000-op graph (the first builds the plan), median of "
          f"{len(firsts['tiered'])} processes each:")
    print("| tiering | first | p50 | p99 | p99 of requests 2-100 |\n|---|---|---|---|---|")
    for k, r in (("interpreted only", fi), ("hot after 16 hits, background compile", ft)):
        print(f"| {k} | {fmt(r['first'])} | {fmt(r['p50'])} | {fmt(r['p99'])} | {fmt(r['p99_after_first'])} |")


if __name__ == "__main__":
    main()
