"""Engine benchmark: forward+backward timings for gradwire, PyTorch eager and NumPy by hand, in one run.

Usage: python bench/engine.py [--quick] [--rounds 2]. Each implementation runs in its OWN process, one
after the other (never two at once): in one process their thread pools (OpenBLAS, PyTorch's OpenMP,
gradwire's block threads) fight over the cores and slow each other down (PyTorch's MLP B=1024 step took
17.3 ms interleaved against 8.2 ms alone). A child process imports torch only when it measures PyTorch,
and reports its OS thread count. One thread count for all (torch.set_num_threads, threadpoolctl for
NumPy's BLAS, GRADWIRE_THREADS for fused groups); the cases of one implementation are interleaved;
each figure is the best over `--rounds` rounds (the round order rotates) of the median of the repeats.
The machine is shared and noisy: read ratios within one run, not absolute times across runs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from threadpoolctl import threadpool_limits

from gradwire.engine import Graph, Node, autodiff, gradient, warm_up
from gradwire.engine.api import CACHE
from gradwire.engine.executor import compile_plan
from gradwire.engine.infer import infer
from gradwire.engine.jit import THREADS
from gradwire.engine.registry import Aval

F32 = np.float32
IMPLEMENTATIONS = ("gradwire", "PyTorch eager", "NumPy by hand")


def _torch():
    """PyTorch, imported only in the process that measures it."""
    import torch
    torch.set_num_threads(THREADS)
    return torch


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timed(fn, number: int) -> float:
    t = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t) / number


def compare(cases: dict, number: int, repeats: int) -> dict:
    """Median seconds per call for each case, measured round-robin so drift hits all alike. The order
    rotates every repeat: a case measured right after PyTorch competes with its still-spinning threads."""
    for fn in cases.values():
        fn()
    samples = {k: [] for k in cases}
    keys = list(cases)
    for r in range(repeats):
        for k in keys[r % len(keys):] + keys[:r % len(keys)]:
            samples[k].append(timed(cases[k], number))
    return {k: statistics.median(v) for k, v in samples.items()}


class B:
    def __init__(self):
        self.nodes: list[Node] = []

    def __call__(self, op, *inputs, **attrs) -> int:
        self.nodes.append(Node(op, tuple(inputs), attrs))
        return len(self.nodes) - 1

    def const(self, v) -> int:
        return self("constant", value=np.asarray(v, F32))


def plans(nodes, feeds, out, wrt):
    checked = infer(Graph(nodes), {k: Aval(v.shape, v.dtype.name) for k, v in feeds.items()})
    ext, grads, _ = autodiff.vjp(checked, [out], wrt)
    outs = (out,) + tuple(grads)
    return compile_plan(ext, outs), compile_plan(ext, outs, fuse=False)


def engine_cases(nodes, feeds, out, wrt) -> dict:
    graph = Graph(nodes)
    fused, plain = plans(nodes, feeds, out, wrt)
    return {"gradwire gradient()": lambda: gradient(graph, feeds, [out], wrt),
            "gradwire Plan.run": lambda: fused.run(feeds),
            "gradwire unfused run": lambda: plain.run(feeds)}


def cold_warm(nodes, feeds, out, wrt) -> tuple[float, float]:
    """First call of a new graph (plan compile, cache miss) vs. a cached call."""
    graph = Graph(nodes)
    CACHE.clear()
    t = time.perf_counter()
    gradient(graph, feeds, [out], wrt)
    cold = time.perf_counter() - t
    warm = statistics.median(timed(lambda: gradient(graph, feeds, [out], wrt), 1) for _ in range(5))
    return cold, warm


# W1: y = 2 * dot(x, x), 4 elements ---------------------------------------------------------------
def w1():
    b = B()
    x = b("placeholder", name="x")
    y = b("mul", b.const(2.0), b("dot", x, x))
    xv = np.arange(4, dtype=F32)

    def make_torch():
        torch = _torch()
        xt = torch.from_numpy(xv.copy())

        def torch_step():
            v = xt.detach().requires_grad_()
            r = 2 * torch.dot(v, v)
            r.backward()
            return v.grad
        return torch_step

    def numpy_step():
        r = F32(2) * np.dot(xv, xv)
        return r, F32(2) * (xv + xv)

    return b.nodes, {"x": xv}, y, [x], {"PyTorch eager": make_torch, "NumPy by hand": lambda: numpy_step}


# W2: a 10-op elementwise chain on 10^6 float32, then sum -------------------------------------------
W2_OPS = ("sin", "mul", "exp", "add", "tanh", "mul", "cos", "add", "sigmoid", "mul")


def w2(n=10**6):
    b = B()
    x = b("placeholder", name="x")
    half = b.const(0.5)
    h = x
    for op in W2_OPS:
        h = b(op, h, x if op == "mul" else half) if op in ("mul", "add") else b(op, h)
    s = b("sum", h)
    xv = np.random.default_rng(0).standard_normal(n).astype(F32)

    def make_torch():
        torch = _torch()
        xt = torch.from_numpy(xv.copy())

        def torch_step():
            v = xt.detach().requires_grad_()
            h = v
            for op in W2_OPS:
                h = h * v if op == "mul" else h + 0.5 if op == "add" else getattr(torch, op)(h)
            h.sum().backward()
            return v.grad
        return torch_step

    def numpy_step():
        hs, h = [], xv
        for op in W2_OPS:
            hs.append(h)
            h = h * xv if op == "mul" else h + F32(0.5) if op == "add" else \
                1 / (1 + np.exp(-h)) if op == "sigmoid" else getattr(np, op)(h)
        outs = hs[1:] + [h]
        total = h.sum()
        g, gx = np.ones_like(xv), np.zeros_like(xv)
        for op, inp, o in reversed(list(zip(W2_OPS, hs, outs))):
            if op == "mul":
                gx += g * inp
                g = g * xv
            elif op == "sin":
                g = g * np.cos(inp)
            elif op == "cos":
                g = -(g * np.sin(inp))
            elif op == "exp":
                g = g * o
            elif op == "tanh":
                g = g * (1 - o * o)
            elif op == "sigmoid":
                g = g * (o * (1 - o))
        return total, gx + g

    return b.nodes, {"x": xv}, s, [x], {"PyTorch eager": make_torch, "NumPy by hand": lambda: numpy_step}


# W3: MLP 784-256-256-10, tanh, log-softmax cross-entropy -------------------------------------------
def w3(batch: int):
    rng = np.random.default_rng(1)
    sizes = [784, 256, 256, 10]
    b = B()
    x = b("placeholder", name="x")
    y = b("placeholder", name="y")
    params, feeds = [], {"x": rng.standard_normal((batch, 784)).astype(F32),
                         "y": rng.integers(0, 10, (batch, 1)).astype(np.int64)}
    h = x
    for k, (i, o) in enumerate(zip(sizes, sizes[1:])):
        w = b("placeholder", name=f"w{k}")
        bias = b("placeholder", name=f"b{k}")
        feeds[f"w{k}"] = (rng.standard_normal((i, o)) / np.sqrt(i)).astype(F32)
        feeds[f"b{k}"] = np.zeros(o, F32)
        params += [w, bias]
        h = b("add", b("matmul", h, w), bias)
        if k < 2:
            h = b("tanh", h)
    lsm = b("log_softmax", h, axis=-1)
    loss = b("neg", b("mean", b("gather", lsm, y, axis=1)))

    def make_torch():
        torch = _torch()
        F = torch.nn.functional
        tf = {k: torch.from_numpy(v.copy()) for k, v in feeds.items()}

        def torch_step():
            ps = [tf[f"{c}{k}"].detach().requires_grad_() for k in range(3) for c in "wb"]
            h = tf["x"]
            for k in range(3):
                h = h @ ps[2 * k] + ps[2 * k + 1]
                if k < 2:
                    h = torch.tanh(h)
            loss = -F.log_softmax(h, dim=-1).gather(1, tf["y"]).mean()
            loss.backward()
            return [p.grad for p in ps]
        return torch_step

    def numpy_step():
        hs, h = [], feeds["x"]
        for k in range(3):
            hs.append(h)
            h = h @ feeds[f"w{k}"] + feeds[f"b{k}"]
            if k < 2:
                h = np.tanh(h)
        m = h.max(axis=1, keepdims=True)
        lse = np.log(np.exp(h - m).sum(axis=1, keepdims=True)) + m
        lsm = h - lse
        idx = feeds["y"]
        loss = -np.take_along_axis(lsm, idx, 1).mean()
        g = np.exp(lsm)
        np.put_along_axis(g, idx, np.take_along_axis(g, idx, 1) - 1, 1)
        g /= batch
        grads = []
        for k in (2, 1, 0):
            if k < 2:
                g = g * (1 - hs[k + 1] * hs[k + 1])
            grads += [hs[k].T @ g, g.sum(0)]
            g = g @ feeds[f"w{k}"].T
        return loss, grads

    return b.nodes, feeds, loss, params, {"PyTorch eager": make_torch, "NumPy by hand": lambda: numpy_step}


# W4: 2000 small sequential ops on a 16-element vector ----------------------------------------------
W4_OPS = ("sin", "mul", "add", "tanh")


def w4(n_ops=2000):
    b = B()
    x = b("placeholder", name="x")
    c = b.const(np.full(16, 0.5, F32))
    h = x
    for k in range(n_ops):
        op = W4_OPS[k % 4]
        h = b(op, h, c) if op in ("mul", "add") else b(op, h)
    s = b("sum", h)
    xv = np.linspace(-1, 1, 16, dtype=F32)

    def make_torch():
        torch = _torch()
        xt = torch.from_numpy(xv.copy())
        ct = torch.full((16,), 0.5)

        def torch_step():
            v = xt.detach().requires_grad_()
            h = v
            for k in range(n_ops):
                op = W4_OPS[k % 4]
                h = h * ct if op == "mul" else h + ct if op == "add" else getattr(torch, op)(h)
            h.sum().backward()
            return v.grad
        return torch_step

    cv = np.full(16, 0.5, F32)

    def numpy_step():
        hs, h = [], xv
        for k in range(n_ops):
            op = W4_OPS[k % 4]
            hs.append(h)
            h = h * cv if op == "mul" else h + cv if op == "add" else getattr(np, op)(h)
        g = np.ones_like(xv)
        for k in range(n_ops - 1, -1, -1):
            op = W4_OPS[k % 4]
            g = g * cv if op == "mul" else g if op == "add" else \
                g * np.cos(hs[k]) if op == "sin" else g * (1 - np.tanh(hs[k]) ** 2)
        return h.sum(), g

    return b.nodes, {"x": xv}, s, [x], {"PyTorch eager": make_torch, "NumPy by hand": lambda: numpy_step}


def process_cold() -> tuple[float, float, float]:
    """Seconds for warm_up() in a fresh process: empty Numba cache dir, then the same dir again."""
    code = ("import time; t=time.perf_counter(); import gradwire.engine as e; t1=time.perf_counter(); "
            "e.warm_up(); print(t1-t, time.perf_counter()-t1)")
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NUMBA_CACHE_DIR=d)
        runs = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            runs.append([float(v) for v in out.stdout.split()])
    return runs[0][0], runs[0][1], runs[1][1]


WORKLOADS = [("W1 seed y=2·dot(x,x), 4 el", w1, 2000, 1),
             ("W2 10-op chain, 10^6 f32", w2, 3, 1),
             ("W3 MLP step, batch 32", lambda: w3(32), 50, 1),
             ("W3 MLP step, batch 1024", lambda: w3(1024), 5, 1),
             ("W4 2000 ops on 16 el (per op)", w4, 2, 2000)]


def os_threads() -> int:
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("Threads:")).split()[1])


def child(impl: str, quick: bool) -> dict:
    """Runs in its own process: every workload for one implementation."""
    reps = 3 if quick else 9
    out = {"results": {}, "colds": {}}
    if impl == "gradwire":
        warm_up()
    with threadpool_limits(limits=THREADS):
        for name, make, number, per in WORKLOADS:
            nodes, feeds, result, wrt, others = make()
            cases = engine_cases(nodes, feeds, result, wrt) if impl == "gradwire" else \
                {impl: others[impl]()}
            res = compare(cases, max(1, number // (3 if quick else 1)), reps)
            out["results"][name] = {k: v / per for k, v in res.items()}
            if impl == "gradwire":
                out["colds"][name] = cold_warm(nodes, feeds, result, wrt)
    out["threads"] = os_threads()
    out["torch"] = sys.modules["torch"].__version__ if "torch" in sys.modules else None
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds over the implementations")
    ap.add_argument("--child", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.quick)))
        return
    print(f"# gradwire engine benchmark — {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), "
          f"{cpu_model()}")
    runs: dict[str, list[dict]] = {impl: [] for impl in IMPLEMENTATIONS}
    for r in range(args.rounds):
        order = IMPLEMENTATIONS[r % 3:] + IMPLEMENTATIONS[:r % 3]
        for impl in order:
            cmd = [sys.executable, __file__, "--child", impl] + (["--quick"] if args.quick else [])
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs[impl].append(json.loads(done.stdout.strip().splitlines()[-1]))
    torch_version = next(r["torch"] for r in runs["PyTorch eager"])
    print(f"# python {platform.python_version()}, numpy {np.__version__}, torch {torch_version}; "
          f"{THREADS} threads for all; one process per implementation (OS threads at the end: "
          + ", ".join(f"{impl} {max(r['threads'] for r in runs[impl])}" for impl in IMPLEMENTATIONS)
          + f"); best of {args.rounds} rounds of the median of {3 if args.quick else 9} repeats")
    print(f"\n{'workload':32s} {'implementation':24s} {'time':>12s} {'vs torch':>9s}")
    for name, *_ in WORKLOADS:
        best = {}
        for impl in IMPLEMENTATIONS:
            for case in runs[impl][0]["results"][name]:
                best[case] = min(r["results"][name][case] for r in runs[impl])
        ref = best["PyTorch eager"]
        for case, t in best.items():
            unit = f"{t * 1e6:9.2f} µs" if t < 1e-3 else f"{t * 1e3:9.2f} ms"
            print(f"{name:32s} {case:24s} {unit:>12s} {t / ref:8.2f}x")
        print()
    print(f"{'first call of a new graph':32s} {'cold (plan compile)':>20s} {'cached':>12s}")
    for name, *_ in WORKLOADS:
        cold = min(r["colds"][name][0] for r in runs["gradwire"])
        warm = min(r["colds"][name][1] for r in runs["gradwire"])
        print(f"{name:32s} {cold * 1e3:17.2f} ms {warm * 1e3:9.3f} ms")
    imp, cold, cached = process_cold()
    print(f"\nnew process: import {imp:.2f} s; warm_up() {cold:.2f} s with an empty NUMBA_CACHE_DIR, "
          f"{cached:.2f} s from the on-disk cache")


if __name__ == "__main__":
    main()
