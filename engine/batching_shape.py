"""Batching rules of the rearrangements and scatters along a dim (see batching.py for the rule signature)."""
from __future__ import annotations

from .batching import RULES, _lift, _size


def _shifted(name, *dim_attrs):
    """An op on one input whose dim attributes move past the batch axis."""
    def rule(xs, bs, aval, **attrs):
        for a in dim_attrs:
            v = attrs[a]
            attrs[a] = tuple(d + 1 for d in v) if isinstance(v, tuple) else v + 1
        return xs[0].b.op(name, xs[0], **attrs)
    return rule


def _same(name):
    """Ops on the last dims (tril, triu): the batch axis is one more leading dim."""
    return lambda xs, bs, aval, **attrs: xs[0].b.op(name, xs[0], **attrs)


def _repeat(xs, bs, aval, repeats):
    (x,) = xs
    lead = len(repeats) - (x.ndim - 1)
    x = x.reshape(shape=(x.shape[0],) + (1,) * lead + x.shape[1:]) if lead else x
    return x.repeat(repeats=(1,) + tuple(repeats))


def _unfold(xs, bs, aval, dimension, size, step):
    (x,) = xs
    if x.ndim == 1:     # a 0-d input: its one element as one window of `size` (0 or 1)
        return x.reshape(shape=(x.shape[0], 1)).unfold(dimension=1, size=size, step=step).reshape(
            shape=(x.shape[0], size))
    return x.unfold(dimension=dimension + 1, size=size, step=step)


def _scatter(name):
    """Base, index and src have one rank: all three get the batch axis."""
    def rule(xs, bs, aval, axis, **attrs):
        B = _size(xs, bs)
        base, idx, src = (_lift(x, b, B) for x, b in zip(xs, bs))
        if not aval.ndim:   # 0-d operands: one element each, on a dim of their own
            base, idx, src = (x.reshape(shape=(B, 1)) for x in (base, idx, src))
            return base.b.op(name, base, idx, src, axis=1, **attrs).reshape(shape=(B,))
        return base.b.op(name, base, idx, src, axis=axis + 1, **attrs)
    return rule


RULES.update({
    "flip": _shifted("flip", "dims"), "roll": _shifted("roll", "dims"), "tril": _same("tril"),
    "triu": _same("triu"), "repeat": _repeat, "diag_embed": _shifted("diag_embed", "dim1", "dim2"),
    "unfold": _unfold, "scatter": _scatter("scatter"), "scatter_reduce": _scatter("scatter_reduce"),
})
