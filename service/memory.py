"""The allocator settings a serving process runs with.

glibc returns freed memory to the kernel eagerly: a block past the mmap threshold (128 KiB, raised
dynamically up to 32 MiB) is unmapped when freed, and the heap is trimmed once 128 KiB are free at its top.
A request's temporaries are freed at its end and allocated again by the next one, so every request
faulted its pages in anew: ~1 500 minor faults and ~1.5 ms of an MLP step's 11 ms (measured, B=1024).
Keeping freed memory for reuse up to fixed bounds costs at most those bounds in resident memory.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

MiB = 1 << 20
# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
# Blocks below this come from the heap and are reused; larger ones (a 64 MiB tensor and up) are mapped and
# unmapped as before. Up to TRIM of free heap stays mapped.
MMAP_THRESHOLD = 64 * MiB
TRIM_THRESHOLD = 256 * MiB
TOP_PAD = 16 * MiB


def keep_freed_memory() -> bool:
    """Apply the settings (glibc only; elsewhere a no-op). True when applied."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = all(mallopt(param, value) == 1 for param, value in (
        (_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD), (_M_TOP_PAD, TOP_PAD)))
    if not ok:
        log.warning("mallopt refused the allocator settings; freed memory goes back to the kernel eagerly")
    return ok
