"""What generated plan code imports: scalar types, Numba array types for eager signatures, and the reductions
written once here (NumPy's summation order) rather than in every generated module."""
from __future__ import annotations

import math  # noqa: F401  (generated code calls math.exp, math.sin, ...)

import numpy as np
from numba import njit, types

from .jit import COMPILED, compiled  # noqa: F401

f32, f64, b1 = np.float32, np.float64, np.bool_
NB = {"float32": types.float32, "float64": types.float64, "bool": types.boolean}


def ro(dtype: str, ndim: int = 1):
    """A read-only C-contiguous array type (writable arrays convert to it)."""
    return types.Array(NB[dtype], ndim, "C", readonly=True)


def rw(dtype: str, ndim: int = 1):
    return types.Array(NB[dtype], ndim, "C")


@njit(**COMPILED)
def pairwise_sum(a, s, n):
    """sum(a[s:s+n]) in NumPy's order (pairwise, 8 accumulators on blocks of up to 128): the same bits as
    np.sum over a contiguous run. n >= 1."""
    if n < 8:
        r = a[s]
        for i in range(1, n):
            r += a[s + i]
        return r
    if n <= 128:
        r0, r1, r2, r3 = a[s], a[s + 1], a[s + 2], a[s + 3]
        r4, r5, r6, r7 = a[s + 4], a[s + 5], a[s + 6], a[s + 7]
        m = n - n % 8
        i = 8
        while i < m:
            j = s + i
            r0 += a[j]
            r1 += a[j + 1]
            r2 += a[j + 2]
            r3 += a[j + 3]
            r4 += a[j + 4]
            r5 += a[j + 5]
            r6 += a[j + 6]
            r7 += a[j + 7]
            i += 8
        r = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            r += a[s + i]
            i += 1
        return r
    n2 = n // 2
    n2 -= n2 % 8
    return pairwise_sum(a, s, n2) + pairwise_sum(a, s + n2, n - n2)


@njit(**COMPILED)
def run_max(a, s, n):
    """max(a[s:s+n]) with NaN propagating, as np.max."""
    r = a[s]
    for i in range(1, n):
        x = a[s + i]
        if x > r or x != x:
            r = x
        if r != r:
            break
    return r


@njit(**COMPILED)
def run_min(a, s, n):
    r = a[s]
    for i in range(1, n):
        x = a[s + i]
        if x < r or x != x:
            r = x
        if r != r:
            break
    return r
