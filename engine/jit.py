"""The one place Numba flags are set: every kernel is compiled with these."""
from __future__ import annotations

from numba import njit

# cache=True: compiled code persists on disk (NUMBA_CACHE_DIR), so a restart does not recompile.
# nogil=True: kernels release the GIL, so concurrent requests use every core.
# No fastmath: the full switch assumes no NaN/Inf, and NaN/Inf are values here.
KERNEL = dict(cache=True, nogil=True)


def kernel(fn):
    return njit(**KERNEL)(fn)
