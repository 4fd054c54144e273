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

# Fused elementwise groups (blocks.py). 16 Ki elements = 64 KiB per float32 buffer: a 30-op group's live
# buffers fit the L2 cache. bench/engine.py measured 4-32 Ki within a few percent; 16 Ki was best.
BLOCK_ELEMENTS = int(os.environ.get("GRADWIRE_BLOCK_ELEMENTS", 16384))
# Threads per fused group; the caller is one of them. Defaults to the cores this process may use.
THREADS = int(os.environ.get("GRADWIRE_THREADS", 0)) or len(os.sched_getaffinity(0))
# Below this many elements per thread, handing blocks to another thread costs more than it saves.
PARALLEL_MIN_ELEMENTS = 1 << 16
# Elementwise nodes smaller than this run one op at a time: a group's setup would cost more than it saves.
FUSE_MIN_ELEMENTS = int(os.environ.get("GRADWIRE_FUSE_MIN_ELEMENTS", 1 << 13))


def kernel(fn=None, *, signatures=None):
    """@kernel, or @kernel(signatures=[...]) to compile eagerly for exactly those types (one specialization)."""
    if fn is None:
        return lambda f: njit(signatures, **KERNEL)(f) if signatures else njit(**KERNEL)(f)
    return njit(**KERNEL)(fn)
