"""torch.nn.functional's activations (relu, elu, gelu, hardtanh ...): each names its result's grad_fn as PyTorch
does; `inplace=True` writes the result into the input."""
from __future__ import annotations

import math

import gradwire as gw

from .functional import _in_place, _log1p_exp, _named


def relu(input, inplace=False):
    return input.relu_() if inplace else input.relu()


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if inplace:
        return _in_place(input, hardtanh, min_val, max_val)
    return _named(input.clamp(min_val, max_val), "HardtanhBackward0")


def leaky_relu(input, negative_slope=0.01, inplace=False):
    if inplace:
        return _in_place(input, leaky_relu, negative_slope, grad_fn="LeakyReluBackward1")
    return _named(gw.where(input > 0, input, input * negative_slope), "LeakyReluBackward0")


def elu(input, alpha=1.0, inplace=False):
    if inplace:
        return _in_place(input, elu, alpha, grad_fn="EluBackward1")
    return _named(gw.where(input > 0, input, alpha * (input.exp() - 1)), "EluBackward0")


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def selu(input, inplace=False):
    if inplace:
        return _in_place(input, selu, grad_fn="EluBackward1")
    return _named(_SELU_SCALE * gw.where(input > 0, input, _SELU_ALPHA * (input.exp() - 1)), "EluBackward0")


def celu(input, alpha=1.0, inplace=False):
    if inplace:
        return _in_place(input, celu, alpha, grad_fn="CeluBackward1")
    return _named(gw.where(input > 0, input, alpha * ((input / alpha).exp() - 1)), "CeluBackward0")


def sigmoid(input):
    return input.sigmoid()


def tanh(input):
    return input.tanh()


def silu(input, inplace=False):
    if inplace:
        return _in_place(input, silu)
    return _named(input * input.sigmoid(), "SiluBackward0")


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, linear above threshold (as PyTorch)."""
    bx = input * beta
    soft = _log1p_exp(bx) / beta
    return _named(gw.where(bx > threshold, input, soft), "SoftplusBackward0")


def mish(input, inplace=False):
    if inplace:
        return _in_place(input, mish)
    return _named(input * softplus(input).tanh(), "MishBackward0")


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
    if inplace:
        return _in_place(input, hardsigmoid)
    return _named((input + 3).clamp(0.0, 6.0) / 6, "HardsigmoidBackward0")


def hardswish(input, inplace=False):
    if inplace:
        return _in_place(input, hardswish)
    return _named(input * (input + 3).clamp(0.0, 6.0) / 6, "HardswishBackward0")


def tanhshrink(input):
    return input - input.tanh()


def _threshold(input, threshold, value, inplace=False):
    if inplace:
        return _in_place(input, _threshold, threshold, value, grad_fn="ThresholdBackward1")
    return _named(gw.where(input > threshold, input, gw.full_like(input, value)), "ThresholdBackward0")


threshold = _threshold      # (as PyTorch names it: the parameter `threshold` hides the function in its body)


def glu(input, dim=-1):
    n = input.shape[dim]
    if n % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {dim % input.ndim} is size {n}")
    a, b = input.split(n // 2, dim)
    return _named(a * b.sigmoid(), "GluBackward0")


__all__ = ["relu", "relu6", "hardtanh", "leaky_relu", "elu", "selu", "celu", "sigmoid", "tanh", "silu", "softplus",
           "mish", "gelu", "logsigmoid", "softsign", "hardsigmoid", "hardswish", "tanhshrink", "threshold", "glu"]
