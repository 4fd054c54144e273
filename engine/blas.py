"""A GEMM that accumulates into a strided output (C = A @ B + beta * C), straight from the OpenBLAS NumPy loads.

NumPy's `dot(out=)` always overwrites, so a sum of shifted products would cost one temporary and one add per
term; the CBLAS call takes beta, and row strides, so an operand may be a column window of a wider matrix.
The library is the one NumPy already uses (found through threadpoolctl, so its thread limit applies as for
`np.dot`); where there is none (another BLAS build), `gemm` falls back to NumPy with the same results up to
rounding.
"""
from __future__ import annotations

import ctypes

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


def _load_local_threads():
    try:
        from threadpoolctl import threadpool_info
        paths = [i["filepath"] for i in threadpool_info() if i.get("internal_api") == "openblas"]
        fn = getattr(ctypes.CDLL(paths[0]), "openblas_set_num_threads_local") if paths else None
    except Exception:       # noqa: BLE001  (no threadpoolctl, or an OpenBLAS older than 0.3.27)
        return None
    fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
    return fn


def _load():
    try:
        from threadpoolctl import threadpool_info
        paths = [i["filepath"] for i in threadpool_info() if i.get("internal_api") == "openblas"]
    except Exception:       # noqa: BLE001  (no threadpoolctl, or it cannot inspect this process: no CBLAS)
        return {}
    for path in paths:
        lib = ctypes.CDLL(path)
        for prefix, suffix, index in (("scipy_cblas_", "64_", ctypes.c_int64), ("cblas_", "64_", ctypes.c_int64),
                                      ("cblas_", "", ctypes.c_int)):
            fns = {}
            for dt, letter, scalar in ((np.dtype(np.float32), "s", ctypes.c_float),
                                       (np.dtype(np.float64), "d", ctypes.c_double)):
                fn = getattr(lib, f"{prefix}{letter}gemm{suffix}", None)
                if fn is None:
                    break
                fn.restype = None
                fn.argtypes = [ctypes.c_int] * 3 + [index] * 3 + [scalar, ctypes.c_void_p, index,
                                                                  ctypes.c_void_p, index, scalar, ctypes.c_void_p,
                                                                  index]
                fns[dt] = fn
            if len(fns) == 2:
                return fns
    return {}


_GEMM = _load()
_LOCAL_THREADS = _load_local_threads()


def one_thread(fn, *args):
    """fn(*args) with this thread's BLAS calls on one thread: for work already split over our own threads,
    where OpenBLAS's threads would only wait on each other (a no-op where the library cannot set it)."""
    if _LOCAL_THREADS is None:
        return fn(*args)
    old = _LOCAL_THREADS(1)
    try:
        return fn(*args)
    finally:
        _LOCAL_THREADS(old)


def available(dtype) -> bool:
    return np.dtype(dtype) in _GEMM


def _layout(a):
    """(transpose flag, leading dimension) of a 2-D view whose rows or columns are contiguous."""
    s0, s1 = (s // a.itemsize for s in a.strides)
    if s1 == 1 and s0 >= max(a.shape[1], 1):
        return _NO_TRANS, s0
    if s0 == 1 and s1 >= max(a.shape[0], 1):
        return _TRANS, s1
    raise ValueError("gemm operand needs unit stride along one axis")


def gemm(a, b, out, beta=0.0):
    """out = a @ b + beta * out for 2-D views (a (M, K), b (K, N), out (M, N) with unit column stride).
    With beta 0 the old contents of out are never read (OpenBLAS scales C by beta only when beta != 0)."""
    fn = _GEMM.get(out.dtype)
    if fn is None or a.dtype != out.dtype or b.dtype != out.dtype:
        if beta:
            out += a @ b
        else:
            np.matmul(a, b, out=out)
        return
    (m, k), n = a.shape, b.shape[1]
    ta, lda = _layout(a)
    tb, ldb = _layout(b)
    tc, ldc = _layout(out)
    assert tc == _NO_TRANS and b.shape[0] == k and out.shape == (m, n)
    if m == 0 or n == 0:
        return
    if k == 0:
        out[...] = 0 if not beta else out * beta
        return
    fn(_ROW_MAJOR, ta, tb, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data, ldb, beta, out.ctypes.data, ldc)
