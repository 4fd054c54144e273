"""torch.nn.functional's pools and pad: max pools gather at the argmax primitive's indices, average pools are a
convolution with ones divided by PyTorch's window counts, adaptive average pools take each window's elements."""
from __future__ import annotations

import math
import numbers

import numpy as np

import gradwire as gw
from gradwire.core.conv import adaptive_windows, pool_shape
from gradwire.core.dtypes import FLOATS, LEGACY_NAMES
from gradwire.ops import apply

from .functional import _named

_WORDS = {1: "one", 2: "two", 3: "three"}


def _tuple(v, nd: int, fn: str, what: str, omit: bool = False):
    if isinstance(v, numbers.Integral):
        return (int(v),) * nd
    v = tuple(int(a) for a in v)
    if len(v) == 1:
        return v * nd
    if len(v) != nd:
        lead = "be omitted, a single int" if omit else "be a single int"
        raise RuntimeError(f"{fn}: {what} must either {lead}, or a tuple of {_WORDS[nd]} ints")
    return v


def _stride(stride, kernel, nd, fn):
    if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0):
        return kernel
    s = _tuple(stride, nd, fn, "stride", omit=True)
    if any(a == 0 for a in s):
        raise RuntimeError("stride should not be zero")
    return s


def _dims(input, nd: int):
    if input.ndim not in (nd + 1, nd + 2) or input.numel() == 0 and nd > 1:
        if nd == 1:
            raise RuntimeError(f"max_pool1d() Expected 2D or 3D input tensor, but got {list(input.shape)}")
        raise RuntimeError(f"non-empty {nd + 1}D or {nd + 2}D (batch mode) tensor expected for input")


def _gather_planes(input, idx, nd: int):
    """input's values at idx, flat indices into each of input's planes (the trailing nd dims)."""
    lead = tuple(input.shape[:-nd])
    flat = input.reshape(*lead, math.prod(input.shape[-nd:]))
    vals = apply("gather", flat, idx.reshape(*lead, math.prod(idx.shape[-nd:])), attrs={"axis": len(lead)})
    return vals.reshape(*idx.shape)


def _max_pool(nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    fn = f"max_pool{nd}d"
    k = _tuple(kernel_size, nd, fn, "kernel_size")
    if nd == 1 and k[0] <= 0:
        raise RuntimeError(f"max_pool1d() kernel_size must be greater than zero, but got {k[0]}")
    s = _stride(stride, k, nd, fn)
    attrs = {"kernel": k, "stride": s, "padding": _tuple(padding, nd, fn, "padding"),
             "dilation": _tuple(dilation, nd, fn, "dilation"), "ceil_mode": bool(ceil_mode)}
    _dims(input, nd)
    idx = apply("max_pool_indices", input.detach(), attrs=attrs)
    out = _named(_gather_planes(input, idx, nd), "SqueezeBackward1" if nd == 1 else f"MaxPool{nd}DWithIndicesBackward0")
    return (out, idx) if return_indices else out


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _divisor(size, k, s, p, n_out, count_include_pad):
    start = np.arange(n_out) * s - p
    end = np.minimum(start + k, size + p)
    pool = end - start
    inside = np.minimum(end, size) - np.maximum(start, 0)
    return pool if count_include_pad else inside


def _avg_pool(nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    fn = f"avg_pool{nd}d"
    k = _tuple(kernel_size, nd, fn, "kernel_size")
    s = _stride(stride, k, nd, fn)
    p = _tuple(padding, nd, fn, "padding")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"non-empty {nd + 1}D or {nd + 2}D (batch mode) tensor expected for input")
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"{fn}: integer inputs are not supported by gradwire")
    shape = pool_shape(tuple(input.shape), k, s, p, (1,) * nd, bool(ceil_mode))
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    lead, spatial, out = tuple(input.shape[:-nd]), tuple(input.shape[-nd:]), shape[-nd:]
    hi = tuple((o - 1) * st + kk - size - pp for o, st, kk, size, pp in zip(out, s, k, spatial, p))
    ones = np.ones((1, 1) + k, input.dtype.name)
    sums = apply("conv", input.reshape(-1, 1, *spatial), ones,
                 attrs={"stride": s, "pad_lo": p, "pad_hi": hi, "dilation": (1,) * nd, "groups": 1})
    if divisor_override is not None:
        div = np.full(out, float(divisor_override))
    else:
        div = np.ones(())
        for size, kk, st, pp, o in zip(spatial, k, s, p, out):
            div = np.multiply.outer(div, _divisor(size, kk, st, pp, o, count_include_pad))
    out = sums.reshape(*lead, *out) / gw.tensor(div.astype(input.dtype.name))
    return _named(out, "SqueezeBackward1" if nd == 1 else f"AvgPool{nd}DBackward0")


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


# -- adaptive pools ---------------------------------------------------------------------------------------------
def _adaptive_size(fn, input, output_size, nd):
    if nd > 1 and not isinstance(output_size, numbers.Integral) and output_size is not None and \
            input.ndim <= len(output_size):     # torch.nn.functional's own check, before the kernel's
        raise ValueError(f"Input dimension should be at least {len(output_size) + 1}")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{fn}(): Expected {nd + 1}D or {nd + 2}D tensor, but got {list(input.shape)}")
    sizes = (output_size,) * nd if isinstance(output_size, numbers.Integral) or output_size is None \
        else tuple(output_size)
    if len(sizes) != nd:
        raise RuntimeError(f"{fn}: output_size must be {nd}")
    return tuple(int(input.shape[input.ndim - nd + a]) if o is None else int(o) for a, o in enumerate(sizes))


def _floats_only(kernel, input):
    """PyTorch's NotImplementedError for an integer or bool input to a kernel it defines for floats only."""
    if input._node.dtype not in FLOATS:
        raise NotImplementedError(f'"{kernel}" not implemented for \'{LEGACY_NAMES[input._node.dtype]}\'')


def _adaptive_kernel(kind, nd):
    return f"adaptive_{kind}_pool3d_cpu" if nd == 3 else f"adaptive_{kind}_pool2d"     # 1d runs the 2d kernel


def _adaptive_avg(nd, input, output_size):
    fn = f"adaptive_avg_pool{nd}d"
    sizes = _adaptive_size(fn, input, output_size, nd)
    _floats_only(_adaptive_kernel("avg", nd), input)
    if all(o == 1 for o in sizes):
        return input.mean(dim=tuple(range(-nd, 0)), keepdim=True)
    x = input
    for a, o in enumerate(sizes):
        axis = input.ndim - nd + a
        start, count = adaptive_windows(int(input.shape[axis]), o)
        m = int(count.max()) if o else 1
        taps = np.arange(m)
        mask = taps[None, :] < count[:, None]
        idx = np.where(mask, start[:, None] + taps[None, :], start[:, None]).astype(np.int64)
        taken = apply("take", x, idx, attrs={"axis": axis})
        trail = (1,) * (input.ndim - axis - 1)
        keep = gw.tensor(mask.reshape(mask.shape + trail))
        summed = gw.where(keep, taken, gw.zeros_like(taken)).sum(axis + 1)
        x = summed / gw.tensor(count.reshape(count.shape + trail).astype(input.dtype.name))
    return _named(x, "SqueezeBackward1" if nd == 1 else f"AdaptiveAvgPool{nd}DBackward0")


def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg(1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    return _adaptive_avg(2, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    return _adaptive_avg(3, input, output_size)


def _adaptive_max(nd, input, output_size, return_indices):
    sizes = _adaptive_size(f"adaptive_max_pool{nd}d", input, output_size, nd)
    _floats_only(_adaptive_kernel("max", nd), input)
    idx = apply("adaptive_max_pool_indices", input.detach(), attrs={"shape": sizes})
    out = _named(_gather_planes(input, idx, nd), "SqueezeBackward1" if nd == 1 else f"AdaptiveMaxPool{nd}DBackward0")
    return (out, idx) if return_indices else out


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max(1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    return _adaptive_max(2, input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    return _adaptive_max(3, input, output_size, return_indices)


def _lp_pool(nd, input, norm_type, kernel_size, stride, ceil_mode):
    """(sum over each window of x ** p) ** (1 / p), as PyTorch computes it: an average pool of x ** p times the
    window size, with the sign kept and a relu before the root."""
    ks = _tuple(kernel_size, nd, f"lp_pool{nd}d", "kernel_size")
    pooled = _avg_pool(nd, input.pow(norm_type), ks, stride, 0, ceil_mode, True, None)
    return (pooled.sign() * pooled.abs().relu()).mul(math.prod(ks)).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)


def _max_unpool(nd, input, indices, kernel_size, stride, padding, output_size):
    """Each value put back at its max pool's flat index into its plane; zeros elsewhere."""
    fn = f"max_unpool{nd}d"
    ks = _tuple(kernel_size, nd, fn, "kernel_size")
    st = _tuple(stride if stride is not None else kernel_size, nd, fn, "stride")
    pd = _tuple(padding, nd, fn, "padding")
    spatial = tuple(input.shape[-nd:])
    default = tuple((n - 1) * s - 2 * p + k for n, s, p, k in zip(spatial, st, pd, ks))
    if output_size is None:
        size = default
    else:
        shown = output_size[len(output_size) - nd:]           # as given (a tuple prints as one), as PyTorch
        size = tuple(shown)
        for d, (want, lo) in enumerate(zip(size, default)):
            if not (lo - st[d] < want < lo + st[d]):
                raise ValueError(f'invalid output_size "{shown}" (dim {d} must be between {lo - st[d]} and '
                                 f'{lo + st[d]})')
    lead = tuple(input.shape[:-nd])
    flat_in = input.reshape(*lead, -1)
    flat_idx = indices.reshape(*lead, -1)
    planes = gw.zeros(*lead, math.prod(size), dtype=input.dtype)
    out = planes.scatter(len(lead), flat_idx, flat_in).reshape(*lead, *size)
    return _named(out, f"MaxUnpool{nd}DBackward0" if nd > 1 else "SqueezeBackward1")


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size)


# -- pad --------------------------------------------------------------------------------------------------------
_MODES = ("constant", "reflect", "replicate", "circular")


def _index(mode, size, lo, hi):
    i = np.arange(-lo, size + hi)
    if mode == "reflect":
        i = np.abs(i)
        i = np.where(i >= size, 2 * (size - 1) - i, i)
    elif mode == "replicate":
        i = np.clip(i, 0, size - 1)
    else:   # PyTorch cuts negative pads off first, then wraps around what is left
        c0, kept = max(-lo, 0), size - max(-lo, 0) - max(-hi, 0)
        i = c0 + np.arange(-max(lo, 0), kept + max(hi, 0)) % kept
    return i.astype(np.int64)


def pad(input, pad, mode="constant", value=None):
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    n = len(pad) // 2
    if n > input.ndim:
        raise RuntimeError(f"Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {input.ndim}")
    if mode not in _MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if mode != "constant":
        if value is not None and value != 0:
            raise RuntimeError(f"Padding mode \"{mode}\" doesn't take in value argument")
        if n > 3 or input.ndim not in (n + 1, n + 2):
            raise NotImplementedError(f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor.")
    x = input
    for j in range(n):
        axis, lo, hi = input.ndim - 1 - j, pad[2 * j], pad[2 * j + 1]
        size = int(x.shape[axis])
        if mode == "constant":
            x = _constant_pad(x, axis, lo, hi, 0.0 if value is None else value)
            continue
        if mode == "reflect" and (lo >= size or hi >= size):
            raise RuntimeError(f"Argument #{4 + 2 * j}: Padding size should be less than the corresponding input "
                               f"dimension, but got: padding ({lo}, {hi}) at dimension {axis} of input "
                               f"{list(input.shape)}")
        if mode == "circular" and (lo > size or hi > size):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if size + lo + hi < 0 or size == 0:
            raise RuntimeError(f"input tensor has a zero-size dimension {axis}" if size == 0 else
                               "negative output size")
        x = apply("take", x, _index(mode, size, lo, hi), attrs={"axis": axis})
    names = {"constant": "ConstantPadNdBackward0", "reflect": f"ReflectionPad{n}DBackward0",
             "replicate": f"ReplicationPad{n}DBackward0", "circular": "CopySlices"}
    return _named(x, names[mode]) if x is not input else x


def _constant_pad(x, axis, lo, hi, value):
    size = int(x.shape[axis])
    if lo < 0 or hi < 0:
        cut = [slice(None)] * x.ndim
        cut[axis] = slice(max(-lo, 0), size - max(-hi, 0))
        x = x[tuple(cut)]
    parts = []
    for n in (max(lo, 0), None, max(hi, 0)):
        if n is None:
            parts.append(x)
        elif n:
            shape = list(x.shape)
            shape[axis] = n
            parts.append(gw.full(shape, value, dtype=x.dtype))
    return gw.cat(parts, axis) if len(parts) > 1 else x
