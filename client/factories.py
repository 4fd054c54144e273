"""Tensor factories. Values are made here with NumPy (they are data, not graph operations)."""
from __future__ import annotations

import math
import numbers

import numpy as np

from gradwire import dtypes
from gradwire.core.dtypes import DTYPES, LEGACY_NAMES
from gradwire.session import current_session
from gradwire.tensor import Tensor, leaf_from_data

# One global generator, as torch's default generator; `manual_seed` reseeds it. Its stream
# is NumPy's PCG64, so `randn` values differ from PyTorch's for the same seed.
_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    global _rng
    _rng = np.random.default_rng(int(seed))


def _leaf(value, dtype, requires_grad) -> Tensor:
    return leaf_from_data(current_session(), value, dtype, requires_grad)


def _size(size, keyword=None, name=None) -> tuple[int, ...]:
    """Sizes as varargs (`zeros(2, 3)`), one sequence (`zeros((2, 3))`) or `size=`; a negative one refused
    with PyTorch's message (zeros words its own)."""
    if keyword is not None:
        size = (keyword,)
    if len(size) == 1 and not isinstance(size[0], numbers.Integral):
        size = tuple(size[0])
    out = tuple(int(s) for s in size)
    bad = [s for s in out if s < 0]
    if bad:
        if name == "zeros":
            raise RuntimeError("zeros: Dimension size must be non-negative.")
        raise RuntimeError(f"Trying to create tensor with negative dimension {bad[0]}: {list(out)}")
    return out


def tensor(data, *, dtype=None, requires_grad=False) -> Tensor:
    """A leaf tensor holding a copy of `data` (Python floats become float32, ints int64)."""
    if isinstance(data, Tensor):
        return leaf_from_data(data._node.session, data, dtype, requires_grad)
    return _leaf(data, dtype, requires_grad)


def from_numpy(ndarray) -> Tensor:
    """A tensor with the array's values and dtype. PyTorch's from_numpy shares memory with the array; the
    value of a gradwire tensor lives on the server, so this takes a copy: later writes to the array do not
    reach the tensor, nor writes to the tensor the array."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    if ndarray.dtype.name not in DTYPES:
        raise TypeError(f"can't convert np.ndarray of type numpy.{ndarray.dtype.name}. The only supported types "
                        "are: float64, float32, float16, int64, int32, int16, int8, uint8, and bool.")
    return _leaf(ndarray, None, False)


def arange(start, end=None, step=1, *, dtype=None, requires_grad=False) -> Tensor:
    if end is None:
        start, end = 0, start
    floating = any(isinstance(v, float) for v in (start, end, step))
    out = dtypes.as_dtype(dtype) if dtype is not None else (
        dtypes.DEFAULT_FLOAT if floating else dtypes.int64)
    count = max(0, math.ceil((end - start) / step))
    if out.is_floating_point:
        value = (start + np.arange(count, dtype=np.float64) * step).astype(out.numpy)
    else:
        value = (start + np.arange(count, dtype=np.int64) * step).astype(out.numpy)
    return _leaf(value, None, requires_grad)


def zeros(*shape, size=None, dtype=None, requires_grad=False) -> Tensor:
    out = dtypes.as_dtype(dtype or dtypes.DEFAULT_FLOAT)
    return _leaf(np.zeros(_size(shape, size, "zeros"), dtype=out.numpy), None, requires_grad)


def ones(*shape, size=None, dtype=None, requires_grad=False) -> Tensor:
    out = dtypes.as_dtype(dtype or dtypes.DEFAULT_FLOAT)
    return _leaf(np.ones(_size(shape, size), dtype=out.numpy), None, requires_grad)


def full(size, fill_value, *, dtype=None, requires_grad=False) -> Tensor:
    out = dtypes.as_dtype(dtype) if dtype is not None else dtypes.scalar_dtype(fill_value)
    return _leaf(np.full(_size((size,)), fill_value, dtype=out.numpy), None, requires_grad)


def empty(*shape, size=None, dtype=None, requires_grad=False) -> Tensor:
    """Uninitialized in PyTorch; here zeros (the values are unspecified either way)."""
    out = dtypes.as_dtype(dtype or dtypes.DEFAULT_FLOAT)
    return _leaf(np.zeros(_size(shape, size), dtype=out.numpy), None, requires_grad)


def empty_like(input: Tensor, *, dtype=None, requires_grad=False) -> Tensor:
    return _like(input, 0, dtype, requires_grad)


def _draw_like(input: Tensor, dtype, requires_grad, draw, kernel) -> Tensor:
    out = dtypes.as_dtype(dtype if dtype is not None else input._node.dtype)
    if not out.is_floating_point:
        raise NotImplementedError(f'"{kernel}" not implemented for \'{LEGACY_NAMES[out.name]}\'')
    return leaf_from_data(input._node.session, draw(input._node.shape).astype(out.numpy), None, requires_grad)


def rand_like(input: Tensor, *, dtype=None, requires_grad=False) -> Tensor:
    return _draw_like(input, dtype, requires_grad, _rng.random, "check_uniform_bounds")


def randn_like(input: Tensor, *, dtype=None, requires_grad=False) -> Tensor:
    return _draw_like(input, dtype, requires_grad, _rng.standard_normal, "normal_kernel_cpu")


def randint(low=0, high=None, size=None, *, dtype=None, requires_grad=False) -> Tensor:
    """Integers drawn uniformly from [low, high): randint(high, size) or randint(low, high, size); int64 unless
    dtype says otherwise."""
    if size is None:
        low, high, size = 0, low, high
    elif high is None or not isinstance(high, numbers.Integral):
        low, high, size = 0, low, high
    low, high = int(low), int(high)
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    out = dtypes.as_dtype(dtype or dtypes.int64)
    shape = _size((size,))
    return _leaf(_rng.integers(low, high, shape).astype(out.numpy), None, requires_grad)


def _like(input: Tensor, fill, dtype, requires_grad) -> Tensor:
    """Shape and dtype are known at the call, so the value is made here: no request, no dependency."""
    node = input._node
    out = dtypes.as_dtype(dtype if dtype is not None else node.dtype).numpy
    return leaf_from_data(node.session, np.full(node.shape, fill, dtype=out), None, requires_grad)


def zeros_like(input: Tensor, *, dtype=None, requires_grad=False) -> Tensor:
    return _like(input, 0, dtype, requires_grad)


def ones_like(input: Tensor, *, dtype=None, requires_grad=False) -> Tensor:
    return _like(input, 1, dtype, requires_grad)


def full_like(input: Tensor, fill_value, *, dtype=None, requires_grad=False) -> Tensor:
    return _like(input, fill_value, dtype, requires_grad)


def randn(*shape, size=None, dtype=None, requires_grad=False) -> Tensor:
    out = dtypes.as_dtype(dtype or dtypes.DEFAULT_FLOAT)
    if not out.is_floating_point:
        raise NotImplementedError(f'"normal_kernel_cpu" not implemented for \'{LEGACY_NAMES[out.name]}\'')
    return _leaf(_rng.standard_normal(_size(shape, size)).astype(out.numpy), None, requires_grad)


def rand(*shape, size=None, dtype=None, requires_grad=False) -> Tensor:
    out = dtypes.as_dtype(dtype or dtypes.DEFAULT_FLOAT)
    return _leaf(_rng.random(_size(shape, size)).astype(out.numpy), None, requires_grad)


def linspace(start, end, steps, *, dtype=None, requires_grad=False) -> Tensor:
    """Evenly spaced points; the second half is counted back from `end`, as PyTorch does."""
    out = dtypes.as_dtype(dtype or dtypes.DEFAULT_FLOAT)
    start, end, steps = float(start), float(end), int(steps)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    if out.name == "bool":
        raise NotImplementedError("\"linspace_cpu\" not implemented for 'Bool'")
    i = np.arange(steps, dtype=np.float64)
    if steps == 1:
        value = np.array([start])
    else:
        step = (end - start) / (steps - 1)
        value = np.where(i < steps // 2, start + i * step, end - (steps - 1 - i) * step)
    return _leaf(value.astype(out.numpy), None, requires_grad)


def eye(n, m=None, *, dtype=None, requires_grad=False) -> Tensor:
    out = dtypes.as_dtype(dtype or dtypes.DEFAULT_FLOAT)
    return _leaf(np.eye(int(n), None if m is None else int(m), dtype=out.numpy), None,
                 requires_grad)
