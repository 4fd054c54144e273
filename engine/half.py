"""float16 computed as PyTorch's CPU kernels compute it: in float32 (their "opmath" type), rounded once per op.

NumPy's own float16 loops round every intermediate of a formula (sigmoid's 1 / (1 + exp(-x)), a variance's
squares and sums, a composite's expansion) and Numba has no float16 at all; so every kernel that gets a float16
input runs on float32 copies, and a result whose PyTorch dtype is float16 is rounded back.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from gradwire.core.dtypes import result_type

F16 = np.dtype(np.float16)
F32 = np.dtype(np.float32)


def in_float32(impl: Callable) -> Callable:
    def run(*xs, **attrs):
        if not any(getattr(x, "dtype", None) == F16 for x in xs):
            return impl(*xs, **attrs)
        half = result_type(*((x.dtype.name, x.ndim) for x in xs if hasattr(x, "ndim"))) == "float16"
        out = impl(*(x.astype(F32) if getattr(x, "dtype", None) == F16 else x for x in xs), **attrs)
        return out.astype(F16) if half and getattr(out, "dtype", None) == F32 else out
    run.__name__, run.__doc__ = getattr(impl, "__name__", "kernel"), impl.__doc__
    return run
