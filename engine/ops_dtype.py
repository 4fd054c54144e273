"""Rows of the ops that reinterpret an element type (signatures in gradwire.core.dtype_ops)."""
from __future__ import annotations

import numpy as np

from .registry import defop


def _bitcast(x, dtype):
    """NumPy's view on the C-order bytes; a 0-d value is viewed through a one-element vector."""
    a = x if x.flags.c_contiguous else x.copy()
    if a.ndim == 0:
        return a.reshape(1).view(dtype).reshape(())
    return a.view(dtype)


defop("bitcast", impl=_bitcast, vjp=None, opmath=False)
