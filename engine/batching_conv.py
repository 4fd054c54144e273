"""Batching rules of the convolution primitives: a batch axis on the data folds into the conv's own batch, one
on the weights folds into its groups (each batch element a group of its own), as JAX's conv batching rule."""
from __future__ import annotations

from .batching import _lift, _size


def _fold_batch(x):
    """(B, N, ...) -> (B * N, ...)"""
    return x.reshape(shape=(x.shape[0] * x.shape[1],) + x.shape[2:])


def _unfold_batch(r, B):
    return r.reshape(shape=(B, r.shape[0] // B) + r.shape[1:])


def _to_channels(x):
    """(B, N, C, ...) -> (N, B * C, ...): each batch element's channels become their own groups."""
    perm = (1, 0) + tuple(range(2, x.ndim))
    t = x.transpose(perm=perm)
    return t.reshape(shape=(t.shape[0], t.shape[1] * t.shape[2]) + t.shape[3:])


def _from_channels(r, B):
    """(N, B * C, ...) -> (B, N, C, ...)"""
    r = r.reshape(shape=(r.shape[0], B, r.shape[1] // B) + r.shape[2:])
    return r.transpose(perm=(1, 0) + tuple(range(2, r.ndim)))


def _data_or_groups(name):
    """conv / conv_input_grad: (data, weight); only the data batched -> fold into N, else into groups."""
    def rule(xs, bs, aval, **attrs):
        (x, w), (bx, bw) = xs, bs
        B = _size(xs, bs)
        if not bw:
            if "shape" in attrs:
                attrs["shape"] = (B * attrs["shape"][0],) + tuple(attrs["shape"][1:])
            return _unfold_batch(x.b.op(name, _fold_batch(x), w, **attrs), B)
        x = _to_channels(_lift(x, bx, B))
        w = _fold_batch(w)
        if "shape" in attrs:
            s = attrs["shape"]
            attrs["shape"] = (s[0], B * s[1]) + tuple(s[2:])
        attrs["groups"] = attrs["groups"] * B
        return _from_channels(x.b.op(name, x, w, **attrs), B)
    return rule


def _weight_grad(xs, bs, aval, shape, groups, **attrs):
    B = _size(xs, bs)
    x, g = (_to_channels(_lift(v, b, B)) for v, b in zip(xs, bs))
    r = x.b.op("conv_weight_grad", x, g, shape=(B * shape[0],) + tuple(shape[1:]), groups=groups * B, **attrs)
    return r.reshape(shape=(B,) + tuple(shape))


def _folded(name):
    def rule(xs, bs, aval, **attrs):
        (x,) = xs
        return _unfold_batch(x.b.op(name, _fold_batch(x), **attrs), x.shape[0])
    return rule


def _trailing(name):
    """The max pools' argmax works over trailing dims: a leading batch axis is one more plane axis."""
    def rule(xs, bs, aval, **attrs):
        return xs[0].b.op(name, xs[0], **attrs)
    return rule


RULES = {"conv": _data_or_groups("conv"), "conv_input_grad": _data_or_groups("conv_input_grad"),
         "conv_weight_grad": _weight_grad, "im2col": _folded("im2col"), "col2im": _folded("col2im"),
         "max_pool_indices": _trailing("max_pool_indices"),
         "adaptive_max_pool_indices": _trailing("adaptive_max_pool_indices")}
