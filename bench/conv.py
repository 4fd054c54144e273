"""Convolution benchmark: a LeNet-5 training step and a 3x3 conv block, gradwire's engine vs PyTorch eager.

Usage: python bench/conv.py [--quick] [--rounds 2] [--threads 2]. As bench/engine.py: each implementation runs
in its own process, one after the other, with the same thread count (GRADWIRE_THREADS / torch.set_num_threads
/ threadpoolctl for NumPy's BLAS); each figure is the best over rounds of the median of the repeats. On a
shared, loaded machine two BLAS threads mostly wait for each other: compare with --threads 1 too.
gradwire is measured in process: `gradient()` on the graph (plan cache warm) and the compiled Plan's run.
  LeNet-5 step   28x28, batch 64: conv(1->6, 5) relu maxpool2, conv(6->16, 5) relu maxpool2, 256-120-84-10
                 linear layers with relu, cross-entropy; gradients of all parameters
  3x3 block      32x32x64, batch 32: conv(64->64, 3, pad 1) relu conv(64->64, 3, pad 1), sum; gradients of
                 both weights
Measured 2026-12-02 on the shared 2-core EPYC (load average 6-8), best of 2 rounds of the median of 7:
  2 threads: LeNet step gradwire 207-246 ms vs PyTorch 387 ms (0.53-0.64x); 3x3 block 1391-1516 ms vs 1038 ms
             (1.34-1.46x), both dominated by BLAS threads waiting on each other
  1 thread:  LeNet step 37-40 ms vs 22.5 ms (1.66-1.79x); 3x3 block 890-961 ms vs 466 ms (1.91-2.06x)
Re-measured on the quiet machine (load average 1.3), best of 2 rounds:
  1 thread:  LeNet step 10.3 ms vs 9.1 ms (1.13x); 3x3 block 318 ms vs 184 ms (1.73x)
  2 threads: LeNet step 10.2 ms vs 4.6 ms (2.22x); 3x3 block 218 ms vs 86 ms (2.53x)
After the shifted-GEMM lowering of wide stride-1 convs, the per-sample im2col forward, the batch split and the
select loop behind relu's gradient (Plan.run, best of 3 rounds of the median of 7, load average 1.7-2.3;
"before" is the previous code, run right after each):
  1 thread:  LeNet step 7.8 ms vs 6.2 (1.25x; before 9.1 vs 6.7, 1.36x); 3x3 block 185 ms vs 119 (1.55x;
             before 281 vs 118, 2.38x)
  2 threads: LeNet step 7.9 ms vs 3.8 (2.07x; before 9.3 vs 4.2, 2.19x); 3x3 block 176 ms vs 61 (2.91x;
             before 210 vs 57, 3.70x)
With everything merged (main, load average 1.0, best of 2 rounds): 1 thread LeNet 8.9 vs 6.5 ms (1.38x), block
204 vs 124 ms (1.65x); 2 threads LeNet 8.5 vs 4.4 ms (1.92x), block 204 vs 65 ms (3.13x).
Runs at load 3-13 ranged over 1.08-3.0x (LeNet) and 0.73-2.2x (block) on one thread, depending on which
process caught a quiet minute: compare only runs at low load.
The block is GEMM-bound: its five convs are five 2.4 GFLOP products, and one such OpenBLAS sgemm took 23-27 ms on
one thread where PyTorch's (oneDNN) whole conv forward took 15-21 ms, so <= 1.0x needs more than a lowering onto
OpenBLAS. Two threads gave the block nothing, in process too (about 190 ms either way, with OpenBLAS threading
each tap's GEMM or in a variant, not kept, where our threads split the grid columns), while a lone 1024^3
sgemm did scale (15 -> 7.8 ms).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import subprocess

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(__file__))
from engine import B, F32, _torch, compare, cpu_model, engine_cases, os_threads  # noqa: E402

from gradwire.engine import warm_up  # noqa: E402
from gradwire.engine.jit import THREADS  # noqa: E402

IMPLEMENTATIONS = ("gradwire", "PyTorch eager")
GEO = dict(stride=(1, 1), pad_lo=(0, 0), pad_hi=(0, 0), dilation=(1, 1), groups=1)


def _maxpool2(b, h, shape):
    n, c, hh, ww = shape
    idx = b("max_pool_indices", h, kernel=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1))
    flat = b("reshape", h, shape=(n, c, hh * ww))
    v = b("gather", flat, b("reshape", idx, shape=(n, c, hh * ww // 4)), axis=2)
    return b("reshape", v, shape=(n, c, hh // 2, ww // 2))


def lenet(batch=64):
    rng = np.random.default_rng(0)
    b = B()
    x, y = b("placeholder", name="x"), b("placeholder", name="y")
    feeds = {"x": rng.standard_normal((batch, 1, 28, 28)).astype(F32),
             "y": rng.integers(0, 10, (batch, 1)).astype(np.int64)}
    params = []

    def param(name, shape, fan_in):
        feeds[name] = (rng.uniform(-1, 1, shape) / np.sqrt(fan_in)).astype(F32)
        params.append(b("placeholder", name=name))
        return params[-1]

    h, shape = x, (batch, 1, 28, 28)
    for k, (i, o) in enumerate(((1, 6), (6, 16))):
        w, bias = param(f"cw{k}", (o, i, 5, 5), i * 25), param(f"cb{k}", (o,), i * 25)
        h = b("conv", h, w, **GEO)
        h = b("relu", b("add", h, b("reshape", bias, shape=(o, 1, 1))))
        shape = (batch, o, shape[2] - 4, shape[3] - 4)
        h = _maxpool2(b, h, shape)
        shape = (batch, o, shape[2] // 2, shape[3] // 2)
    h = b("reshape", h, shape=(batch, 256))
    for k, (i, o) in enumerate(((256, 120), (120, 84), (84, 10))):
        w, bias = param(f"w{k}", (i, o), i), param(f"b{k}", (o,), i)
        h = b("add", b("matmul", h, w), bias)
        if k < 2:
            h = b("relu", h)
    loss = b("neg", b("mean", b("gather", b("log_softmax", h, axis=-1), y, axis=1)))

    def make_torch():
        torch = _torch()
        F = torch.nn.functional
        tf = {k: torch.from_numpy(v.copy()) for k, v in feeds.items()}
        names = [k for k in feeds if k not in ("x", "y")]

        def torch_step():
            ps = {k: tf[k].detach().requires_grad_() for k in names}
            h = tf["x"]
            for k in range(2):
                h = F.max_pool2d(F.relu(F.conv2d(h, ps[f"cw{k}"], ps[f"cb{k}"])), 2)
            h = h.reshape(batch, 256)
            for k in range(3):
                h = h @ ps[f"w{k}"] + ps[f"b{k}"]
                if k < 2:
                    h = F.relu(h)
            loss = F.cross_entropy(h, tf["y"][:, 0])
            loss.backward()
            return [p.grad for p in ps.values()]
        return torch_step

    return b.nodes, feeds, loss, params, {"PyTorch eager": make_torch}


def block(batch=32, c=64, side=32):
    rng = np.random.default_rng(1)
    b = B()
    x = b("placeholder", name="x")
    w1, w2 = b("placeholder", name="w1"), b("placeholder", name="w2")
    feeds = {"x": rng.standard_normal((batch, c, side, side)).astype(F32),
             "w1": (rng.standard_normal((c, c, 3, 3)) / np.sqrt(9 * c)).astype(F32),
             "w2": (rng.standard_normal((c, c, 3, 3)) / np.sqrt(9 * c)).astype(F32)}
    geo = dict(GEO, pad_lo=(1, 1), pad_hi=(1, 1))
    out = b("sum", b("conv", b("relu", b("conv", x, w1, **geo)), w2, **geo))

    def make_torch():
        torch = _torch()
        F = torch.nn.functional
        tf = {k: torch.from_numpy(v.copy()) for k, v in feeds.items()}

        def torch_step():
            a, bb = tf["w1"].detach().requires_grad_(), tf["w2"].detach().requires_grad_()
            F.conv2d(F.relu(F.conv2d(tf["x"], a, padding=1)), bb, padding=1).sum().backward()
            return a.grad, bb.grad
        return torch_step

    return b.nodes, feeds, out, [w1, w2], {"PyTorch eager": make_torch}


WORKLOADS = [("LeNet-5 step, batch 64", lenet, 3), ("3x3 conv block 32x32x64, batch 32", block, 1)]


def child(impl: str, quick: bool) -> dict:
    reps = 3 if quick else 7
    out = {}
    if impl == "gradwire":
        warm_up()
    with threadpool_limits(limits=THREADS):
        for name, make, number in WORKLOADS:
            nodes, feeds, result, wrt, others = make()
            cases = engine_cases(nodes, feeds, result, wrt) if impl == "gradwire" else {impl: others[impl]()}
            if impl == "gradwire":
                cases.pop("gradwire unfused run")
            out[name] = compare(cases, number, reps)
    return {"results": out, "threads": os_threads(),
            "torch": sys.modules["torch"].__version__ if "torch" in sys.modules else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="threads for every implementation (GRADWIRE_THREADS)")
    ap.add_argument("--child", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.quick)))
        return
    runs = {impl: [] for impl in IMPLEMENTATIONS}
    for r in range(args.rounds):
        for impl in IMPLEMENTATIONS[r % 2:] + IMPLEMENTATIONS[:r % 2]:
            cmd = [sys.executable, __file__, "--child", impl] + (["--quick"] if args.quick else [])
            env = dict(os.environ, GRADWIRE_THREADS=str(args.threads))
            done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
            runs[impl].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"# gradwire conv benchmark — {len(os.sched_getaffinity(0))} usable cores, {cpu_model()}; {args.threads} "
          f"threads for all; torch {runs['PyTorch eager'][0]['torch']}; one process per implementation; best of "
          f"{args.rounds} rounds of the median of {3 if args.quick else 7} repeats")
    print(f"\n{'workload':36s} {'implementation':22s} {'time':>11s} {'vs torch':>9s}")
    for name, *_ in WORKLOADS:
        best = {}
        for impl in IMPLEMENTATIONS:
            for case in runs[impl][0]["results"][name]:
                best[case] = min(r["results"][name][case] for r in runs[impl])
        ref = best["PyTorch eager"]
        for case, t in best.items():
            print(f"{name:36s} {case:22s} {t * 1e3:8.2f} ms {t / ref:8.2f}x")
        print()


if __name__ == "__main__":
    main()
