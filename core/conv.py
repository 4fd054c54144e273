"""Signatures of the convolution and pooling primitives behind gradwire.nn.functional's conv*, pools, unfold, fold.

Three N-d primitives are each other's derivatives, as JAX's conv_general_dilated and its transpose rules:
`conv(x, w)`, its input gradient `conv_input_grad(g, w)` (a transposed convolution) and its weight gradient
`conv_weight_grad(x, g)`. Inputs are batched, (N, C, *spatial); padding is given per side (`pad_lo`,
`pad_hi`), and `pad_hi` may be negative (the last input positions are cut off), which is how a transposed
convolution's output_padding is written. `im2col`/`col2im` (F.unfold/F.fold) are each other's transposes; the max
pools' argmax is `max_pool_indices` / `adaptive_max_pool_indices` (flat indices into each input plane, as
PyTorch's), so the values are a gather and differentiate through it.
"""
from __future__ import annotations

import math

import numpy as np

from .dtypes import LEGACY_NAMES
from .signature import Attr, Aval, defsig

_GEOMETRY = {
    "stride": Attr("ints", doc="step per spatial dim"),
    "pad_lo": Attr("ints", doc="zeros before each spatial dim"),
    "pad_hi": Attr("ints", doc="zeros after each spatial dim; negative cuts input positions off"),
    "dilation": Attr("ints", doc="spacing of the kernel taps per spatial dim"),
    "groups": Attr("int", 1, "channel groups"),
}
_NUMBERS = ("float32", "float64", "int32", "int64")


def conv_out(size: int, k: int, stride: int, lo: int, hi: int, dil: int) -> int:
    """Output positions of a window of k taps (spacing dil) sliding by stride over size + lo + hi positions."""
    return (size + lo + hi - dil * (k - 1) - 1) // stride + 1


def _out_spatial(spatial, ksize, attrs):
    return tuple(conv_out(s, k, st, lo, hi, d) for s, k, st, lo, hi, d in
                 zip(spatial, ksize, attrs["stride"], attrs["pad_lo"], attrs["pad_hi"], attrs["dilation"]))


def _check_geometry(nd: int, attrs) -> None:
    for key in ("stride", "pad_lo", "pad_hi", "dilation"):
        if len(attrs[key]) != nd:
            raise ValueError(f"{key} needs {nd} values, got {len(attrs[key])}")
    if any(s <= 0 for s in attrs["stride"]):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in attrs["dilation"]):
        raise RuntimeError("non-positive dilation is not supported")
    if any(p < 0 for p in attrs["pad_lo"]):
        raise RuntimeError("negative padding is not supported")
    if attrs["groups"] <= 0:
        raise RuntimeError("non-positive groups is not supported")


def _same_dtype(a: str, b: str) -> None:
    if a != b:
        raise RuntimeError(f"expected scalar type {LEGACY_NAMES[a]} but found {LEGACY_NAMES[b]}")


def _check_conv(x_shape, w_shape, x_dtype, w_dtype, attrs):
    """PyTorch's checks of a convolution of an input of x_shape with a weight of w_shape; returns the output."""
    nd = len(w_shape) - 2
    _check_geometry(nd, attrs)
    groups = attrs["groups"]
    if len(x_shape) != nd + 2:
        raise RuntimeError(f"Expected {nd + 2}-dimensional input for {nd + 2}-dimensional weight {list(w_shape)}, "
                           f"but got {len(x_shape)}-dimensional input of size {list(x_shape)} instead")
    if w_shape[0] < groups or w_shape[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be at least {groups} at dimension 0, but got "
                           f"weight of size {list(w_shape)} instead" if w_shape[0] < groups else
                           f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size {list(w_shape)} instead")
    if x_shape[1] != w_shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(w_shape)}, expected input{list(x_shape)} "
                           f"to have {w_shape[1] * groups} channels, but got {x_shape[1]} channels instead")
    padded = [s + lo + max(hi, 0) for s, lo, hi in zip(x_shape[2:], attrs["pad_lo"], attrs["pad_hi"])]
    span = [d * (k - 1) + 1 for k, d in zip(w_shape[2:], attrs["dilation"])]
    if any(p < k for p, k in zip(padded, span)):
        raise RuntimeError(f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). Kernel "
                           f"size: ({' x '.join(map(str, span))}). Kernel size can't be greater than actual input "
                           "size")
    _same_dtype(x_dtype, w_dtype)
    if x_dtype not in _NUMBERS:
        raise NotImplementedError(f"\"slow_conv2d_cpu\" not implemented for '{LEGACY_NAMES[x_dtype]}'")
    return (x_shape[0], w_shape[0]) + _out_spatial(x_shape[2:], w_shape[2:], attrs)


def _conv_shape(avals, attrs):
    x, w = avals
    return Aval(_check_conv(x.shape, w.shape, x.dtype, w.dtype, attrs), x.dtype)


def _input_grad_shape(avals, attrs):
    g, w = avals
    x_shape = tuple(attrs["shape"])
    out = _check_conv(x_shape, w.shape, g.dtype, w.dtype, attrs)
    if tuple(g.shape) != out:
        raise RuntimeError(f"conv_input_grad: gradient of shape {list(g.shape)} for an output of shape {list(out)}")
    return Aval(x_shape, g.dtype)


def _weight_grad_shape(avals, attrs):
    x, g = avals
    w_shape = tuple(attrs["shape"])
    out = _check_conv(x.shape, w_shape, x.dtype, g.dtype, attrs)
    if tuple(g.shape) != out:
        raise RuntimeError(f"conv_weight_grad: gradient of shape {list(g.shape)} for an output of shape {list(out)}")
    return Aval(w_shape, x.dtype)


_DOC = ("out[n, o, p] = sum over the group's channels c and taps k of x_padded[n, c, p * stride + k * dilation] "
        "w[o, c, k]")
defsig("conv", inputs=2, attrs=dict(_GEOMETRY), shape=_conv_shape,
       doc="N-d cross-correlation of x (N, C, *S) with w (O, C / groups, *K): " + _DOC)
defsig("conv_input_grad", inputs=2, attrs={"shape": Attr("ints", doc="the conv input's shape"), **_GEOMETRY},
       shape=_input_grad_shape,
       doc="the transpose of conv in x: the x-gradient of conv for output gradient g (a transposed convolution)")
defsig("conv_weight_grad", inputs=2, attrs={"shape": Attr("ints", doc="the weight's shape"), **_GEOMETRY},
       shape=_weight_grad_shape, doc="the w-gradient of conv(x, w) for output gradient g")

# -- unfold / fold -------------------------------------------------------------------------------------------
_WINDOWS = {
    "kernel": Attr("ints", doc="window size per spatial dim"),
    "dilation": Attr("ints", doc="spacing of the window's taps"),
    "padding": Attr("ints", doc="zeros on both sides of each spatial dim"),
    "stride": Attr("ints", doc="window step per spatial dim"),
}


def _window_attrs(attrs):
    nd = len(attrs["kernel"])
    return {"stride": attrs["stride"], "pad_lo": attrs["padding"], "pad_hi": attrs["padding"],
            "dilation": attrs["dilation"], "groups": 1}, nd


def _blocks(spatial, attrs):
    geo, nd = _window_attrs(attrs)
    return _out_spatial(spatial, attrs["kernel"], geo)


def _unfold_shape(avals, attrs):
    (x,) = avals
    out = _blocks(x.shape[2:], attrs)
    if any(o <= 0 for o in out):
        raise RuntimeError(f"Given input with spatial size {tuple(x.shape[2:])}, kernel_size={tuple(attrs['kernel'])}, "
                           f"dilation={tuple(attrs['dilation'])}, padding={tuple(attrs['padding'])}, calculated "
                           f"shape of the array of sliding blocks as {tuple(out)}, but its components must be at "
                           "least one.")
    return Aval((x.shape[0], x.shape[1] * math.prod(attrs["kernel"]), math.prod(out)), x.dtype)


def _fold_shape(avals, attrs):
    (c,) = avals
    size = tuple(attrs["shape"])
    k = math.prod(attrs["kernel"])
    blocks = _blocks(size, attrs)
    if c.shape[1] % k:
        raise RuntimeError(f"Expected size of input's dimension 1 to be divisible by the product of kernel_size, but "
                           f"got input.size(1)={c.shape[1]} and kernel_size={tuple(attrs['kernel'])}.")
    if math.prod(blocks) != c.shape[2]:
        raise RuntimeError(f"Given output_size={size}, kernel_size={tuple(attrs['kernel'])}, dilation="
                           f"{tuple(attrs['dilation'])}, padding={tuple(attrs['padding'])}, stride="
                           f"{tuple(attrs['stride'])}, expected size of input's dimension 2 to match the calculated "
                           f"number of sliding blocks {' * '.join(map(str, blocks))} = {math.prod(blocks)}, but got "
                           f"input.size(2)={c.shape[2]}.")
    return Aval((c.shape[0], c.shape[1] // k) + size, c.dtype)


defsig("im2col", inputs=1, attrs=dict(_WINDOWS), shape=_unfold_shape,
       doc="im2col (F.unfold): (N, C, *S) -> (N, C * prod(kernel), blocks), channel-major as PyTorch's unfold")
defsig("col2im", inputs=1, attrs={"shape": Attr("ints", doc="the output's spatial size"), **_WINDOWS},
       shape=_fold_shape, doc="col2im (F.fold), the transpose of im2col: overlapping blocks are summed")


# -- max pool argmax ------------------------------------------------------------------------------------------
def pool_out(size: int, k: int, stride: int, pad: int, dil: int, ceil_mode: bool) -> int:
    """PyTorch's pooling_output_shape: with ceil_mode the last window must start inside the input or left pad."""
    n = size + 2 * pad - dil * (k - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = n // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def pool_shape(x_shape, kernel, stride, padding, dilation, ceil_mode):
    """The output shape of a pool over the trailing len(kernel) dims, with PyTorch's checks."""
    nd = len(kernel)
    if any(k <= 0 for k in kernel):
        raise RuntimeError(f"kernel size should be greater than zero, but got {_hw(kernel)}")
    if any(s <= 0 for s in stride):
        raise RuntimeError(f"stride should be greater than zero, but got {_hw(stride, 'd')}")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(f"dilation should be greater than zero, but got {_hw(dilation, 'dilation')}")
    for k, p, d in zip(kernel, padding, dilation):
        if p > ((k - 1) * d + 1) // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={p}, "
                               f"kernel_size={k} and dilation={d}")
    spatial = x_shape[-nd:]
    out = tuple(pool_out(*a, ceil_mode) for a in zip(spatial, kernel, stride, padding, dilation))
    if any(o < 1 for o in out):
        lead = x_shape[-nd - 1] if len(x_shape) > nd else 1
        raise RuntimeError(f"Given input size: ({'x'.join(map(str, (lead,) + tuple(spatial)))}). Calculated output "
                           f"size: ({'x'.join(map(str, (lead,) + out))}). Output size is too small")
    for size, k, st, p, d, n in zip(spatial, kernel, stride, padding, dilation, out):
        for o in range(n):
            if 0 <= o * st - p < size:     # a window starting inside the input is never empty
                continue
            if not any(0 <= o * st - p + j * d < size for j in range(k)):
                # PyTorch gives -inf and an index outside the plane there; gradwire refuses instead.
                raise RuntimeError(f"max pool window {o} of size {k} with dilation {d} and padding {p} lies "
                                   f"entirely in the padding of an input of size {size} (not supported by gradwire)")
    return tuple(x_shape[:-nd]) + out


def adaptive_windows(size: int, n_out: int):
    """PyTorch's adaptive windows: starts floor(i * size / n_out) and lengths up to ceil((i + 1) * size / n_out)."""
    i = np.arange(n_out)
    start = (i * size) // n_out
    end = -((-(i + 1) * size) // n_out)
    return start, end - start


def _hw(v, prefix="k"):
    names = ("T", "H", "W")[3 - len(v):] if len(v) > 1 else ("W",)
    return " ".join(f"{prefix}{n}: {x}" for n, x in zip(names, v))


def _pool_indices_shape(avals, attrs):
    (x,) = avals
    _pool_dtype(x.dtype)
    nd = len(attrs["kernel"])
    if any(len(attrs[k]) != nd for k in ("stride", "padding", "dilation")) or not 0 < nd <= x.ndim:
        raise ValueError(f"max_pool_indices: kernel, stride, padding and dilation need one value per pooled dim "
                         f"(at most {x.ndim})")
    return Aval(pool_shape(x.shape, attrs["kernel"], attrs["stride"], attrs["padding"], attrs["dilation"],
                           attrs["ceil_mode"]), "int64")


def _pool_dtype(dt):
    if dt == "bool":
        raise NotImplementedError("\"max_pool2d\" not implemented for 'Bool'")


def _adaptive_indices_shape(avals, attrs):
    (x,) = avals
    _pool_dtype(x.dtype)
    nd = len(attrs["shape"])
    if not 0 < nd <= x.ndim or any(o < 0 for o in attrs["shape"]):
        raise ValueError(f"adaptive_max_pool_indices: {nd} output sizes for a {x.ndim}-d input")
    return Aval(tuple(x.shape[:-nd]) + tuple(attrs["shape"]), "int64")


defsig("max_pool_indices", inputs=1, attrs={
    "kernel": Attr("ints", (1,), "window size per pooled (trailing) dim"),
    "stride": Attr("ints", (1,), "window step"), "padding": Attr("ints", (0,), "implicit -inf on both sides"),
    "dilation": Attr("ints", (1,), "tap spacing"),
    "ceil_mode": Attr("bool", False, "round the output size up")},
    shape=_pool_indices_shape,
    doc="per window over the trailing len(kernel) dims, the flat index into the input plane of its maximum "
        "(the last NaN if any, else the first maximum), as PyTorch's max_pool indices")
defsig("adaptive_max_pool_indices", inputs=1,
       attrs={"shape": Attr("ints", (1,), "the output's size in the pooled (trailing) dims")},
       shape=_adaptive_indices_shape,
       doc="as max_pool_indices over PyTorch's adaptive windows [floor(i * in / out), ceil((i + 1) * in / out))")
