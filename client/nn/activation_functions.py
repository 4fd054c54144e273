"""torch.nn.functional's activations (relu, elu, gelu, hardtanh ...): each names its result's grad_fn as PyTorch
does; `inplace=True` writes the result into the input."""
from __future__ import annotations

import math

import gradwire as gw

from gradwire import dtypes
from gradwire.ops import apply

from .functional import _in_place, _log1p_exp, _named


def _with_grad(value, history, grad_fn: str):
    """value's bits, differentiated as history is: for activations whose value is PyTorch's formula but whose
    gradient PyTorch defines its own way (at bounds, at NaN)."""
    return _named(apply("with_value", history, value), grad_fn)


def _passes(x, mask):
    """x where mask holds, else a constant zero: its gradient is 1 there and 0 elsewhere (a select, so an inf or
    NaN where the mask is off sends no NaN into the gradient)."""
    return gw.where(mask, x, gw.zeros_like(x).detach())


def relu(input, inplace=False):
    return input.relu_() if inplace else input.relu()


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """clamp's values; PyTorch's gradient: 1 strictly between the bounds, 0 at and beyond them and at NaN (its
    vectorized kernel's answer; its scalar tail passes a NaN's gradient)."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    if inplace:
        return _in_place(input, hardtanh, min_val, max_val)
    inside = (input > min_val).logical_and(input < max_val)
    return _with_grad(input.clamp(min_val, max_val), _passes(input, inside), "HardtanhBackward0")


def leaky_relu(input, negative_slope=0.01, inplace=False):
    if inplace:
        return _in_place(input, leaky_relu, negative_slope, grad_fn="LeakyReluBackward1")
    return _named(gw.where(input > 0, input, input * negative_slope), "LeakyReluBackward0")


def _elu(x, coef, input_scale=1.0, scale=1.0):
    """PyTorch's x <= 0 ? coef * expm1(x * input_scale) : x * scale (so NaN and inf take the linear branch, and
    -0.0 gives -0.0); the exponential branch sees only x <= 0, so it sends no inf * 0 into the gradient."""
    neg = x <= 0
    xn = gw.where(neg, x, gw.zeros_like(x))
    return gw.where(neg, coef * (xn * input_scale if input_scale != 1.0 else xn).expm1(),
                    x * scale if scale != 1.0 else x)


def elu(input, alpha=1.0, inplace=False):
    if inplace:
        return _in_place(input, elu, alpha, grad_fn="EluBackward1")
    return _named(_elu(input, alpha), "EluBackward0")


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def selu(input, inplace=False):
    if inplace:
        return _in_place(input, selu, grad_fn="EluBackward1")
    return _named(_elu(input, _SELU_ALPHA * _SELU_SCALE, scale=_SELU_SCALE), "EluBackward0")


def celu(input, alpha=1.0, inplace=False):
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    if inplace:
        return _in_place(input, celu, alpha, grad_fn="CeluBackward1")
    return _named(_elu(input, alpha, 1.0 / alpha), "CeluBackward0")


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
    """PyTorch's value, min(x, 0) - log1p(exp(-|x|)) (+0.0 at inf), with the smooth form's gradient."""
    value = input.clamp(max=0) - (-input.abs()).exp().log1p()
    return _with_grad(value, -_log1p_exp(-input), "LogSigmoidBackward0")


def softsign(input):
    return input / (1 + input.abs())


def hardsigmoid(input, inplace=False):
    """relu6(x + 3) / 6; PyTorch's gradient: 1/6 strictly inside (-3, 3), else 0 (NaN included)."""
    if inplace:
        return _in_place(input, hardsigmoid)
    inside = (input > -3).logical_and(input < 3)
    return _with_grad((input + 3).clamp(0.0, 6.0) / 6, _passes(input, inside) / 6, "HardsigmoidBackward0")


def hardswish(input, inplace=False):
    """x relu6(x + 3) / 6; PyTorch's gradient: 0 for x <= -3, x/3 + 1/2 below 3, 1 from 3 on and at NaN."""
    if inplace:
        return _in_place(input, hardswish)
    mid = (input > -3).logical_and(input < 3)
    xm = _passes(input, mid)
    history = gw.where(mid, xm * xm / 6 + xm / 2, _passes(input, (input <= -3).logical_not()))
    return _with_grad(input * (input + 3).clamp(0.0, 6.0) / 6, history, "HardswishBackward0")


def tanhshrink(input):
    return input - input.tanh()


def _threshold(input, threshold, value, inplace=False):
    if inplace:
        return _in_place(input, _threshold, threshold, value, grad_fn="ThresholdBackward1")
    below = input <= threshold      # PyTorch's x <= threshold ? value : x (a NaN stays, its gradient passes)
    return _with_grad(gw.where(below, gw.full_like(input, value), input), _passes(input, below.logical_not()),
                      "ThresholdBackward0")


threshold = _threshold      # (as PyTorch names it: the parameter `threshold` hides the function in its body)


def hardshrink(input, lambd=0.5):
    """x outside [-lambd, lambd], else 0 (NaN stays); the gradient 1 outside, 0 inside and at NaN (as PyTorch's
    vectorized kernel)."""
    outside = (input < -lambd).logical_or(input > lambd)
    inside = (input >= -lambd).logical_and(input <= lambd)
    return _with_grad(gw.where(inside, gw.zeros_like(input), input), _passes(input, outside), "HardshrinkBackward0")


def _shrink_limit(input, lambd) -> None:
    if lambd < 0:
        big, name = ("1.79769e+308", "Double") if input.dtype == dtypes.float64 else ("3.40282e+38", "Float")
        raise RuntimeError(f"lambda must be in range [0, {big}] for input dtype {name}, but found {lambd:g}")


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, else +0.0 (NaN stays NaN); the gradient 1 outside, 0 inside
    and at NaN (as PyTorch's vectorized kernel)."""
    _shrink_limit(input, lambd)
    outside = (input < -lambd).logical_or(input > lambd)
    value = gw.where(input > lambd, input - lambd, gw.where(input < -lambd, input + lambd, input * 0 + 0.0))
    return _with_grad(value, _passes(input, outside), "SoftshrinkBackward0")


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """leaky_relu with slope (lower + upper) / 2, or in training a slope drawn uniformly in [lower, upper] per
    element (the client's generator, see gw.manual_seed)."""
    if lower > upper:
        raise RuntimeError("Lower bound should be less than or equal to the upper bound")
    if inplace:
        return _in_place(input, rrelu, lower, upper, training, grad_fn="RreluWithNoiseBackward1")
    if training:
        slope = gw.rand(*input.shape, dtype=input.dtype) * (upper - lower) + lower
    else:
        slope = (lower + upper) / 2
    return _named(gw.where(input > 0, input, input * slope), "RreluWithNoiseBackward0")


def glu(input, dim=-1):
    n = input.shape[dim]
    if n % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {dim % input.ndim} is size {n}")
    a, b = input.split(n // 2, dim)
    return _named(a * b.sigmoid(), "GluBackward0")


__all__ = ["relu", "relu6", "hardtanh", "leaky_relu", "elu", "selu", "celu", "sigmoid", "tanh", "silu", "softplus",
           "mish", "gelu", "logsigmoid", "softsign", "hardsigmoid", "hardswish", "tanhshrink", "threshold", "glu",
           "hardshrink", "softshrink", "rrelu"]
