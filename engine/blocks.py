"""Run a straight-line program of elementwise kernels block by block, each block small enough to stay in L2.

Why NumPy ufuncs on blocks and not generated Numba loops (measured on the 2-core AVX-512 machine, see
bench/engine.py and /work/shared/MEASURED.md): this llvmlite has no SVML, so sin/exp/tanh in a Numba loop
are scalar libm calls, 2.4-5x slower than NumPy's SIMD float32 ufuncs. Running the same ufuncs with `out=`
on 16 Ki-element blocks keeps every intermediate in cache, so a 30-op forward+backward chain on 10^6 float32
reads and writes main memory about once per group boundary instead of once per op, and gives the same bits
as the unfused ops (an elementwise kernel's result for one element does not depend on its neighbours or
on alignment; tests/test_executor.py checks this, NaN/Inf included). Generated Numba kernels would win on
arithmetic-only chains, but cost 0.3-1.2 s of compile per new graph (no on-disk cache for generated code)
and need reassociation for their reductions; we keep the one kernel kind and its exact semantics.

Blocks are partitioned into fixed contiguous ranges over a small thread pool (NumPy releases the GIL
inside ufuncs); the results do not depend on the partition, because nothing is reduced across blocks.
This module knows nothing of graphs: a program is a list of (kernel, source registers, destination).
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from . import fperr
from .jit import BLOCK_ELEMENTS, PARALLEL_BLOCK_ELEMENTS, PARALLEL_MIN_ELEMENTS, THREADS

_local = threading.local()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_threads = THREADS


def set_threads(n: int) -> None:
    """Threads per fused group from now on (plans built later use it; results are the same bits either way).
    A server running several requests at once may want fewer than the cores."""
    global _threads, _pool
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    with _pool_lock:
        _threads = n
        old, _pool = _pool, None
    if old is not None:
        old.shutdown(wait=False)


def threads() -> int:
    return _threads


def _workers() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max(_threads - 1, 1), thread_name_prefix="gradwire-blocks")
    return _pool


def submit(fn, *args):
    """Run fn(*args) on a block thread (for kernels that split their own work, e.g. a conv over its batch)."""
    return _workers().submit(fn, *args)


def warm_up() -> None:
    """Start the block threads now, not inside the first request that fuses a group."""
    if _threads > 1:
        pool = _workers()
        for f in [pool.submit(_scratch, np.dtype(dt), 4, BLOCK_ELEMENTS) for dt in ("float32", "float64")]:
            f.result()


def _scratch(dtype: np.dtype, count: int, size: int) -> list[np.ndarray]:
    """Per-thread scratch buffers, reused across runs (a plan is shared by concurrent requests)."""
    arena = getattr(_local, "arena", None)
    if arena is None:
        arena = _local.arena = {}
    bufs = arena.setdefault(dtype, [])
    for k in range(count):
        if k == len(bufs):
            bufs.append(np.empty(size, dtype))
        elif bufs[k].size < size:
            bufs[k] = np.empty(size, dtype)
    return bufs[:count]


@dataclass(frozen=True)
class Instr:
    fn: Callable          # a ufunc (called with out=) or any elementwise function (result copied into dst)
    srcs: tuple[int, ...]  # registers
    dst: int
    ufunc: bool
    call: Callable | None = None   # a compiled run (codegen.py): call(regs) writes its output registers itself


CALIBRATE = 3   # runs of each program before a group keeps the faster one


class BlockProgram:
    """Registers: [0, n_in) external inputs, then outputs (full arrays), then scratch (per-block buffers).

    `shape` is the shape every output has. Inputs listed in `sliced` have that shape's leading extent and are
    cut into row blocks; the others broadcast against a block as they are (scalars, trailing-axis vectors).
    With `flat`, every sliced input has exactly `shape` and the program runs on the flattened arrays, so a
    block is BLOCK_ELEMENTS whatever the shape.
    """

    def __init__(self, shape: tuple[int, ...], flat: bool, n_in: int, sliced: Sequence[bool],
                 out_dtypes: Sequence[np.dtype], scratch_dtypes: Sequence[np.dtype], program: Sequence[Instr]):
        self.shape, self.flat, self.n_in, self.sliced = tuple(shape), flat, n_in, tuple(sliced)
        self.out_dtypes, self.scratch_dtypes, self.program = tuple(out_dtypes), tuple(scratch_dtypes), tuple(program)
        size = 1
        for d in shape:
            size *= d
        self.size = size
        run_shape = (size,) if flat else (self.shape or (1,))
        self.run_shape = run_shape
        inner = size // run_shape[0] if run_shape[0] else 1
        n_threads = min(_threads, max(1, size // PARALLEL_MIN_ELEMENTS))
        block = BLOCK_ELEMENTS if n_threads == 1 else PARALLEL_BLOCK_ELEMENTS
        self.rows = max(1, block // max(inner, 1))       # leading-axis rows per block
        self.inner = inner
        self.nblocks = -(-run_shape[0] // self.rows) if run_shape[0] else 0
        self.scratch_count = {}
        for dt in self.scratch_dtypes:
            self.scratch_count[dt] = self.scratch_count.get(dt, 0) + 1
        n_threads = max(1, min(n_threads, self.nblocks))
        per = -(-self.nblocks // n_threads) if self.nblocks else 0
        self.ranges = [(b, min(b + per, self.nblocks)) for b in range(0, self.nblocks, per)] if per else []
        self.alt = None       # the same program with compiled arithmetic runs (set by compiled.py)
        self.chosen = None    # the program kept once both were timed
        self.timings = ([], [])

    def set_alternative(self, program: Sequence[Instr]) -> None:
        """Offer a program giving the same bits; the next runs time both and keep the faster."""
        self.chosen = None
        self.timings = ([], [])
        self.alt = tuple(program)

    def _pick(self):
        if self.alt is None:
            return self.program, None
        if self.chosen is not None:
            return self.chosen, None
        base, alt = self.timings
        if len(base) >= CALIBRATE and len(alt) >= CALIBRATE:
            self.chosen = self.alt if min(alt) < min(base) else self.program
            return self.chosen, None
        k = 1 if len(alt) < len(base) else 0
        return (self.alt if k else self.program), self.timings[k]

    def __call__(self, *inputs: np.ndarray, outs=None) -> tuple[np.ndarray, ...]:
        """outs: a buffer (or None) per output to compute into, used when it is C-contiguous, writable and
        of the output's shape and dtype; the others are fresh arrays."""
        if outs is None:
            outs = tuple(np.empty(self.shape, dt) for dt in self.out_dtypes)
        else:
            outs = tuple(b if b is not None and b.shape == self.shape and b.dtype == dt and b.flags.c_contiguous
                         and b.flags.writeable else np.empty(self.shape, dt) for b, dt in zip(outs, self.out_dtypes))
        if self.size == 0:
            return outs
        program, timing = self._pick()
        t0 = time.perf_counter()
        ins = [self._prepare(a, s) for a, s in zip(inputs, self.sliced)]
        flat_outs = [o.reshape(self.run_shape) for o in outs]
        if len(self.ranges) == 1:
            self._run_range(ins, flat_outs, *self.ranges[0], program)
        else:
            futures = [_workers().submit(self._run_range, ins, flat_outs, lo, hi, program)
                       for lo, hi in self.ranges[1:]]
            self._run_range(ins, flat_outs, *self.ranges[0], program)
            for f in futures:
                f.result()
        if timing is not None:
            timing.append(time.perf_counter() - t0)
        return outs

    def _prepare(self, a: np.ndarray, sliced: bool) -> np.ndarray:
        if not sliced:   # broadcasts against a block as it is; in flat mode it has one element
            return a.reshape(()) if self.flat else a
        if not self.flat:
            return a.reshape(self.run_shape) if a.ndim == 0 else a
        if a.flags.c_contiguous or not any(a.strides):   # (a broadcast scalar flattens without a copy)
            return a.reshape(-1)
        return np.ascontiguousarray(a).reshape(-1)

    def _run_range(self, ins, outs, lo: int, hi: int, program) -> None:
        with fperr.ignored():   # worker threads do not inherit the caller's error state
            rows = self.rows
            tail = self.run_shape[1:]
            pools = {dt: _scratch(dt, c, rows * self.inner) for dt, c in self.scratch_count.items()}
            taken = {dt: 0 for dt in pools}
            full_scratch = []
            for dt in self.scratch_dtypes:
                full_scratch.append(pools[dt][taken[dt]])
                taken[dt] += 1
            total = self.run_shape[0]
            for b in range(lo, hi):
                r0 = b * rows
                r1 = min(r0 + rows, total)
                n = r1 - r0
                regs = [a[r0:r1] if s else a for a, s in zip(ins, self.sliced)]
                regs += [o[r0:r1] for o in outs]
                shape = (n,) + tail
                regs += [buf[:n * self.inner].reshape(shape) for buf in full_scratch]
                for op in program:
                    if op.call is not None:
                        op.call(regs)
                    elif op.ufunc:
                        op.fn(*[regs[s] for s in op.srcs], out=regs[op.dst])
                    else:
                        np.copyto(regs[op.dst], op.fn(*[regs[s] for s in op.srcs]), casting="unsafe")
