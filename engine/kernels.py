"""Forward kernels that NumPy lacks or does slowly: Numba loops behind plain wrappers that check and allocate."""
from __future__ import annotations

import numpy as np

from .jit import kernel


@kernel
def _scatter_add(g, idx, out):
    # g: (pre, m, post), idx: (m,), out: (pre, size, post); out[p, idx[j], q] += g[p, j, q]
    pre, m, post = g.shape
    for p in range(pre):
        for j in range(m):
            r = idx[j]
            for q in range(post):
                out[p, r, q] += g[p, j, q]


@kernel
def _gather_add(g, idx, out):
    # g, idx: (pre, m, post), out: (pre, size, post); out[p, idx[p, j, q], q] += g[p, j, q]
    pre, m, post = g.shape
    for p in range(pre):
        for j in range(m):
            for q in range(post):
                out[p, idx[p, j, q], q] += g[p, j, q]


def _readonly(a: np.ndarray) -> np.ndarray:
    """A read-only C-contiguous view: Numba compiles one specialization per (dtype, layout, mutability),
    and inputs decoded from the wire with numpy.frombuffer are read-only. Passing every input read-only
    means one compiled kernel per dtype (warmed at start) serves both."""
    a = np.ascontiguousarray(a)
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def _checked(idx: np.ndarray, size: int) -> np.ndarray:
    """Indices in range (negative ones wrap once, as in NumPy), as contiguous int64."""
    idx = np.asarray(idx, dtype=np.int64)
    if idx.size and (idx.min() < -size or idx.max() >= size):
        bad = idx[(idx < -size) | (idx >= size)].flat[0]
        raise IndexError(f"index {bad} is out of bounds for axis with size {size}")
    # ascontiguousarray would turn 0-d indices into shape (1,): keep the caller's shape.
    return np.ascontiguousarray(np.where(idx < 0, idx + size, idx)).reshape(idx.shape)


def _three(shape, axis, span):
    pre = int(np.prod(shape[:axis], dtype=np.int64))
    post = int(np.prod(shape[axis + span:], dtype=np.int64))
    return pre, post


def take(x, idx, axis):
    return np.take(x, _checked(idx, x.shape[axis]), axis=axis)


def scatter_add(g, idx, axis, size):
    idx = np.asarray(idx)
    pre, post = _three(g.shape, axis, idx.ndim)
    out = np.zeros((pre, size, post), dtype=g.dtype)
    flat = _checked(idx, size).reshape(-1)
    _scatter_add(_readonly(g).reshape(pre, flat.size, post), _readonly(flat), out)
    return out.reshape(g.shape[:axis] + (size,) + g.shape[axis + idx.ndim:])


def _within(shape, like, axis) -> tuple:
    """The slices that cut shape down to like on every dim but axis (gather's index may be smaller)."""
    return tuple(slice(None) if k == axis else slice(0, n) for k, n in enumerate(like))


def gather(x, idx, axis):
    return np.take_along_axis(x[_within(x.shape, idx.shape, axis)], _checked(idx, x.shape[axis]), axis=axis)


def gather_add(g, idx, axis, shape):
    size = shape[axis]
    idx = _checked(idx, size)
    pre, post = _three(g.shape, axis, 1)
    out = np.zeros((pre, size, post), dtype=g.dtype)
    m = g.shape[axis]
    _gather_add(_readonly(g).reshape(pre, m, post), _readonly(idx).reshape(pre, m, post), out)
    inner = g.shape[:axis] + (size,) + g.shape[axis + 1:]
    if inner == tuple(shape):
        return out.reshape(shape)
    full = np.zeros(shape, dtype=g.dtype)
    full[_within(shape, inner, axis)] = out.reshape(inner)
    return full


def put(x, idx, v, batch_dims):
    out = x.copy()
    pre, _ = _three(x.shape, batch_dims, 0)
    rows = out.reshape(pre, int(np.prod(x.shape[batch_dims:], dtype=np.int64)))
    rows[:, _checked(idx, rows.shape[1]).reshape(-1)] = v.reshape(pre, idx.size)
    return out


def dot(x, y):
    if x.dtype != y.dtype:
        dt = np.promote_types(x.dtype, y.dtype)
        x, y = x.astype(dt), y.astype(dt)
    return np.asarray(np.dot(x, y))


def matmul(x, y):
    if x.dtype != y.dtype:
        dt = np.promote_types(x.dtype, y.dtype)
        x, y = x.astype(dt), y.astype(dt)
    return np.matmul(x, y)


@kernel
def _select(c, x, y, out):
    for i in range(out.size):
        out[i] = x[i] if c[i] else y[i]


# np.where branches per element: on a random mask (a relu's gradient) it ran 0.91 ms for 221 K float32, where
# this loop (a vector blend) runs ~0.05-0.08 ms. Same shapes and one contiguous float dtype only; else np.where
# (always under NUMBA_DISABLE_JIT, where the loop would be Python).
_JIT = hasattr(_select, "py_func")
_LOOP_MIN = 1024   # below this many elements the Numba call's overhead costs more than the loop saves


@kernel
def _select_scalar(c, x, y, out, flip):
    for i in range(out.size):
        out[i] = y if c[i] == flip else x[i]


def _flat(a: np.ndarray | None, shape) -> bool:
    return a is None or (a.shape == shape and a.flags.c_contiguous and a.flags.writeable)


def where(c, x, y, out=None):
    """np.where(c, x, y), written into `out` when given (a fused group's block)."""
    if (_JIT and x.dtype == y.dtype and x.dtype.kind == "f" and c.dtype == np.bool_ and c.flags.c_contiguous
            and c.size >= _LOOP_MIN and _flat(out, c.shape) and (out is None or out.dtype == x.dtype)):
        if c.shape == x.shape == y.shape and x.flags.c_contiguous and y.flags.c_contiguous:
            r = np.empty(x.shape, x.dtype) if out is None else out
            _select(c.reshape(-1), x.reshape(-1), y.reshape(-1), r.reshape(-1))
            return r
        # One side a 0-d value (relu's and clamp's gradient zero): no array of zeros to build and read.
        for full, scalar, flip in ((x, y, False), (y, x, True)):
            if scalar.ndim == 0 and full.shape == c.shape and full.flags.c_contiguous:
                r = np.empty(full.shape, full.dtype) if out is None else out
                _select_scalar(c.reshape(-1), full.reshape(-1), scalar[()], r.reshape(-1), flip)
                return r
    r = np.where(c, x, y)
    if out is None:
        return r
    np.copyto(out, r, casting="unsafe")
    return out


@kernel
def _relu(x, out, zero):
    for i in range(out.size):
        v = x[i]
        out[i] = zero if v < zero else v


def relu(x, out=None):
    """PyTorch's relu, x < 0 ? 0 : x: -0.0 and NaN stay as they are (np.maximum(x, 0) turns -0.0 into +0.0).
    Written into `out` when given (a fused group's block)."""
    if x.dtype.kind != "f":   # no signed zero: NumPy's max is PyTorch's
        return np.maximum(x, np.zeros((), x.dtype), out=out)
    zero = np.zeros((), x.dtype)
    if _JIT and x.size >= _LOOP_MIN and x.dtype.itemsize >= 4 and x.flags.c_contiguous and _flat(out, x.shape) \
            and (out is None or out.dtype == x.dtype):
        r = np.empty(x.shape, x.dtype) if out is None else out
        _relu(x.reshape(-1), r.reshape(-1), zero[()])
        return r
    r = np.where(x < zero, zero, x)
    if out is None:
        return r
    np.copyto(out, r, casting="unsafe")
    return out


def warm_up() -> None:
    """Compile every kernel signature a request will hit (loaded from NUMBA_CACHE_DIR after the first run)."""
    from . import blocks   # fused groups run NumPy ufuncs: nothing to compile, but start their threads
    blocks.warm_up()
    from . import special
    special.warm_up()
    for dt in (np.float32, np.float64):
        where(np.ones(1024, np.bool_), np.ones(1024, dt), np.zeros(1024, dt))
        where(np.ones(1024, np.bool_), np.ones(1024, dt), np.zeros((), dt))
        relu(np.ones(1024, dt))
        scatter_add(np.ones((2, 3), dt), np.array([0, 1, 0]), 1, 2)
        gather_add(np.ones((2, 3), dt), np.zeros((2, 3), np.int64), 1, (2, 2))
