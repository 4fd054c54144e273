"""F.interpolate (nearest, nearest-exact, linear, bilinear, bicubic, trilinear; area is the adaptive average pool): PyTorch's source-index arithmetic,
applied one dim at a time as gathers of the neighbouring samples and their weights, so gradients flow to the taps
and a NaN or Inf stays local to the outputs that read it."""
from __future__ import annotations

import math
import numbers

import numpy as np

import gradwire as gw
from gradwire.core.dtypes import FLOATS, LEGACY_NAMES
from gradwire.ops import apply

_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
_CUBIC_A = -0.75


def _source(out_size: int, in_size: int, scale: float | None, align_corners: bool, cubic: bool) -> np.ndarray:
    """PyTorch's area_pixel_compute_source_index for every output position."""
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        ratio = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
        return dst * ratio
    ratio = (1.0 / scale) if scale else in_size / out_size
    src = ratio * (dst + 0.5) - 0.5
    return src if cubic else np.maximum(src, 0.0)


def _taps(mode: str, out_size: int, in_size: int, scale, align_corners) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(indices, weights) per tap along one dim: output j = sum_k weights[k][j] * input[indices[k][j]]."""
    if mode in ("nearest", "nearest-exact"):
        ratio = (1.0 / scale) if scale else in_size / out_size
        offset = 0.5 if mode == "nearest-exact" else 0.0
        idx = np.minimum(np.floor((np.arange(out_size) + offset) * ratio).astype(np.int64), in_size - 1)
        return [(idx, None)]
    cubic = mode == "bicubic"
    src = _source(out_size, in_size, scale, align_corners, cubic)
    i0 = np.floor(src).astype(np.int64)
    t = src - i0
    if not cubic:
        i0 = np.minimum(i0, in_size - 1)
        i1 = np.minimum(i0 + 1, in_size - 1)
        return [(i0, 1.0 - t), (i1, t)]
    a = _CUBIC_A
    weights = [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
               ((a + 2) * t - (a + 3)) * t * t + 1,
               ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
               ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a]
    return [(np.clip(i0 - 1 + k, 0, in_size - 1), w) for k, w in enumerate(weights)]


def _resample(x, axis: int, taps, dtype):
    out = None
    shape = [1] * x.ndim
    shape[axis] = -1
    for idx, w in taps:
        picked = apply("take", x, gw.tensor(idx), attrs={"axis": axis})
        term = picked if w is None else picked * gw.tensor(w.reshape(shape), dtype=dtype)
        out = term if out is None else out + term
    return out


def _check_dtype(input, mode: str, spatial: int) -> None:
    """Floats interpolate in every mode; uint8 in the nearest modes (samples are copied). Other integers and
    bools are PyTorch's NotImplementedError, in the words of the kernel that refuses them. PyTorch's uint8
    bilinear and bicubic kernels compute in fixed point, with rounding gradwire does not reproduce: refused too."""
    dtype = input._node.dtype
    if dtype in FLOATS or (dtype == "uint8" and mode in ("nearest", "nearest-exact")):
        return
    if dtype == "uint8" and mode in ("bilinear", "bicubic"):
        raise NotImplementedError(f"interpolate: gradwire does not support uint8 input in {mode} mode (PyTorch "
                                  f"computes it in fixed point); convert the input to float first")
    kernel = {"nearest": "upsample_nearest2d_channels_last" if spatial == 2 else "compute_indices_weights_nearest",
              "bilinear": "upsample_bilinear2d_channels_last", "bicubic": "compute_indices_weights_cubic"}
    kernel["nearest-exact"] = kernel["nearest"]
    raise NotImplementedError(f'"{kernel.get(mode, "compute_indices_weights_linear")}" not implemented for '
                              f"'{LEGACY_NAMES[dtype]}'")


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    spatial = input.ndim - 2
    if mode in _DIMS and _DIMS[mode] != spatial:
        need = _DIMS[mode] + 2
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {need}D input")
    if mode not in ("nearest", "nearest-exact", "area", *_DIMS):
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
                                  f"the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
                                  f"nearest-exact (got {mode})")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    if mode in ("nearest", "nearest-exact", "area") and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: linear | bilinear | "
                         "bicubic | trilinear")
    align_corners = bool(align_corners)
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined" if size is not None else
                         "either size or scale_factor should be defined")
    in_sizes = list(input.shape[2:])
    if size is not None:
        sizes = [int(size)] * spatial if isinstance(size, numbers.Integral) else [int(s) for s in size]
        if len(sizes) != spatial:
            raise ValueError(f"Input and output must have the same number of spatial dimensions, but got input with "
                             f"spatial dimensions of {in_sizes} and output size of {list(sizes)}. Please provide "
                             "input tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) "
                             "format.")
        scales = [None] * spatial
    else:
        factors = [float(scale_factor)] * spatial if isinstance(scale_factor, numbers.Number) else \
            [float(f) for f in scale_factor]
        if len(factors) != spatial:
            raise ValueError(f"Input and scale_factor must have the same number of spatial dimensions, but got input "
                             f"with spatial dimensions of {in_sizes} and scale_factor of shape {list(factors)}. Please "
                             "provide input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in "
                             "(s1, s2, ...,sK) format.")
        sizes = [int(math.floor(n * f)) for n, f in zip(in_sizes, factors)]
        scales = [None] * spatial if recompute_scale_factor else factors
    if mode == "area":                  # PyTorch's area mode is the adaptive average pool to the output size
        from . import functional as F
        return getattr(F, f"adaptive_avg_pool{spatial}d")(input, sizes)
    for n_out in sizes:
        if n_out <= 0:
            raise RuntimeError(f"Input and output sizes should be greater than 0, but got input "
                               f"({', '.join(map(str, in_sizes))}) and output ({', '.join(map(str, sizes))})")
    _check_dtype(input, mode, spatial)
    out = input
    for d, (n_out, n_in, scale) in enumerate(zip(sizes, in_sizes, scales)):
        out = _resample(out, d + 2, _taps(mode, n_out, n_in, scale, align_corners), input.dtype)
    if out.requires_grad:
        kind = {"nearest": "Nearest", "nearest-exact": "NearestExact", "linear": "Linear", "bilinear": "Bilinear",
                "bicubic": "Bicubic", "trilinear": "Trilinear"}[mode]
        out._node.label = f"Upsample{kind}{spatial}DBackward0"
    return out


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return interpolate(input, size, scale_factor, mode, align_corners)
