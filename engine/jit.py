"""The one place kernel flags are set: Numba options for every @kernel, block size and threads for fused groups."""
from __future__ import annotations

import os

from numba import njit

# cache=True: compiled code persists on disk (NUMBA_CACHE_DIR), so a restart does not recompile.
# nogil=True: kernels release the GIL, so concurrent requests use every core.
# No fastmath: the full switch assumes no NaN/Inf, and NaN/Inf are values here. No parallel=True either:
# its workqueue layer crashed under concurrent calls from several Python threads (MEASURED.md); fused
# groups get their parallelism from `blocks.py`'s thread pool instead.
KERNEL = dict(cache=True, nogil=True)

# Fused elementwise groups (blocks.py), tuned with bench/engine.py W2 on the 2-core machine (2 MiB L2 per
# core): one thread ran fastest with 32 Ki-element blocks (128 KiB per float32 buffer, a 30-op group's ~12
# live buffers fit L2): 11.9 ms vs 13.1 at 16 Ki and 13.0 at 128 Ki. With two threads every ufunc call
# hands the GIL over, so fewer, larger calls win: 9.7-9.9 ms at 128 Ki vs 16.1 at 16 Ki.
BLOCK_ELEMENTS = int(os.environ.get("GRADWIRE_BLOCK_ELEMENTS", 1 << 15))
PARALLEL_BLOCK_ELEMENTS = int(os.environ.get("GRADWIRE_PARALLEL_BLOCK_ELEMENTS", 1 << 17))
# Threads per fused group; the caller is one of them. Defaults to the cores this process may use.
THREADS = int(os.environ.get("GRADWIRE_THREADS", 0)) or len(os.sched_getaffinity(0))
# A group goes parallel only above this many elements per thread: below it the GIL hand-overs (and
# OpenBLAS threads still spinning after a matmul) cost more than the second core gives.
PARALLEL_MIN_ELEMENTS = 1 << 18
# Elementwise nodes smaller than this run one op at a time: a group's setup would cost more than it saves.
FUSE_MIN_ELEMENTS = int(os.environ.get("GRADWIRE_FUSE_MIN_ELEMENTS", 1 << 15))


def kernel(fn):
    return njit(**KERNEL)(fn)

# Compiled plans (codegen.py, compiled.py). error_model="numpy": a float division by zero gives Inf/NaN, as in
# NumPy, instead of raising ZeroDivisionError (Numba's Python default). No fastmath for whole plans: their
# elementwise code must give the interpreted plan's bits, and reductions follow NumPy's pairwise order.
COMPILED = dict(cache=True, nogil=True, error_model="numpy")
# A plan becomes hot, and compiles in the background, at this many cache hits (0: never by count).
COMPILE_AFTER = int(os.environ.get("GRADWIRE_COMPILE_AFTER", 16))
# Nodes with more elements than this stay on NumPy: in bench/compiled.py's threshold table (a sin/mul/add/tanh
# chain, forward+backward) the tape took 0.1-0.7x the interpreted time up to 512 elements and 2.6x at 1 024
# (scalar libm against NumPy's SIMD functions).
COMPILE_MAX_ELEMENTS = int(os.environ.get("GRADWIRE_COMPILE_MAX_ELEMENTS", 512))
# Generated plan sources live here, next to Numba's cache of their machine code: a restart (or another replica
# sharing the directory) loads them instead of compiling again.
PLAN_DIR = os.environ.get("GRADWIRE_PLAN_DIR") or os.path.join(
    os.environ.get("NUMBA_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "gradwire"),
    "gradwire-plans")


def compiled(argtypes):
    """The decorator of generated plan code: eager for `argtypes`, so nothing compiles on a request's path.
    Inputs are declared read-only; Numba converts writable arrays to them, so one specialization serves both."""
    return njit(argtypes, **COMPILED)
