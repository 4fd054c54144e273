"""Arithmetic runs of large fused groups as generated Numba loops; transcendental ops stay NumPy ufuncs.

Why (measured on the 2-core machine, MEASURED.md): this Numba has no SIMD math library, so sin/exp/tanh in a
Numba loop are scalar libm calls, slower than NumPy's SIMD ufuncs; but a chain of arithmetic ufuncs reads and
writes every intermediate block, and one loop computing the chain per element keeps it in registers. So in a
group's block program (blocks.py), each run of consecutive arithmetic instructions becomes one generated
function over the block's registers. The run does the ufuncs' IEEE operations on the same elements, with no
fast-math and no FMA contraction: the same bits. Which of the two programs runs is measured per group
(blocks.py): both give the same results.

One row per op in ARITH: the scalar formula of the op's NumPy ufunc.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

ARITH = {
    np.add: "{a} + {b}",
    np.subtract: "{a} - {b}",
    np.multiply: "{a} * {b}",
    np.true_divide: "{a} / {b}",
    np.negative: "-{a}",
    np.square: "{a} * {a}",
    np.absolute: "abs({a})",
    np.maximum: "({a} if ({a} >= {b} or {a} != {a}) else {b})",
    np.minimum: "({a} if ({a} <= {b} or {a} != {a}) else {b})",
}
FLOATS = (np.dtype("float32"), np.dtype("float64"))
MIN_RUN = 2   # a run of one op gains nothing over its ufunc


def runs(program, reg_dtype) -> list[tuple[int, int]]:
    """[start, stop) of each run of at least MIN_RUN arithmetic ufunc instructions on one float dtype."""
    out, start, dt = [], None, None
    for k, ins in enumerate(list(program) + [None]):
        ok = ins is not None and ins.ufunc and ins.fn in ARITH
        if ok:   # a bound ufunc's inputs share its result's dtype (fusion.ufunc_for)
            dts = {reg_dtype(ins.dst)}
            ok = next(iter(dts)) in FLOATS
            if ok and start is not None and next(iter(dts)) != dt:
                if k - start >= MIN_RUN:
                    out.append((start, k))
                start = None
            if ok and start is None:
                start, dt = k, next(iter(dts))
        if not ok and start is not None:
            if k - start >= MIN_RUN:
                out.append((start, k))
            start = None
    return out


def run_source(name: str, program: Sequence, lo: int, hi: int, later_reads: set[int], outputs: set[int],
               scalars: set[int]):
    """Source of `def name(n, <inputs>, <outputs>)` for program[lo:hi], and its input and output registers.

    Inputs are the registers read before the run writes them (those in `scalars` arrive as one value, the
    others as block arrays); outputs the registers the run writes that are read afterwards (before being
    written again) or are the group's outputs."""
    ins: list[int] = []
    written: set[int] = set()
    cur: dict[int, str] = {}
    body = []
    for k in range(lo, hi):
        op = program[k]
        args = []
        for r in op.srcs:
            if r not in cur:
                ins.append(r)
                cur[r] = f"x{r}"
            args.append(cur[r])
        var = f"t{k}"
        body.append(f"{var} = " + ARITH[op.fn].format(a=args[0], b=args[-1]))
        cur[op.dst] = var
        written.add(op.dst)
    outs = sorted(r for r in written if r in later_reads or r in outputs)
    lines = [f"def {name}(n, {''.join(f'i{r}, ' for r in ins)}{', '.join(f'o{r}' for r in outs)}):"]
    lines += [f"    x{r} = i{r}" for r in ins if r in scalars]
    lines += ["    for k in range(n):"]
    lines += [f"        x{r} = i{r}[k]" for r in ins if r not in scalars]
    lines += [f"        {b}" for b in body]
    lines += [f"        o{r}[k] = {cur[r]}" for r in outs]
    return "\n".join(lines) + "\n", ins, outs


def later_reads(program: Sequence, hi: int) -> set[int]:
    """Registers read after instruction hi before being written again."""
    reads, dead = set(), set()
    for op in program[hi:]:
        for r in op.srcs:
            if r not in dead:
                reads.add(r)
        dead.add(op.dst)
    return reads
