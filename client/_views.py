"""Aliasing kept functionally: storages, version counters, strides, and writing a view back into its base.

PyTorch tensors share memory; gradwire's graphs are pure. As PyTorch's own functionalization does for
lazy backends, a `Storage` holds the current value of a whole base tensor as a graph node, and every view
remembers the view ops that lead from the base to it. A write through any alias turns into an
out-of-place update of the base (the inverse of each view op, applied from the inside out: slice_scatter,
diagonal_scatter, an inverse reshape or transpose) and bumps the storage's generation; every other alias
regenerates its node from the new base the next time it is read. Strides are tracked only to decide what
PyTorch decides with them: whether `reshape` is a view, whether `view` is allowed, `is_contiguous()`.
"""
from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

import numpy as np


class Storage:
    """The value a base tensor and all its views share. `node` is the whole current value; `owner` a weak
    reference to the base tensor (whose liveness says whether a new value is worth bringing back)."""

    __slots__ = ("node", "generation", "owner")

    def __init__(self, node, owner=None):
        self.node = node
        self.generation = 0
        self.owner = owner

    def write(self, node) -> None:
        self.node = node
        self.generation += 1


class VersionCounter:
    """PyTorch's `_version`: bumped by every in-place write; shared by a tensor, its views and `detach()`
    (not by `.data`). Backward compares it with the version each saved tensor had when it was saved."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


class Step(NamedTuple):
    """One view op from a parent alias to a child: the engine op and its (normalized) attributes."""

    op: str
    attrs: dict


def contiguous_strides(shape) -> tuple[int, ...]:
    if type(shape) is not tuple:
        shape = tuple(shape)
    strides = _STRIDES.get(shape)
    if strides is None:
        out, step = [], 1
        for d in reversed(shape):
            out.append(step)
            step *= max(d, 1)
        strides = tuple(reversed(out))
        if len(_STRIDES) < 4096:        # every tensor made asks: remember the shapes a program uses
            _STRIDES[shape] = strides
    return strides


_STRIDES: dict[tuple, tuple[int, ...]] = {}


def is_contiguous(shape, strides) -> bool:
    """PyTorch's rule: size-1 dims may have any stride; an empty tensor is contiguous."""
    if any(d == 0 for d in shape):
        return True
    expected = 1
    for d, s in zip(reversed(shape), reversed(strides)):
        if d != 1:
            if s != expected:
                return False
            expected *= d
    return True


def has_overlap(shape, strides) -> bool:
    """Whether two elements share one memory location (an expanded dim): PyTorch refuses writes there."""
    return any(s == 0 and d > 1 for d, s in zip(shape, strides))


def view_strides(shape, strides, new_shape):
    """The strides `view(new_shape)` would have, or None where it cannot be a view (PyTorch's computeStride)."""
    if not shape:
        return (1,) * len(new_shape)
    if 0 in shape:
        if tuple(shape) == tuple(new_shape):
            return tuple(strides)
        return contiguous_strides(new_shape)
    new = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk = strides[-1]
    tensor_numel = view_numel = 1
    for d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[d]
        if d == 0 or (shape[d - 1] != 1 and strides[d - 1] != tensor_numel * chunk):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new[view_d] = view_numel * chunk
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                chunk = strides[d - 1]
                tensor_numel = view_numel = 1
    return tuple(new) if view_d == -1 else None


def step_strides(step: Step, shape, strides, offset, out_shape):
    """(strides, storage offset) of the child a view step makes from a parent with these."""
    op, a = step
    if op == "slice":
        strides, offset = list(strides), offset
        for k, (lo, hi, st) in enumerate(zip(a["starts"], a["stops"], a["steps"])):
            start = range(*slice(lo, hi, st).indices(shape[k])).start
            offset += start * strides[k]
            strides[k] *= st
        return tuple(strides), offset
    if op == "transpose":
        return tuple(strides[p] for p in a["perm"]), offset
    if op == "squeeze":
        return tuple(s for k, s in enumerate(strides) if k not in a["axes"]), offset
    if op == "unsqueeze":
        k = a["axis"]
        new = strides[k] * shape[k] if k < len(shape) else 1
        return strides[:k] + (new,) + strides[k:], offset
    if op == "broadcast_to":
        lead = len(out_shape) - len(shape)
        return (0,) * lead + tuple(0 if d == 1 and n != 1 else s
                                   for d, n, s in zip(shape, out_shape[lead:], strides)), offset
    if op == "diagonal":
        a1, a2, off = a["axis1"], a["axis2"], a["offset"]
        rest = tuple(s for k, s in enumerate(strides) if k not in (a1, a2))
        offset += off * strides[a2] if off >= 0 else -off * strides[a1]
        return rest + (strides[a1] + strides[a2],), offset
    if op == "reshape":
        return view_strides(shape, strides, out_shape), offset
    if op == "bitcast":       # view(dtype): strides counted in the new element size
        if not shape or not shape[-1] or shape[-1] == out_shape[-1]:
            return tuple(strides), offset
        ratio = Fraction(out_shape[-1], shape[-1])     # old element size / new one
        return tuple(int(s * ratio) for s in strides[:-1]) + (1,), int(offset * ratio)
    if op == "unfold":
        if not shape:
            return (1,), offset
        d = a["dimension"]
        return strides[:d] + (strides[d] * a["step"],) + strides[d + 1:] + (strides[d],), offset
    raise AssertionError(op)


# How a write into a child becomes a write into its parent: scatter(apply, parent_node, child) -> parent.
def _scatter_into(op):
    return lambda apply, parent, child, attrs: apply(op, parent, child, attrs=attrs)


def _reshape_back(apply, parent, child, attrs):
    return apply("reshape", child, attrs={"shape": parent.shape})


def _transpose_back(apply, parent, child, attrs):
    inverse = tuple(int(i) for i in np.argsort(attrs["perm"]))
    return apply("transpose", child, attrs={"perm": inverse})


def _through_expand(apply, parent, child, attrs):
    raise NotImplementedError("gradwire cannot write through a view of an expanded tensor (several of its "
                              "elements share one memory location in PyTorch); clone() it first")


def _bitcast_back(apply, parent, child, attrs):
    return apply("bitcast", child, attrs={"dtype": parent.dtype})


def _through_unfold(apply, parent, child, attrs):
    """Disjoint windows (step >= size): each element of the view is one element of the parent, put back there.
    Overlapping windows share elements, and PyTorch's result then depends on its kernels' order."""
    size, step, d = attrs["size"], attrs["step"], attrs["dimension"]
    if step < size:
        raise NotImplementedError("gradwire cannot write through a view made by unfold whose windows overlap "
                                  "(step < size); clone() it first")
    from gradwire.graph import Node
    shape = parent.shape or (1,)
    positions = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)
    windows = np.arange(child.shape[d] if parent.shape else 1)[:, None] * step + np.arange(size)
    positions = np.moveaxis(np.take(positions, windows, axis=d), d + 1, -1)
    index = Node(parent.session, None, value=positions.reshape(-1))
    flat = apply("reshape", child, attrs={"shape": (positions.size,)})
    return apply("put", parent, index, flat, attrs={"batch_dims": 0})


SCATTER = {"bitcast": _bitcast_back,
           "slice": _scatter_into("slice_scatter"), "diagonal": _scatter_into("diagonal_scatter"),
           "reshape": _reshape_back, "squeeze": _reshape_back, "unsqueeze": _reshape_back,
           "transpose": _transpose_back, "broadcast_to": _through_expand,
           "unfold": _through_unfold}
