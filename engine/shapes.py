"""Shape arithmetic for the shape rules: exact integers, NumPy's broadcasting and axis conventions."""
from __future__ import annotations

from typing import Sequence


def broadcast(*shapes: Sequence[int]) -> tuple[int, ...]:
    nd = max((len(s) for s in shapes), default=0)
    out = []
    for k in range(nd):
        dims = {s[len(s) - nd + k] for s in shapes if len(s) - nd + k >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise ValueError(f"shapes {' and '.join(str(list(s)) for s in shapes)} cannot be broadcast together")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def axis(a: int, ndim: int) -> int:
    """Normalize one axis; a 0-d input accepts 0 and -1, as PyTorch does."""
    if ndim == 0:
        if a not in (0, -1):
            raise ValueError(f"axis {a} is out of range for a 0-d input")
        return 0
    if not -ndim <= a < ndim:
        raise ValueError(f"axis {a} is out of range for {ndim}-d input")
    return a % ndim


def axes(ax, ndim: int) -> tuple[int, ...]:
    """None -> all axes; otherwise normalized, sorted, duplicates rejected."""
    if ax is None:
        return tuple(range(ndim))
    norm = tuple(sorted(axis(a, ndim) for a in ax))
    if ndim == 0:
        return ()
    if len(set(norm)) != len(norm):
        raise ValueError(f"repeated axis in {list(ax)}")
    return norm


def reduced(shape: Sequence[int], ax: tuple[int, ...], keepdims: bool) -> tuple[int, ...]:
    if keepdims:
        return tuple(1 if k in ax else d for k, d in enumerate(shape))
    return tuple(d for k, d in enumerate(shape) if k not in ax)


def matmul(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    if not a or not b:
        raise ValueError("matmul needs inputs with at least 1 dimension")
    a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    if a2[-1] != b2[-2]:
        raise ValueError(f"matmul: inner dimensions differ: {list(a)} @ {list(b)}")
    batch = broadcast(a2[:-2], b2[:-2])
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def reshape(shape: Sequence[int], target: Sequence[int]) -> tuple[int, ...]:
    size = 1
    for d in shape:
        size *= d
    if sum(1 for d in target if d == -1) > 1:
        raise ValueError("only one dimension can be -1")
    if any(d < -1 for d in target):
        raise ValueError(f"invalid shape {list(target)}")
    known = 1
    for d in target:
        if d != -1:
            known *= d
    if -1 in target:
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape {list(shape)} ({size} elements) into {list(target)}")
        return tuple(size // known if d == -1 else d for d in target)
    if known != size:
        raise ValueError(f"cannot reshape {list(shape)} ({size} elements) into {list(target)}")
    return tuple(target)


def slice_shape(shape: Sequence[int], starts, stops, steps) -> tuple[int, ...]:
    if not (len(starts) == len(stops) == len(steps)):
        raise ValueError("starts, stops and steps must have the same length")
    if len(starts) > len(shape):
        raise ValueError(f"{len(starts)} slices for a {len(shape)}-d input")
    out = list(shape)
    for k, (a, b, s) in enumerate(zip(starts, stops, steps)):
        if s == 0:
            raise ValueError(f"slice step cannot be zero (axis {k})")
        out[k] = len(range(*slice(a, b, s).indices(shape[k])))
    return tuple(out)
