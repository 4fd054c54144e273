"""torch.nn.functional: linear, softmax, dropout, embedding, attention here; the activations
(activation_functions.py), losses (loss_functions.py), normalizations (normalization.py), interpolation (sampling.py)
and convolutions and pools (conv.py, pooling.py) are re-exported, so `gw.nn.functional` holds them all. Each is a composition of gradwire's ops.

Each function records ordinary graph nodes (so every result is differentiable again) and names its result's
grad_fn as PyTorch does (`MseLossBackward0`, `NllLossBackward0` ...).
"""
from __future__ import annotations

import math

import numpy as np

import gradwire as gw
from gradwire import dtypes
from gradwire.core.dtypes import LEGACY_NAMES
from gradwire.ops import apply
from gradwire.tensor import Tensor


def _named(t: Tensor, grad_fn: str) -> Tensor:
    """Give the result PyTorch's grad_fn name (the function's last node is made for this call)."""
    if t.requires_grad:
        t._node.label = grad_fn
    return t


# -- linear ----------------------------------------------------------------------------------------
def linear(input, weight, bias=None):
    """input @ weight.T + bias."""
    if bias is not None and weight.ndim == 2:    # PyTorch's addmm words (without a bias, matmul's)
        for a, name in ((input, "mat1"), (bias, "self")):
            if a.dtype != weight.dtype:
                raise RuntimeError(f"{name} and mat2 must have the same dtype, but got {LEGACY_NAMES[a.dtype.name]} "
                                   f"and {LEGACY_NAMES[weight.dtype.name]}")
    out = input.matmul(weight.t()) if weight.ndim == 2 else input.matmul(weight)
    if bias is not None:
        out = out + bias
    if input.ndim == 2 and weight.ndim == 2:
        return _named(out, "AddmmBackward0" if bias is not None else "MmBackward0")
    return _named(out, "ViewBackward0" if bias is not None or input.ndim > 2 else "SqueezeBackward4")


# -- helpers the activations and losses share ----------------------------------------------------------
def _in_place(input: Tensor, fn, *args, grad_fn: str | None = None) -> Tensor:
    """fn(input, *args) written into input, as PyTorch's in-place forms (elu_, silu_, dropout_ ...), whose backward
    reads the values from before the write (or the result), never the overwritten tensor: fn reads them through a
    tensor of its own, so nothing its nodes save is the tensor the write changes. grad_fn: PyTorch's name for
    the in-place node where it is not the function's (EluBackward1)."""
    def op(x):
        out = fn(Tensor._wrap(x._node), *args)
        return _named(out, grad_fn) if grad_fn else out
    return input._in_place(op)


def _log1p_exp(x):
    """log(1 + exp(x)) without overflow and smooth at 0: x + log1p(exp(-x)) for x > 0, log1p(exp(x)) otherwise;
    each branch sees only its own inputs, so the unused one cannot send inf * 0 = nan into the gradient."""
    pos = x > 0
    zero = gw.zeros_like(x)
    xp, xn = gw.where(pos, x, zero), gw.where(pos, zero, x)
    return gw.where(pos, xp + _log1p((-xp).exp()), _log1p(xn.exp()))


def _log1p(x):
    return x.log1p() if hasattr(Tensor, "log1p") else (1 + x).log()


# -- softmax, normalize ---------------------------------------------------------------------------
def _dim(dim, ndim):
    """PyTorch's implicit softmax dim (deprecated): 0 for 0-, 1- and 3-d inputs, else 1."""
    return dim if dim is not None else (0 if ndim in (0, 1, 3) else 1)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    x = input if dtype is None else input.to(dtype)
    return x.softmax(_dim(dim, input.ndim))


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    x = input if dtype is None else input.to(dtype)
    return x.log_softmax(_dim(dim, input.ndim))


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    x = input if dtype is None else input.to(dtype)
    return (-x).softmax(_dim(dim, input.ndim))


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    norm = input.norm(p, dim, keepdim=True)
    return input / norm.clamp(eps, None).expand_as(input)


# -- sparse, dropout ---------------------------------------------------------------------------------
def one_hot(tensor, num_classes=-1):
    """int64 one-hot rows; with num_classes=-1 the client reads the largest class (one request)."""
    if tensor.dtype != dtypes.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if tensor.numel():
        # PyTorch's checks: classes outside [0, num_classes) are errors, not rows of zeros. Values the client
        # does not hold are read (their extremes, one request).
        v = tensor._node.value
        lo, hi = (int(v.min()), int(v.max())) if v is not None else gw.stack([tensor.min(), tensor.max()]).tolist()
        if lo < 0:
            raise RuntimeError("Class values must be non-negative.")
        if num_classes == -1:
            num_classes = hi + 1
        elif hi >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    elif num_classes == -1:
        num_classes = 0
    classes = gw.arange(num_classes)
    return (tensor.unsqueeze(-1) == classes).long()


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of weight; the rows at padding_idx get no gradient, as in PyTorch."""
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    if padding_idx is not None:
        n = weight.shape[0]
        if not -n <= padding_idx < n:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx %= n
        keep = gw.arange(n) != padding_idx
        weight = gw.where(keep.unsqueeze(1), weight, weight.detach())
    out = apply("take", weight, input, attrs={"axis": 0})
    return _named(out, "EmbeddingBackward0")


def dropout(input, p=0.5, training=True, inplace=False):
    """Zeroes elements with probability p and scales the rest by 1/(1-p); the mask is drawn where the tensor is
    created (the client's generator, see gw.manual_seed)."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if inplace:
        return _in_place(input, dropout, p)
    if p == 1.0:
        return input * 0.0
    keep = gw.rand(*input.shape, dtype=input.dtype) >= p
    return input * keep.to(input.dtype) * (1.0 / (1.0 - p))


def bilinear(input1, input2, weight, bias=None):
    """y[..., o] = sum_ij input1[..., i] weight[o, i, j] input2[..., j] + bias[o]."""
    x1 = input1.unsqueeze(-2).unsqueeze(-1)                     # (..., 1, I, 1)
    x2 = input2.unsqueeze(-2).unsqueeze(-2)                     # (..., 1, 1, J)
    out = (x1 * weight * x2).sum((-2, -1))
    return out + bias if bias is not None else out


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(Q K^T * scale + mask) V; a bool mask keeps where True; is_causal masks the upper triangle;
    enable_gqa repeats each key and value head over its group of query heads."""
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
    if enable_gqa:
        key, value = _query_groups(query, key, value)
    l, s = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = query.matmul(key.transpose(-2, -1)) * scale
    if is_causal:
        attn_mask = gw.tensor(np.tril(np.ones((l, s), dtype=bool)))
    if attn_mask is not None:
        if attn_mask.dtype == dtypes.bool_:
            scores = gw.where(attn_mask, scores, gw.full_like(scores, float("-inf")))
        else:
            scores = scores + attn_mask
    weights = scores.softmax(-1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p)
    return _named(weights.matmul(value), "UnsafeViewBackward0")


def _query_groups(query, key, value):
    """Key and value with their heads (dim -3) repeated to the query's count, as PyTorch's grouped-query
    attention does; each count must divide the query's."""
    heads = [t.size(-3) for t in (query, key, value)]
    if len(set(heads)) > 1 and (heads[0] % heads[1] or heads[0] % heads[2]):
        # PyTorch's message, which ends before the count it means to name.
        raise RuntimeError("Number of heads in key and value must divide the number of heads in ")
    return (t if n == heads[0] else t.repeat_interleave(heads[0] // n, -3) for t, n in zip((key, value), heads[1:]))


from .activation_functions import *  # noqa: E402,F401,F403  (the activations; activation.py holds their modules)
from .normalization import batch_norm, group_norm, instance_norm, layer_norm, rms_norm  # noqa: E402,F401
from .loss_functions import *  # noqa: E402,F401,F403  (the loss functions; loss.py holds their modules)
from .sampling import interpolate, upsample  # noqa: E402,F401
from .conv import *  # noqa: E402,F401,F403  (convolutions, pools, pad, unfold/fold, pixel shuffle)
from .attention import multi_head_attention_forward  # noqa: E402,F401
from .channel_dropout import dropout1d, dropout2d, dropout3d  # noqa: E402,F401
