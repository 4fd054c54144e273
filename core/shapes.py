"""Shape arithmetic for the signatures: exact integers, broadcasting and dim conventions, PyTorch's errors."""
from __future__ import annotations

from typing import Sequence


def broadcast(*shapes: Sequence[int]) -> tuple[int, ...]:
    """The broadcast shape, folded left to right as PyTorch's infer_size does (and worded as it is)."""
    out: tuple[int, ...] = tuple(shapes[0]) if shapes else ()
    for s in shapes[1:]:
        out = _broadcast2(out, tuple(s))
    return out


def _broadcast2(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    if a == b:
        return a
    nd = max(len(a), len(b))
    out = [0] * nd
    for i in range(nd - 1, -1, -1):
        offset = nd - 1 - i
        da = a[len(a) - 1 - offset] if offset < len(a) else 1
        db = b[len(b) - 1 - offset] if offset < len(b) else 1
        if da != db and da != 1 and db != 1:
            raise RuntimeError(f"The size of tensor a ({da}) must match the size of tensor b ({db}) at "
                               f"non-singleton dimension {i}")
        out[i] = db if da == 1 else da
    return tuple(out)


def axis(a: int, ndim: int) -> int:
    """Normalize one dim; a 0-d input accepts 0 and -1, as PyTorch does."""
    n = max(ndim, 1)
    if not -n <= a < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {a})")
    return a % n if ndim else 0


def axes(ax, ndim: int) -> tuple[int, ...]:
    """None -> all dims; otherwise normalized and sorted; a repeated dim is refused."""
    if ax is None:
        return tuple(range(ndim))
    norm = [axis(a, ndim) for a in ax]
    seen = set()
    for a in norm:
        if a in seen:
            raise RuntimeError(f"dim {a} appears multiple times in the list of dims")
        seen.add(a)
    return () if ndim == 0 else tuple(sorted(norm))


def reduced(shape: Sequence[int], ax: tuple[int, ...], keepdims: bool) -> tuple[int, ...]:
    if keepdims:
        return tuple(1 if k in ax else d for k, d in enumerate(shape))
    return tuple(d for k, d in enumerate(shape) if k not in ax)


def _mat(s: Sequence[int]) -> str:
    return "x".join(str(d) for d in s)


def matmul(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    """torch.matmul's result shape and errors (dot, mv, mm, batched with broadcasting)."""
    a, b = tuple(a), tuple(b)
    if not a or not b:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {len(a)}D and "
                           f"{len(b)}D")
    if len(a) == 1 and len(b) == 1:
        if a != b:
            raise RuntimeError(f"inconsistent tensor size, expected tensor [{a[0]}] and src [{b[0]}] to have "
                               f"the same number of elements, but got {a[0]} and {b[0]} elements respectively")
        return ()
    if len(a) == 2 and len(b) == 1:
        if a[1] != b[0]:
            raise RuntimeError(f"size mismatch, got input ({a[0]}), mat ({_mat(a)}), vec ({b[0]})")
        return (a[0],)
    if len(a) <= 2 and len(b) == 2:
        a2 = (1,) + a if len(a) == 1 else a
        if a2[1] != b[0]:
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({_mat(a2)} and {_mat(b)})")
        return (b[1],) if len(a) == 1 else (a[0], b[1])
    if len(b) == 1:       # PyTorch folds the batch dims into one matrix-vector product
        rows = _prod(a[:-1])
        if a[-1] != b[0]:
            raise RuntimeError(f"size mismatch, got input ({rows}), mat ({rows}x{a[-1]}), vec ({b[0]})")
        return a[:-1]
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b
    batch = broadcast(a2[:-2], b2[:-2])
    if a2[-1] != b2[-2]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{_prod(batch)}, {a2[-1]}] but got: [{_prod(batch)}, {b2[-2]}].")
    out = batch + (a2[-2], b2[-1])
    return out[:-2] + out[-1:] if len(a) == 1 else out


def _prod(s: Sequence[int]) -> int:
    n = 1
    for d in s:
        n *= d
    return n


def reshape(shape: Sequence[int], target: Sequence[int]) -> tuple[int, ...]:
    """torch.reshape's result shape (one -1 inferred) and errors."""
    size = _prod(shape)
    target = tuple(target)
    infer = None
    known = 1
    for k, d in enumerate(target):
        if d == -1:
            if infer is not None:
                raise RuntimeError("only one dimension can be inferred")
            infer = k
        elif d < 0:
            raise RuntimeError(f"invalid shape dimension {d}")
        else:
            known *= d
    if infer is not None:
        if known == 0:
            raise RuntimeError(f"shape '{list(target)}' is invalid for input of size {size}")
        if size % known:
            raise RuntimeError(f"shape '{list(target)}' is invalid for input of size {size}")
        return target[:infer] + (size // known,) + target[infer + 1:]
    if known != size:
        raise RuntimeError(f"shape '{list(target)}' is invalid for input of size {size}")
    return target


def slice_shape(shape: Sequence[int], starts, stops, steps) -> tuple[int, ...]:
    if not (len(starts) == len(stops) == len(steps)):
        raise ValueError("starts, stops and steps must have the same length")
    if len(starts) > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    out = list(shape)
    for k, (a, b, s) in enumerate(zip(starts, stops, steps)):
        if s == 0:
            raise ValueError(f"slice step cannot be zero (dim {k})")
        out[k] = len(range(*slice(a, b, s).indices(shape[k])))
    return tuple(out)
