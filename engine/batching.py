"""Batching (vmap) as a graph-to-graph transform: nodes that depend on a batched input gain a leading axis."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from .autodiff import _reaches
from .builder import Builder, Sym
from .errors import GraphError
from .graph import Node
from .infer import Checked, check_node
from .registry import OPS, Aval

BIG = 2**62  # an omitted slice bound, as the wire writes it

# Every rule: rule(xs, bs, aval, **attrs) -> Sym. xs are the inputs in the batched graph, bs says which of
# them carry the leading batch axis (at least one does), aval is the node's unbatched result; the rule
# returns the result with shape (B,) + aval.shape.


def _size(xs, bs) -> int:
    return next(x.shape[0] for x, b in zip(xs, bs) if b)


def _pad(x: Sym, ndim: int) -> Sym:
    """(B, *s) -> (B, 1, ..., 1, *s) with `ndim` dims after B, so trailing-axis broadcasting lines up."""
    k = ndim - (x.ndim - 1)
    return x.reshape(shape=(x.shape[0],) + (1,) * k + x.shape[1:]) if k > 0 else x


def _lift(x: Sym, b: bool, B: int) -> Sym:
    """An unbatched operand broadcast to (B, *shape), for ops that need every operand batched."""
    return x if b else x.broadcast_to(shape=(B,) + x.shape)


def _elementwise(name):
    def rule(xs, bs, aval, **attrs):
        ins = [_pad(x, aval.ndim) if b else x for x, b in zip(xs, bs)]
        return xs[0].b.op(name, *ins, **attrs)
    return rule


def _reduce(name):
    def rule(xs, bs, aval, axes, **attrs):
        return xs[0].b.op(name, xs[0], axes=tuple(a + 1 for a in axes), **attrs)
    return rule


def _arg(name):
    def rule(xs, bs, aval, axis, keepdims):
        (x,) = xs
        B = x.shape[0]
        if axis is None or x.ndim == 1:  # over all elements (or a 0-d input): one flat row per batch element
            r = x.b.op(name, x.reshape(shape=(B, -1)), axis=1, keepdims=False)
            return r.reshape(shape=(B,) + aval.shape) if aval.shape else r
        return x.b.op(name, x, axis=axis + 1, keepdims=keepdims)
    return rule


def _along_axis(name, at_0d):
    def rule(xs, bs, aval, axis):
        (x,) = xs
        if x.ndim == 1:  # a 0-d input: softmax is 1, log_softmax 0
            return getattr(x, at_0d)()
        return x.b.op(name, x, axis=axis + 1)
    return rule


def _transpose(xs, bs, aval, perm):
    return xs[0].transpose(perm=(0,) + tuple(p + 1 for p in perm))


def _reshape(xs, bs, aval, shape):
    return xs[0].reshape(shape=(xs[0].shape[0],) + tuple(shape))


def _broadcast_to(xs, bs, aval, shape):
    x = _pad(xs[0], len(shape))
    return x.broadcast_to(shape=(x.shape[0],) + tuple(shape))


def _sum_to(xs, bs, aval, shape):
    (x,) = xs
    B, lead = x.shape[0], x.ndim - 1 - len(shape)
    r = x.sum_to(shape=(B,) + (1,) * lead + tuple(shape))
    return r.reshape(shape=(B,) + tuple(shape)) if lead else r


def _squeeze(xs, bs, aval, axes):
    return xs[0].squeeze(axes=tuple(a + 1 for a in axes))


def _unsqueeze(xs, bs, aval, axis):
    return xs[0].unsqueeze(axis=axis + 1)


def _slice(xs, bs, aval, starts, stops, steps):
    return xs[0].slice(starts=(0,) + tuple(starts), stops=(BIG,) + tuple(stops), steps=(1,) + tuple(steps))


def _unslice(xs, bs, aval, shape, starts, stops, steps):
    x = xs[0]
    return x.unslice(shape=(x.shape[0],) + tuple(shape), starts=(0,) + tuple(starts), stops=(BIG,) + tuple(stops),
                     steps=(1,) + tuple(steps))


def _scatter_into(name, shift):
    """slice_scatter / diagonal_scatter: base and src both get the batch axis; the attrs move past it."""
    def rule(xs, bs, aval, **attrs):
        B = _size(xs, bs)
        base, src = (_lift(x, b, B) for x, b in zip(xs, bs))
        return base.b.op(name, base, src, **shift(attrs))
    return rule


def _slice_attrs(attrs):
    return {"starts": (0,) + tuple(attrs["starts"]), "stops": (BIG,) + tuple(attrs["stops"]),
            "steps": (1,) + tuple(attrs["steps"])}


def _diagonal_attrs(attrs):
    return {"offset": attrs["offset"], "axis1": attrs["axis1"] + 1, "axis2": attrs["axis2"] + 1}


def _diagonal(xs, bs, aval, **attrs):
    return xs[0].diagonal(**_diagonal_attrs(attrs))


def _put(xs, bs, aval, batch_dims):
    x, idx, v = xs
    if bs[1]:
        raise _Unsupported("batched indices")
    B = _size(xs, bs)
    return _lift(x, bs[0], B).put(idx, _lift(v, bs[2], B), batch_dims=batch_dims + 1)


def _with_value(xs, bs, aval):
    B = _size(xs, bs)
    history, value = (_lift(x, b, B) for x, b in zip(xs, bs))
    return history.with_value(value)


def _join(name):
    def rule(xs, bs, aval, axis):
        B = _size(xs, bs)
        return xs[0].b.op(name, *[_lift(x, b, B) for x, b in zip(xs, bs)], axis=axis + 1)
    return rule


def _unbatched_indices(name):
    def rule(xs, bs, aval, **attrs):
        if bs[1]:
            raise _Unsupported("batched indices")
        return xs[0].b.op(name, xs[0], xs[1], **{**attrs, "axis": attrs["axis"] + 1})
    return rule


def _take(xs, bs, aval, axis):
    x, idx = xs
    if bs[0]:
        return _unbatched_indices("take")(xs, bs, aval, axis=axis)
    # Unbatched data, batched indices: B lands where the indices go; move it to the front.
    r = x.take(idx, axis=axis)
    perm = (axis,) + tuple(k for k in range(r.ndim) if k != axis)
    return r.transpose(perm=perm) if axis else r


def _along(name):
    """gather / gather_add: indices and values have the same rank, so both are lifted to (B, ...)."""
    def rule(xs, bs, aval, axis, **attrs):
        B = _size(xs, bs)
        a, idx = (_lift(x, b, B) for x, b in zip(xs, bs))
        if "shape" in attrs:
            attrs["shape"] = (B,) + tuple(attrs["shape"])
        return a.b.op(name, a, idx, axis=axis + 1, **attrs)
    return rule


def _matmul(xs, bs, aval):
    """dot and matmul: batched operands become (B, 1.., ...) stacks of matrices (1-D ones as a row or a
    column) so NumPy's batch broadcasting pairs element b with b; the size-1 axes are dropped at the end."""
    (x, y), (bx, by) = xs, bs
    B = _size(xs, bs)
    xo, yo = x.ndim - bx, y.ndim - by            # unbatched ranks
    n = max(xo - 2, yo - 2, 0)                   # batch rank of the unbatched product
    if bx:
        core = (1,) + x.shape[1:] if xo == 1 else x.shape[1:]
        x = x.reshape(shape=(B,) + (1,) * (n + 2 - len(core)) + core)
    if by:
        core = y.shape[1:] + (1,) if yo == 1 else y.shape[1:]
        y = y.reshape(shape=(B,) + (1,) * (n + 2 - len(core)) + core)
    want = (B,) + aval.shape
    # One GEMM instead of B small ones (NumPy loops over stacked matrices) where a single matrix meets the batch.
    if bx and not by and y.ndim <= 2 and x.ndim >= 2:   # (B, .., n, k) @ (k, m): stack the rows
        return x.reshape(shape=(math.prod(x.shape[:-1]), x.shape[-1])).matmul(y).reshape(shape=want)
    if by and not bx and x.ndim == 2 and y.ndim == 3 and y.shape[2] == 1:  # (n, k) @ (B, k, 1): y_b @ x^T
        return y.reshape(shape=(B, y.shape[1])).matmul(x.transpose(perm=(1, 0))).reshape(shape=want)
    r = x.matmul(y)
    return r.reshape(shape=want) if r.shape != want else r


def _scan(name):
    """Ops along one axis (scans, sort orders, median/mode indices): the axis moves past B; a 0-d input
    becomes one row of length 1 per batch element."""
    def rule(xs, bs, aval, axis, **attrs):
        (x,) = xs
        if x.ndim == 1:
            B = x.shape[0]
            return x.b.op(name, x.reshape(shape=(B, 1)), axis=1, **attrs).reshape(shape=(B,))
        return x.b.op(name, x, axis=axis + 1, **attrs)
    return rule


def _median(xs, bs, aval, ignore_nan):
    """The median of each batch element's values: gathered at its median index (same values)."""
    (x,) = xs
    B = x.shape[0]
    if math.prod(x.shape) == 0:
        return x.b.const(np.full((B,), np.nan), "float64").cast(dtype=aval.dtype)
    rows = x.reshape(shape=(B, -1))
    idx = rows.median_index(axis=1, ignore_nan=ignore_nan)
    return rows.gather(idx, axis=1).reshape(shape=(B,))


class _Unsupported(Exception):
    pass


def _matrices(name):
    """The linalg_* ops of one input work on the last two dims: a leading batch axis is one more batch dim."""
    def rule(xs, bs, aval, **attrs):
        return xs[0].b.op(name, xs[0], **attrs)
    return rule


def _solve(xs, bs, aval):
    """linalg_solve: both operands batched, B a stack of matrices (a vector B as one column)."""
    a, b = xs
    B = _size(xs, bs)
    a_shape, b_shape = (a.shape[1:] if bs[0] else a.shape), (b.shape[1:] if bs[1] else b.shape)
    vector = len(b_shape) == 1 or (len(b_shape) == len(a_shape) - 1 and b_shape == a_shape[:-1])
    a = _pad(_lift(a, bs[0], B), max(len(a_shape), len(b_shape) + vector))
    b = _lift(b, bs[1], B)
    if vector:
        b = b.unsqueeze(axis=b.ndim)
    b = _pad(b, max(len(a_shape), len(b_shape) + vector))
    r = a.linalg_solve(b)
    return r.squeeze(axes=(r.ndim - 1,)) if vector else r


RULES: dict = {}
for _name, _op in OPS.items():
    if _op.elementwise or _name in ("zeros_like", "ones_like"):
        RULES[_name] = _elementwise(_name)
for _name in ("sum", "nansum", "mean", "prod", "max", "min", "all", "any", "norm", "logsumexp"):
    RULES[_name] = _reduce(_name)
RULES.update({
    "argmax": _arg("argmax"), "argmin": _arg("argmin"),
    "softmax": _along_axis("softmax", "ones_like"), "log_softmax": _along_axis("log_softmax", "zeros_like"),
    "transpose": _transpose, "reshape": _reshape, "broadcast_to": _broadcast_to, "sum_to": _sum_to,
    "squeeze": _squeeze, "unsqueeze": _unsqueeze, "slice": _slice, "unslice": _unslice,
    "slice_scatter": _scatter_into("slice_scatter", _slice_attrs), "diagonal": _diagonal,
    "diagonal_scatter": _scatter_into("diagonal_scatter", _diagonal_attrs), "put": _put,
    "with_value": _with_value,
    "concat": _join("concat"), "stack": _join("stack"),
    "take": _take, "scatter_add": _unbatched_indices("scatter_add"),
    "gather": _along("gather"), "gather_add": _along("gather_add"),
    "dot": _matmul, "matmul": _matmul, "median": _median, "linalg_solve": _solve,
    # bitcast reads the last dim's bytes: a leading batch axis is carried along as it is
    "bitcast": lambda xs, bs, aval, dtype: xs[0].b.op("bitcast", xs[0], dtype=dtype),
})
for _name in ("cumsum", "cumprod", "logcumsumexp", "cummax_indices", "cummin_indices", "argsort", "median_index",
              "mode_index"):
    RULES[_name] = _scan(_name)
RULES.update({n: _matrices(n) for n, op in OPS.items() if n.startswith("linalg_") and op.max_inputs == 1})
from .batching_conv import RULES as _CONV_RULES  # noqa: E402  (convolution and pooling primitives)
RULES.update(_CONV_RULES)


def batch(checked: Checked, batched: Mapping[int, int], outputs: Sequence[int]):
    """Give the placeholders in `batched` (id -> B) a leading axis of size B, and every node that depends on
    them the same axis; the others are copied unchanged and shared by all batch elements. Node ids below the
    first batched placeholder keep their ids. Returns (Checked batched graph, ids of `outputs` in it)."""
    b = Builder([], [], check_node)
    new: list[Sym] = []
    is_b: list[bool] = []
    stop = max(outputs, default=-1)
    reach = _reaches(checked, outputs) if outputs else []
    for i in range(stop + 1):
        node, aval = checked.nodes[i], checked.avals[i]
        bs = [is_b[j] for j in node.inputs]
        if any(bs) and not reach[i]:  # batched, but no output needs it
            new.append(None)
            is_b.append(True)
            continue
        ins = [new[j] for j in node.inputs]
        if i in batched:
            if node.op != "placeholder":
                raise GraphError("only placeholders can be batched", i, node.op)
            b.nodes.append(node)
            b.avals.append(Aval((batched[i],) + aval.shape, aval.dtype))
            new.append(Sym(b, len(b.nodes) - 1))
            is_b.append(True)
        elif not any(bs):
            b.nodes.append(Node(node.op, tuple(x.id for x in ins), node.attrs))
            b.avals.append(aval)
            new.append(Sym(b, len(b.nodes) - 1))
            is_b.append(False)
        else:
            rule = RULES.get(node.op)
            if rule is None:
                raise GraphError("no batching rule", i, node.op)
            try:
                r = rule(ins, bs, aval, **node.attrs)
            except _Unsupported as e:
                raise GraphError(f"cannot batch {node.op} with {e}", i, node.op) from None
            B = _size(ins, bs)
            if r.shape != (B,) + aval.shape or r.dtype != aval.dtype:
                raise AssertionError(f"batching rule for {node.op} gave {r.dtype}{list(r.shape)}, expected "
                                     f"{aval.dtype}{[B, *aval.shape]}")
            new.append(r)
            is_b.append(True)
    return Checked(b.nodes, b.avals), [new[o].id for o in outputs]


from . import batching_shape  # noqa: E402,F401  (the shape family's rules, beside its rows)
