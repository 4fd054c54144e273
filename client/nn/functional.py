"""torch.nn.functional: activations, losses, normalization and the rest, as compositions of gradwire's ops.

Each function records ordinary graph nodes (so every result is differentiable again) and names its result's
grad_fn as PyTorch does (`MseLossBackward0`, `NllLossBackward0` ...).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

import gradwire as gw
from gradwire import dtypes
from gradwire.ops import apply
from gradwire.tensor import Tensor

_REDUCTIONS = ("none", "mean", "sum")


def _named(t: Tensor, grad_fn: str) -> Tensor:
    """Give the result PyTorch's grad_fn name (the function's last node is made for this call)."""
    if t.requires_grad:
        t._node.label = grad_fn
    return t


def _reduce(loss: Tensor, reduction: str, grad_fn: str | None = None) -> Tensor:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    out = loss if reduction == "none" else loss.mean() if reduction == "mean" else loss.sum()
    return _named(out, grad_fn) if grad_fn else out


def _not_differentiable(fn: str, name: str, t) -> None:
    """PyTorch refuses a weight that requires grad where its kernel has no derivative for it."""
    if t is not None and t.requires_grad:
        raise RuntimeError(f"The function '{fn}' is not differentiable with respect to argument '{name}'. This input "
                           "cannot have requires_grad True.")


def _check_same_size(input, target, name):
    if tuple(input.shape) != tuple(target.shape):
        import warnings
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
                      "This will likely lead to incorrect results due to broadcasting. Please ensure they have the "
                      "same size.", stacklevel=3)


# -- linear ----------------------------------------------------------------------------------------
def linear(input, weight, bias=None):
    """input @ weight.T + bias."""
    out = input.matmul(weight.t()) if weight.ndim == 2 else input.matmul(weight)
    if bias is not None:
        out = out + bias
    if input.ndim == 2 and weight.ndim == 2:
        return _named(out, "AddmmBackward0" if bias is not None else "MmBackward0")
    return _named(out, "ViewBackward0" if bias is not None or input.ndim > 2 else "SqueezeBackward4")


# -- activations -------------------------------------------------------------------------------------
def relu(input, inplace=False):
    return input.relu_() if inplace else input.relu()


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if inplace:
        return input.clamp_(min_val, max_val)
    return _named(input.clamp(min_val, max_val), "HardtanhBackward0")


def leaky_relu(input, negative_slope=0.01, inplace=False):
    out = _named(gw.where(input > 0, input, input * negative_slope), "LeakyReluBackward0")
    return _write(input, out) if inplace else out


def elu(input, alpha=1.0, inplace=False):
    out = _named(gw.where(input > 0, input, alpha * (input.exp() - 1)), "EluBackward0")
    return _write(input, out) if inplace else out


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def selu(input, inplace=False):
    out = _named(_SELU_SCALE * gw.where(input > 0, input, _SELU_ALPHA * (input.exp() - 1)), "EluBackward0")
    return _write(input, out) if inplace else out


def celu(input, alpha=1.0, inplace=False):
    out = _named(gw.where(input > 0, input, alpha * ((input / alpha).exp() - 1)), "CeluBackward0")
    return _write(input, out) if inplace else out


def _write(input, out):
    input.copy_(out)
    return input


def sigmoid(input):
    return input.sigmoid()


def tanh(input):
    return input.tanh()


def silu(input, inplace=False):
    out = _named(input * input.sigmoid(), "SiluBackward0")
    return _write(input, out) if inplace else out


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, linear above threshold (as PyTorch)."""
    bx = input * beta
    soft = _log1p_exp(bx) / beta
    return _named(gw.where(bx > threshold, input, soft), "SoftplusBackward0")


def _log1p_exp(x):
    """log(1 + exp(x)) without overflow and smooth at 0: x + log1p(exp(-x)) for x > 0, log1p(exp(x)) otherwise;
    each branch sees only its own inputs, so the unused one cannot send inf * 0 = nan into the gradient."""
    pos = x > 0
    zero = gw.zeros_like(x)
    xp, xn = gw.where(pos, x, zero), gw.where(pos, zero, x)
    return gw.where(pos, xp + _log1p((-xp).exp()), _log1p(xn.exp()))


def _log1p(x):
    return x.log1p() if hasattr(Tensor, "log1p") else (1 + x).log()


def mish(input, inplace=False):
    out = _named(input * softplus(input).tanh(), "MishBackward0")
    return _write(input, out) if inplace else out


def gelu(input, approximate="none"):
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (input + 0.044715 * input * input * input)
        out = 0.5 * input * (1 + inner.tanh())
    elif approximate == "none":
        out = 0.5 * input * (1 + gw.erf(input * (1.0 / math.sqrt(2.0))))
    else:
        raise RuntimeError("approximate argument must be either none or tanh.")
    return _named(out, "GeluBackward0")


def logsigmoid(input):
    return _named(-_log1p_exp(-input), "LogSigmoidBackward0")


def softsign(input):
    return input / (1 + input.abs())


def hardsigmoid(input, inplace=False):
    out = _named((input + 3).clamp(0.0, 6.0) / 6, "HardsigmoidBackward0")
    return _write(input, out) if inplace else out


def hardswish(input, inplace=False):
    out = _named(input * (input + 3).clamp(0.0, 6.0) / 6, "HardswishBackward0")
    return _write(input, out) if inplace else out


def tanhshrink(input):
    return input - input.tanh()


def threshold(input, threshold, value, inplace=False):
    out = _named(gw.where(input > threshold, input, gw.full_like(input, value)), "ThresholdBackward0")
    return _write(input, out) if inplace else out


def glu(input, dim=-1):
    n = input.shape[dim]
    if n % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {dim % input.ndim} is size {n}")
    a, b = input.split(n // 2, dim)
    return _named(a * b.sigmoid(), "GluBackward0")


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
    if num_classes == -1:
        num_classes = int(tensor.max().item()) + 1 if tensor.numel() else 0
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
    if p == 1.0:
        out = input * 0.0
    else:
        keep = gw.rand(*input.shape, dtype=input.dtype) >= p
        out = input * keep.to(input.dtype) * (1.0 / (1.0 - p))
    return _write(input, out) if inplace else out


# -- normalization ---------------------------------------------------------------------------------
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    if isinstance(normalized_shape, numbers.Integral):
        raise TypeError("layer_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, not int")
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if tuple(input.shape[input.ndim - k:]) != normalized_shape or k == 0:
        raise RuntimeError(f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, normalized_shape))}], but got input of size{input.shape}")
    dims = tuple(range(input.ndim - k, input.ndim))
    mean = input.mean(dims, keepdim=True)
    centered = input - mean
    var = (centered * centered).mean(dims, keepdim=True)
    out = centered / (var + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return _named(out, "NativeLayerNormBackward0")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """Normalizes over every dim but the channels (dim 1). In training, batch statistics are used and the
    running ones updated in place (unbiased variance), as PyTorch does."""
    if input.ndim < 2:
        raise ValueError(f"expected 2D or more input (got {input.ndim}D input)")
    dims = (0,) + tuple(range(2, input.ndim))
    shape = (1, input.shape[1]) + (1,) * (input.ndim - 2)
    n = input.numel() // input.shape[1]
    if training:
        if n == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
        mean = input.mean(dims)
        centered = input - mean.reshape(shape)
        var = (centered * centered).mean(dims)
        if running_mean is not None:
            with gw.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                running_var.mul_(1 - momentum).add_(momentum * var.detach() * (n / (n - 1)))
    else:
        mean, var = running_mean, running_var
        centered = input - mean.reshape(shape)
    out = centered / (var.reshape(shape) + eps).sqrt()
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return _named(out, "NativeBatchNormBackward0")


# -- losses ------------------------------------------------------------------------------------------
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    _check_same_size(input, target, "mse_loss")
    d = input - target
    return _reduce(d * d, reduction, "MseLossBackward0")


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    _check_same_size(input, target, "l1_loss")
    return _reduce((input - target).abs(), reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    d = (input - target).abs()
    loss = d - 0.5 * beta if beta == 0 else gw.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)
    return _reduce(loss, reduction, "SmoothL1LossBackward0")


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    d = (input - target).abs()
    loss = gw.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "HuberLossBackward0")


def _class_dim_last(x):
    """(N, C, d1, ...) -> (N * d1 * ..., C); (C,) -> (1, C)."""
    if x.ndim == 1:
        return x.unsqueeze(0)
    if x.ndim == 2:
        return x
    return x.movedim(1, -1).reshape(-1, x.shape[1]) if hasattr(Tensor, "movedim") else \
        x.permute(0, *range(2, x.ndim), 1).reshape(-1, x.shape[1])


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    if input.ndim >= 2 and target.ndim >= 1 and input.shape[0] != target.shape[0]:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                         f"({target.shape[0]}).")
    _not_differentiable("nll_loss_forward", "weight", weight)
    if target.dtype not in (dtypes.int64, dtypes.uint8 if hasattr(dtypes, "uint8") else dtypes.int64):
        raise RuntimeError(f"expected scalar type Long but found {_scalar_type(target.dtype)}")
    out_shape = tuple(target.shape)
    logp = _class_dim_last(input)
    t = target.reshape(-1)
    c = input.shape[0] if input.ndim == 1 else input.shape[1]
    valid = t != ignore_index
    safe = gw.where(valid, t, gw.zeros_like(t))
    picked = apply("gather", logp, safe.unsqueeze(1), attrs={"axis": 1}).squeeze(1)
    w = gw.ones(c, dtype=input.dtype) if weight is None else weight
    w_t = apply("take", w, safe, attrs={"axis": 0})
    wt = gw.where(valid, w_t, gw.zeros_like(w_t))
    losses = -picked * wt
    if reduction == "none":
        return _named(losses.reshape(out_shape), "NllLossBackward0")
    if reduction == "sum":
        return _named(losses.sum(), "NllLossBackward0")
    return _named(losses.sum() / wt.sum(), "NllLossBackward0")


def _scalar_type(dtype) -> str:
    return {"float32": "Float", "float64": "Double", "int32": "Int", "int64": "Long", "bool": "Bool"}.get(
        dtype.name, dtype.name)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Class indices (int64 target) or class probabilities (float target of input's shape)."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    logp = log_softmax(input, 1 if input.ndim >= 2 else 0)
    c = input.shape[1] if input.ndim >= 2 else input.shape[0]
    if target.dtype.is_floating_point:
        if tuple(target.shape) != tuple(input.shape):
            raise RuntimeError(f"Expected target size {list(input.shape)}, got {list(target.shape)}")
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / c
        cls = 1 if input.ndim >= 2 else 0
        shape = [1] * input.ndim
        shape[cls] = c
        prod = logp * target if weight is None else logp * target * weight.reshape(shape)
        losses = -prod.sum(cls)
        if reduction == "mean":
            n = input.numel() // c
            return _named(losses.sum() / n, "DivBackward1")
        return _reduce(losses, reduction, "NegBackward0" if reduction == "none" else "SumBackward0")
    _not_differentiable("nll_loss_forward", "weight", weight)
    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing == 0.0:
        return nll
    flat = _class_dim_last(logp)
    t = target.reshape(-1)
    valid = (t != ignore_index).to(input.dtype)
    w = gw.ones(c, dtype=input.dtype) if weight is None else weight
    smooth = -(flat * w).sum(1) * valid
    if reduction == "none":
        smooth = smooth.reshape(tuple(target.shape))
    elif reduction == "sum":
        smooth = smooth.sum()
    else:
        wsum = (apply("take", w, gw.where(t != ignore_index, t, gw.zeros_like(t)), attrs={"axis": 0}) * valid).sum()
        smooth = smooth.sum() / wsum
    return _named((1 - label_smoothing) * nll + (label_smoothing / c) * smooth, "AddBackward0")


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-(t log p + (1 - t) log(1 - p)), each log clamped at -100 as in PyTorch."""
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    _not_differentiable("binary_cross_entropy", "weight", weight)
    loss = apply("binary_cross_entropy", input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "BinaryCrossEntropyBackward0")


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    _not_differentiable("binary_cross_entropy_with_logits", "weight", weight)
    _not_differentiable("binary_cross_entropy_with_logits", "pos_weight", pos_weight)
    log_sig = -_log1p_exp(-input)                 # log sigmoid(x)
    log_one_minus = -_log1p_exp(input)            # log(1 - sigmoid(x))
    pos = target * log_sig if pos_weight is None else pos_weight * target * log_sig
    loss = -(pos + (1 - target) * log_one_minus)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "BinaryCrossEntropyWithLogitsBackward0")


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    if log_target:
        loss = target.exp() * (target - input)
    else:
        loss = gw.xlogy(target, target) - target * input if hasattr(gw, "xlogy") else \
            gw.where(target > 0, target * target.log(), gw.zeros_like(target)) - target * input
    if reduction == "batchmean":
        return _named(loss.sum() / (input.shape[0] if input.ndim else 1), "DivBackward0")
    return _reduce(loss, reduction)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """Each input divided by its norm (clamped at eps), then the dot product, as PyTorch computes it."""
    n1 = x1.norm(2, dim, keepdim=True).clamp(eps, None)
    n2 = x2.norm(2, dim, keepdim=True).clamp(eps, None)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    return _named((x1 - x2 + eps).norm(p, -1, keepdim), "NormBackward1")


def margin_ranking_loss(input1, input2, target, size_average=None, reduce=None, margin=0.0, reduction="mean"):
    loss = _named((-target * (input1 - input2) + margin).relu(), "ClampMinBackward0")
    return _reduce(loss, reduction)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalizes each group of channels over the group and the spatial dims, as torch.nn.functional.group_norm."""
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    n, c = input.shape[0], input.shape[1]
    if c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input of "
                           f"shape {input.shape} and num_groups={num_groups}")
    x = input.reshape(n, num_groups, -1)
    mean = x.mean(2, keepdim=True)
    centered = x - mean
    var = (centered * centered).mean(2, keepdim=True)
    out = (centered / (var + eps).sqrt()).reshape(tuple(input.shape))
    shape = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return _named(out, "NativeGroupNormBackward0")


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Batch norm per sample: statistics over the spatial dims of each (sample, channel)."""
    n, c = input.shape[0], input.shape[1]
    if use_input_stats:
        dims = tuple(range(2, input.ndim))
        mean = input.mean(dims, keepdim=True)
        centered = input - mean
        var = (centered * centered).mean(dims, keepdim=True)
        if running_mean is not None:
            m = input.numel() // (n * c)
            with gw.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * mean.detach().reshape(n, c).mean(0))
                running_var.mul_(1 - momentum).add_(momentum * var.detach().reshape(n, c).mean(0) * (m / (m - 1)))
    else:
        shape = (1, c) + (1,) * (input.ndim - 2)
        mean, var = running_mean.reshape(shape), running_var.reshape(shape)
        centered = input - mean
    out = centered / (var + eps).sqrt()
    shape = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def bilinear(input1, input2, weight, bias=None):
    """y[..., o] = sum_ij input1[..., i] weight[o, i, j] input2[..., j] + bias[o]."""
    x1 = input1.unsqueeze(-2).unsqueeze(-1)                     # (..., 1, I, 1)
    x2 = input2.unsqueeze(-2).unsqueeze(-2)                     # (..., 1, 1, J)
    out = (x1 * weight * x2).sum((-2, -1))
    return out + bias if bias is not None else out


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(Q K^T * scale + mask) V; a bool mask keeps where True; is_causal masks the upper triangle."""
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa is not supported")
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


from .sampling import interpolate, upsample  # noqa: E402,F401
from .conv import *  # noqa: E402,F401,F403  (convolutions, pools, pad, unfold/fold, pixel shuffle)
