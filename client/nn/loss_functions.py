"""torch.nn.functional's losses, with every `reduction`: each names its result's grad_fn as PyTorch does."""
from __future__ import annotations

import numpy as np

import gradwire as gw
from gradwire import dtypes
from gradwire.ops import apply
from gradwire.tensor import Tensor

from .functional import _log1p_exp, _named, log_softmax

_REDUCTIONS = ("none", "mean", "sum")


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
    if input.ndim <= 2 and target.ndim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if target.dtype not in (dtypes.int64, dtypes.uint8 if hasattr(dtypes, "uint8") else dtypes.int64):
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {_scalar_type(target.dtype)}")
    if input.ndim == 4 and target.ndim != 3:
        raise RuntimeError(f"only batches of spatial targets supported (3D tensors) but got targets of dimension: "
                           f"{target.ndim}")
    out_shape = tuple(target.shape)
    logp = _class_dim_last(input)
    t = target.reshape(-1)
    c = input.shape[0] if input.ndim == 1 else input.shape[1]
    valid = t != ignore_index
    safe = gw.where(valid, t, gw.zeros_like(t))
    if not _targets_in_range(target, c, ignore_index):
        # Values still on the server: a negative class must fail there as out of bounds, not wrap around.
        safe = gw.where(safe < 0, gw.full_like(safe, c), safe)
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


def _targets_in_range(target, c: int, ignore_index: int) -> bool:
    """PyTorch's IndexError for a class index outside [0, c) (ignore_index aside), raised at the call when the
    client holds the targets; False when it does not (the server then refuses them)."""
    v = target._node.value
    if v is None:
        return False
    flat = np.asarray(v).reshape(-1)
    bad = (flat != ignore_index) & ((flat < 0) | (flat >= c))
    if bad.any():
        raise IndexError(f"Target {int(flat[np.argmax(bad)])} is out of bounds.")
    return True


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
    if target.dtype.is_floating_point and tuple(target.shape) == tuple(input.shape):
        # Class probabilities; a float target of another shape goes on as class indices, which nll_loss refuses
        # with PyTorch's words.
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


def _legacy(size_average, reduce, reduction: str) -> str:
    if size_average is None and reduce is None:
        return reduction
    return "none" if reduce is False else "sum" if size_average is False else "mean"


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-y x)), as PyTorch computes it (exp overflows to inf as its does)."""
    _not_differentiable("soft_margin_loss", "target", target)
    return _reduce((-input * target).exp().log1p(), _legacy(size_average, reduce, reduction),
                   "SoftMarginLossBackward0")


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    loss = -(target * -_log1p_exp(-input) + (1 - target) * -_log1p_exp(input))
    if weight is not None:
        loss = loss * weight
    loss = loss.sum(dim=input.dim() - 1) / input.size(input.dim() - 1)
    return _reduce(loss, _legacy(size_average, reduce, reduction))


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    """x where y == 1, max(0, margin - x) where y == -1 (both terms where y is neither, as PyTorch)."""
    zeros = gw.zeros_like(input)
    loss = gw.where(target != 1, (margin - input).clamp_min(0), zeros) + gw.where(target != -1, input, zeros)
    return _reduce(loss, _legacy(size_average, reduce, reduction))


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """1 - cos where y == 1, max(0, cos - margin) where y == -1; cos with PyTorch's 1e-12 in each magnitude."""
    dim = target.dim()
    if dim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if dim == 1 and (input1.dim() != 2 or input2.dim() != 2):
        raise RuntimeError(f"1D target tensor expects 2D input tensors, but found inputs with sizes "
                           f"{list(input1.shape)} and {list(input2.shape)}.")
    if dim == 0 and (input1.dim() != 1 or input2.dim() != 1):
        raise RuntimeError(f"0D target tensor expects 1D input tensors, but found inputs with sizes "
                           f"{list(input1.shape)} and {list(input2.shape)}.")
    dot = (input1 * input2).sum(dim)
    cos = dot / (((input1 * input1).sum(dim) + 1e-12) * ((input2 * input2).sum(dim) + 1e-12)).sqrt()
    zeros = gw.zeros_like(cos)
    loss = gw.where(target == 1, 1 - cos, zeros) + gw.where(target == -1, (cos - margin).clamp_min(0), zeros)
    return _reduce(loss, _legacy(size_average, reduce, reduction))


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    if not anchor.dim() == positive.dim() == negative.dim():
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {anchor.dim()}D, positive {positive.dim()}D, and negative "
                           f"{negative.dim()}D inputs")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = gw.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce((margin + d_pos - d_neg).clamp_min(0), _legacy(size_average, reduce, reduction))


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    """exp(x) - y x (log_input), else x - y log(x + eps); with full, Stirling's term where y > 1."""
    reduction = _legacy(size_average, reduce, reduction)
    if reduction not in _REDUCTIONS:
        raise ValueError(reduction + " is not a valid value for reduction")
    loss = input.exp() - target * input if log_input else input - target * (input + eps).log()
    if full:
        stirling = target * target.log() - target + 0.5 * (2 * np.pi * target).log()
        loss = loss + stirling.masked_fill(target <= 1, 0)
    return _reduce(loss, reduction)


__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "kl_div", "cosine_similarity", "pairwise_distance",
           "margin_ranking_loss", "soft_margin_loss", "multilabel_soft_margin_loss", "hinge_embedding_loss",
           "cosine_embedding_loss", "triplet_margin_loss", "poisson_nll_loss"]
