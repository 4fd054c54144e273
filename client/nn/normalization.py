"""torch.nn.functional's normalizations: layer, batch (running statistics updated in place), group, instance."""
from __future__ import annotations

import numbers

import numpy as np

import gradwire as gw

from .functional import _named


def _trailing(input, normalized_shape, fn: str, star: str) -> tuple:
    """The trailing dims normalized_shape names, with PyTorch's errors (its two messages differ by a comma)."""
    if isinstance(normalized_shape, numbers.Integral):
        raise TypeError(f"{fn}(): argument 'normalized_shape' (position 2) must be tuple of ints, not int")
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if tuple(input.shape[input.ndim - k:]) != normalized_shape or k == 0:
        raise RuntimeError(f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
                           f"[{star}{', '.join(map(str, normalized_shape))}], but got input of size{list(input.shape)}")
    return tuple(range(input.ndim - k, input.ndim))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    dims = _trailing(input, normalized_shape, "layer_norm", "*, ")
    mean = input.mean(dims, keepdim=True)
    centered = input - mean
    var = (centered * centered).mean(dims, keepdim=True)
    out = centered / (var + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return _named(out, "NativeLayerNormBackward0")


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / sqrt(mean(x^2 over the trailing normalized_shape) + eps) * weight; eps defaults to the dtype's
    machine epsilon, as PyTorch's."""
    dims = _trailing(input, normalized_shape, "rms_norm", "*")
    eps = float(np.finfo(np.dtype(str(input.dtype).rsplit(".", 1)[-1])).eps) if eps is None else eps
    out = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return out if weight is None else out * weight


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """Normalizes over every dim but the channels (dim 1). In training, batch statistics are used and the
    running ones updated in place (unbiased variance), as PyTorch does."""
    if input.ndim < 2:
        raise ValueError(f"expected 2D or more input (got {input.ndim}D input)")
    dims = (0,) + tuple(range(2, input.ndim))
    shape = (1, input.shape[1]) + (1,) * (input.ndim - 2)
    n = input.numel() // input.shape[1]
    if training and n == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
    for t, name in ((running_mean, "running_mean"), (running_var, "running_var"), (weight, "weight"), (bias, "bias")):
        if t is not None and t.numel() != input.shape[1]:
            raise RuntimeError(f"{name} should contain {input.shape[1]} elements not {t.numel()}")
    if training:
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
