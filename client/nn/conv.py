"""torch.nn.functional's convolutions, transposed convolutions, unfold and fold, on the conv primitives.

Unbatched inputs get a batch dim of one and lose it again (grad_fn SqueezeBackward1, as PyTorch's).
"""
from __future__ import annotations

import numbers

from gradwire.ops import apply

from .functional import _named

_LEGACY = {"float32": "float", "float64": "double", "int32": "int", "int64": "long int", "bool": "bool"}


def _ntuple(v, n: int, name: str):
    if isinstance(v, numbers.Integral):
        return (int(v),) * n
    v = tuple(int(a) for a in v)
    return v * n if len(v) == 1 else v


def _expect(v, n: int, name: str):
    if len(v) != n:
        raise RuntimeError(f"expected {name} to be a single integer value or a list of {n} values to match the "
                           f"convolution dimensions, but got {name}={list(v)}")
    return v


def _batched(input, nd: int, fn: str):
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {fn}, but got input of "
                           f"size: {list(input.shape)}")
    return input.ndim == nd + 1


def _bias(out, bias, weight, channels: int, input):
    if bias is None:
        return out
    if bias.ndim != 1 or bias.shape[0] != channels:
        raise RuntimeError(f"Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional with "
                           f"{channels} elements, but got bias of size {list(bias.shape)} instead")
    if bias.dtype != input.dtype:
        raise RuntimeError(f"Input type ({_LEGACY[input.dtype.name]}) and bias type ({_LEGACY[bias.dtype.name]}) "
                           "should be the same")
    return out + bias.reshape(channels, *([1] * (out.ndim - 2)))


def _weight_dtype(input, weight):
    if input.dtype.name == "float32" and weight.dtype.name == "float64":
        legacy = {"float32": "Float", "float64": "Double"}
        raise RuntimeError(f"Input type (torch.{legacy[input.dtype.name]}Tensor) and weight type "
                           f"(torch.{legacy[weight.dtype.name]}Tensor) should be the same or input should be a MKLDNN "
                           "tensor and weight is a dense tensor")


def _conv(nd, input, weight, bias, stride, padding, dilation, groups):
    fn = f"conv{nd}d"
    unbatched = _batched(input, nd, fn)
    k = weight.ndim - 2
    stride, dilation = _expect(_ntuple(stride, nd, "stride"), k, "stride"), \
        _expect(_ntuple(dilation, nd, "dilation"), k, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            lo = hi = (0,) * k
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            total = [d * (kk - 1) for d, kk in zip(dilation, weight.shape[2:])]
            lo = tuple(t // 2 for t in total)
            hi = tuple(t - a for t, a in zip(total, lo))
        else:
            raise RuntimeError(f"Invalid padding string: '{padding}'")
    else:
        lo = hi = _expect(_ntuple(padding, nd, "padding"), k, "padding")
    if weight.ndim >= 1 and weight.shape[0] == 0:
        raise RuntimeError(f"Given groups={groups}, expected weight to be at least 1 at dimension 0, but got weight "
                           f"of size {list(weight.shape)} instead")
    if bias is not None and bias.dtype != input.dtype:     # PyTorch checks the bias first (not for transposed)
        raise RuntimeError(f"Input type ({_LEGACY[input.dtype.name]}) and bias type ({_LEGACY[bias.dtype.name]}) "
                           "should be the same")
    _weight_dtype(input, weight)
    x = input.unsqueeze(0) if unbatched else input
    out = apply("conv", x, weight, attrs={"stride": stride, "pad_lo": lo, "pad_hi": hi, "dilation": dilation,
                                          "groups": int(groups)})
    out = _named(_bias(out, bias, weight, weight.shape[0], input), "ConvolutionBackward0")
    return out.squeeze(0) if unbatched else out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(nd, input, weight, bias, stride, padding, output_padding, groups, dilation):
    fn = f"conv_transpose{nd}d"
    if isinstance(padding, str):
        raise TypeError(f"{fn}(): argument 'padding' must be tuple of ints, not str")
    unbatched = _batched(input, nd, fn)
    k = weight.ndim - 2
    stride, padding, output_padding, dilation = (
        _expect(_ntuple(v, nd, name), k, name) for v, name in
        ((stride, "stride"), (padding, "padding"), (output_padding, "output_padding"), (dilation, "dilation")))
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("non-positive dilation is not supported")
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    if any(p < 0 for p in output_padding):
        raise RuntimeError("negative output_padding is not supported")
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        names = ("depth", "height", "width")[3 - k:] if k > 1 else ("width",)
        parts = [f"{w}_{n}: {v}" for w, vals in (("output_padding", output_padding), ("stride", stride),
                                                  ("dilation", dilation)) for n, v in zip(names, vals)]
        raise RuntimeError("output padding must be smaller than either stride or dilation, but got " + " ".join(parts))
    x = input.unsqueeze(0) if unbatched else input
    if x.shape[1] != weight.shape[0]:
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected input{list(x.shape)} to "
                           f"have {weight.shape[0]} channels, but got {x.shape[1]} channels instead")
    _weight_dtype(input, weight)
    channels = weight.shape[1] * groups
    spatial = tuple((i - 1) * s - 2 * p + d * (kk - 1) + op + 1 for i, s, p, d, kk, op in
                    zip(x.shape[2:], stride, padding, dilation, weight.shape[2:], output_padding))
    out = apply("conv_input_grad", x, weight, attrs={
        "shape": (x.shape[0], channels) + spatial, "stride": stride, "pad_lo": padding,
        "pad_hi": tuple(p - op for p, op in zip(padding, output_padding)), "dilation": dilation,
        "groups": int(groups)})
    out = _named(_bias(out, bias, weight, channels, input), "ConvolutionBackward0")
    return out.squeeze(0) if unbatched else out


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_transpose(1, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_transpose(2, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_transpose(3, input, weight, bias, stride, padding, output_padding, groups, dilation)


# -- unfold / fold ---------------------------------------------------------------------------------------------
def _window_attrs(kernel_size, dilation, padding, stride):
    return {"kernel": _ntuple(kernel_size, 2, "kernel_size"), "dilation": _ntuple(dilation, 2, "dilation"),
            "padding": _ntuple(padding, 2, "padding"), "stride": _ntuple(stride, 2, "stride")}


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    if input.ndim < 3:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-max(input.ndim, 1)}, "
                         f"{max(input.ndim, 1) - 1}], but got 2)")
    if input.ndim not in (3, 4):
        raise NotImplementedError(f"Input Error: Only 3D or 4D input Tensors are supported (got {input.ndim}D)")
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    out = _named(apply("im2col", x, attrs=_window_attrs(kernel_size, dilation, padding, stride)), "Im2ColBackward0")
    return out.squeeze(0) if unbatched else out


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    if input.ndim not in (2, 3):
        raise NotImplementedError(f"Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported "
                                  f"(got {input.ndim}D)")
    unbatched = input.ndim == 2
    x = input.unsqueeze(0) if unbatched else input
    attrs = {"shape": _ntuple(output_size, 2, "output_size"), **_window_attrs(kernel_size, dilation, padding, stride)}
    out = _named(apply("col2im", x, attrs=attrs), "Col2ImBackward0")
    return out.squeeze(0) if unbatched else out


def pixel_shuffle(input, upscale_factor):
    r = int(upscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    n = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return _named(x.reshape(*lead, c // (r * r), h * r, w * r), "PixelShuffleBackward0")


def pixel_unshuffle(input, downscale_factor):
    r = int(downscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    *lead, c, h, w = input.shape
    if h % r:
        raise RuntimeError(f"pixel_unshuffle expects height to be divisible by downscale_factor, but "
                           f"input.size(-2)={h} is not divisible by {r}")
    if w % r:
        raise RuntimeError(f"pixel_unshuffle expects width to be divisible by downscale_factor, but "
                           f"input.size(-1)={w} is not divisible by {r}")
    n = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return _named(x.reshape(*lead, c * r * r, h // r, w // r), "PixelUnshuffleBackward0")


from .pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d,  # noqa: E402,F401
                      adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d, avg_pool1d, avg_pool2d, avg_pool3d,
                      lp_pool1d, lp_pool2d, lp_pool3d, max_pool1d, max_pool2d, max_pool3d, max_unpool1d, max_unpool2d,
                      max_unpool3d, pad)

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "unfold", "fold",
           "pixel_shuffle", "pixel_unshuffle", "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d",
           "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d",
           "adaptive_avg_pool3d", "adaptive_max_pool3d", "lp_pool1d", "lp_pool2d", "lp_pool3d", "max_unpool1d",
           "max_unpool2d", "max_unpool3d",
           "pad"]
