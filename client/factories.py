"""Tensor factories. Values are made here with NumPy (they are data, not graph operations)."""
from __future__ import annotations

import math
import numbers

import numpy as np

from gradwire import devices, dtypes
from gradwire.core.dtypes import DTYPES, LEGACY_NAMES
from gradwire.session import current_session
from gradwire.tensor import Tensor, leaf_from_data


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


def tensor(data, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A leaf tensor holding a copy of `data` (Python floats become float32, ints int64)."""
    devices.check(device)
    if isinstance(data, Tensor):
        return leaf_from_data(data._node.session, data, dtype, requires_grad)
    return _leaf(data, dtype, requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """data as a tensor: a tensor itself when its dtype already fits (else cast, keeping its history), anything else
    as gw.tensor makes it (an array keeps its dtype). PyTorch shares an array's memory here; a gradwire tensor's value
    lives on the server, so it is a copy, as in from_numpy."""
    devices.check(device)
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    return tensor(data, dtype=dtype)


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


def _number(v):
    """A Python number from a number or a one-element tensor (arange(torch.tensor(3)))."""
    return v.item() if isinstance(v, (Tensor, np.ndarray, np.generic)) else v


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """start, start + step, ... up to end (excluded), as torch.arange: int64 unless a bound or the step is a
    float (then the default float type); ceil((end - start) / step) values, computed in double."""
    devices.check(device)
    if end is None:
        start, end = 0, start
    start, end, step = _number(start), _number(end), _number(step)
    floating = any(isinstance(v, float) for v in (start, end, step))
    out = dtypes.as_dtype(dtype) if dtype is not None else (dtypes.DEFAULT_FLOAT if floating else dtypes.int64)
    if out.name == "bool":
        raise NotImplementedError("\"arange_cpu\" not implemented for 'Bool'")
    if out.name == "int64":       # PyTorch truncates all three to integers first for int64 (only)
        if step != 0 and int(step) == 0:
            raise ValueError("step must be nonzero")
        start, end, step = int(start), int(end), int(step)
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if not (math.isfinite(float(start)) and math.isfinite(float(end))):
        raise RuntimeError(f"unsupported range: {start:g} -> {end:g}")
    if (end - start) * step < 0 and end != start:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    length = math.ceil((float(end) - float(start)) / float(step))
    if length > 2**31 * 64:
        raise RuntimeError("invalid size, possible overflow?")
    length = max(length, 0)
    if out.is_floating_point:
        value = (float(start) + np.arange(length, dtype=np.float64) * float(step)).astype(out.numpy)
    else:       # the start and step in the integer type, wrapping as PyTorch's kernel does
        value = (int(start) + np.arange(length, dtype=np.int64) * int(step)).astype(out.numpy)
    return _leaf(value, None, requires_grad)


def zeros(*shape, size=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    devices.check(device)
    out = dtypes.as_dtype(dtype or dtypes.DEFAULT_FLOAT)
    return _leaf(np.zeros(_size(shape, size, "zeros"), dtype=out.numpy), None, requires_grad)


def ones(*shape, size=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    devices.check(device)
    out = dtypes.as_dtype(dtype or dtypes.DEFAULT_FLOAT)
    return _leaf(np.ones(_size(shape, size), dtype=out.numpy), None, requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    devices.check(device)
    if isinstance(size, numbers.Integral):
        raise TypeError(f"full(): argument 'size' (position 1) must be tuple of ints, not {type(size).__name__}")
    out = dtypes.as_dtype(dtype) if dtype is not None else dtypes.scalar_dtype(fill_value)
    return _leaf(np.full(_size((size,)), fill_value, dtype=out.numpy), None, requires_grad)


def empty(*shape, size=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uninitialized in PyTorch; here zeros (the values are unspecified either way)."""
    devices.check(device)
    out = dtypes.as_dtype(dtype or dtypes.DEFAULT_FLOAT)
    return _leaf(np.zeros(_size(shape, size), dtype=out.numpy), None, requires_grad)


def empty_like(input: Tensor, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(input, 0, dtype, requires_grad, device)


def _like(input: Tensor, fill, dtype, requires_grad, device) -> Tensor:
    """Shape and dtype are known at the call, so the value is made here: no request, no dependency."""
    devices.check(device)
    node = input._node
    out = dtypes.as_dtype(dtype if dtype is not None else node.dtype).numpy
    return leaf_from_data(node.session, np.full(node.shape, fill, dtype=out), None, requires_grad)


def zeros_like(input: Tensor, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(input, 0, dtype, requires_grad, device)


def ones_like(input: Tensor, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(input, 1, dtype, requires_grad, device)


def full_like(input: Tensor, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(input, fill_value, dtype, requires_grad, device)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Evenly spaced points; the second half is counted back from `end`, as PyTorch does."""
    devices.check(device)
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


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    devices.check(device)
    out = dtypes.as_dtype(dtype or dtypes.DEFAULT_FLOAT)
    for name, v in (("n", n), ("m", m)):
        if v is not None and int(v) < 0:
            raise RuntimeError(f"{name} must be greater or equal to 0, got {int(v)}")
    return _leaf(np.eye(int(n), None if m is None else int(m), dtype=out.numpy), None,
                 requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """base ** linspace(start, end, steps), computed in double and then cast, as torch.logspace."""
    devices.check(device)
    out = dtypes.as_dtype(dtype or dtypes.DEFAULT_FLOAT)
    start, end, steps = float(_number(start)), float(_number(end)), int(steps)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    if out.name == "bool":
        raise NotImplementedError("\"logspace_cpu\" not implemented for 'Bool'")
    i = np.arange(steps, dtype=np.float64)
    if steps == 1:
        exps = np.array([start])
    else:
        step = (end - start) / (steps - 1)
        exps = np.where(i < steps // 2, start + i * step, end - (steps - 1 - i) * step)
    return _leaf(np.power(float(base), exps).astype(out.numpy), None, requires_grad)


def _tri_indices(name: str, row, col, offset, dtype, upper: bool) -> Tensor:
    out = dtypes.as_dtype(dtype if dtype is not None else dtypes.int64)
    if out.name not in ("int32", "int64"):
        raise NotImplementedError(f'"{name}" not implemented for \'{LEGACY_NAMES[out.name]}\'')
    row, col, offset = int(row), int(col), int(offset)
    if row < 0:
        raise RuntimeError(f"row must be non-negative, got{row}")
    if col < 0:
        raise RuntimeError(f"col must be non-negative, got{col}")
    r, c = (np.triu_indices if upper else np.tril_indices)(row, offset, col)
    return _leaf(np.stack([r, c]).astype(out.numpy).reshape(2, -1), None, False)


def tril_indices(row, col, offset=0, *, dtype=None, device=None) -> Tensor:
    """The (row, col) indices of the lower triangle of a row x col matrix (offset: diagonals above), 2 x N."""
    devices.check(device)
    return _tri_indices("tril_indices", row, col, offset, dtype, upper=False)


def triu_indices(row, col, offset=0, *, dtype=None, device=None) -> Tensor:
    """The (row, col) indices of the upper triangle of a row x col matrix (offset: diagonals above), 2 x N."""
    devices.check(device)
    return _tri_indices("triu_indices", row, col, offset, dtype, upper=True)
