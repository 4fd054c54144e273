"""Stride-1 convolution as a sum of shifted GEMMs, with no im2col: channels-first (C, N * padded grid) layout,
where the input under kernel tap k is a column window of one matrix, offset by the tap's flat shift.

Each output position p of the padded grid gets y[:, p] = sum_k W_k @ xp[:, p + off_k]; positions past the
valid output (the grid's right and bottom margins) are computed and thrown away, a (grid / valid) share of
extra flops. The input gradient is the same sum with W_k transposed and the shifts negated (no col2im), and
the weight gradient is one GEMM per tap, dW_k = g @ xp[:, off_k : off_k + R].T (no im2col either).
`usable` says when this lowering wins over im2col (measured below).
"""
from __future__ import annotations

import math

import numpy as np

from . import blas

# When the lowering wins over im2col (float32, 1 thread, im2col vs shifted interleaved, min of 15, load average
# ~8 so ratios only; ms for forward / input gradient / weight gradient):
#   (32, 64, 32, 32) 3x3 pad 1, grid 1.13x the output:  75 / 53 / 47 against 42 / 32 / 44
#   (32, 64, 24, 24):                                 28 / 28 / 27 against 18 / 17 / 24
#   (32, 64, 16, 16):                                 13.6 / 9.7 / 10.6 against 9.3 / 8.5 / 11.3
#   (64, 8, 16, 16) 8 channels:                       1.38 / 1.47 / 1.60 against 0.86 / 0.77 / 1.65
#   (32, 32, 8, 8), grid 1.56x:                       1.18 / 1.07 / 1.35 against 0.92 / 0.94 / 3.14
#   (32, 32, 6, 6), grid 1.78x:                       0.66 / 0.63 / 0.68 against 0.67 / 0.72 / 0.97
#   LeNet (64, 6, 12, 12) 5x5, grid 2.25x:            0.76 / 1.04 / 0.77 against 1.16 / 0.91 / 1.05
#   LeNet (64, 1, 28, 28) 5x5, 1 channel:             1.18 / 1.14 / 0.90 against 1.32 / 1.15 / 1.00
# so: at least 8 channels per group, a grid at most 1.5x the output; and for the weight gradient (one GEMM per
# tap with the grid as the inner dimension, against im2col's one GEMM) at least 16 Ki grid cells.
MAX_WASTE = 1.5
MIN_CHANNELS = 8
WEIGHT_GRAD_MIN_CELLS = 1 << 14


def _three(v, fill):
    return (fill,) * (3 - len(v)) + tuple(int(a) for a in v)


def usable(x_shape, w_shape, dtype, stride, pad_lo, pad_hi, dilation, groups, weight_grad=False):
    if not blas.available(dtype) or any(s != 1 for s in stride) or any(p < 0 for p in pad_hi):
        return False
    o, cg = w_shape[0], w_shape[1]
    if cg < MIN_CHANNELS or o // groups < MIN_CHANNELS:
        return False
    grid = [s + a + b for s, a, b in zip(x_shape[2:], pad_lo, pad_hi)]
    out = [g - d * (k - 1) for g, k, d in zip(grid, w_shape[2:], dilation)]
    if weight_grad and x_shape[0] * math.prod(grid) < WEIGHT_GRAD_MIN_CELLS:
        return False
    return min(out) > 0 and math.prod(grid) <= MAX_WASTE * math.prod(out)


class _Geometry:
    """The padded grid (3 spatial dims, leading ones added), each tap's flat shift, and the valid output."""

    def __init__(self, spatial, ksize, pad_lo, pad_hi, dilation, n):
        self.lo = _three(pad_lo, 0)
        self.spatial = _three(spatial, 1)
        self.grid = tuple(s + a + b for s, a, b in zip(self.spatial, self.lo, _three(pad_hi, 0)))
        k3, d3 = _three(ksize, 1), _three(dilation, 1)
        self.out = tuple(g - d * (k - 1) for g, k, d in zip(self.grid, k3, d3))
        g0, g1, g2 = self.grid
        self.shifts = [(a * d3[0] * g1 + b * d3[1]) * g2 + c * d3[2]
                       for a in range(k3[0]) for b in range(k3[1]) for c in range(k3[2])]
        self.cells = n * g0 * g1 * g2
        o0, o1, o2 = self.out
        self.rows = (((n - 1) * g0 + o0 - 1) * g1 + o1 - 1) * g2 + o2     # through the last valid output
        self.n = n

    def inner(self, spatial_lo):
        return (slice(None), slice(None)) + tuple(slice(a, a + s) for a, s in zip(spatial_lo, self.spatial))

    def valid(self):
        return (slice(None), slice(None)) + tuple(slice(0, o) for o in self.out)


def _to_grid(x, geo, where):
    """(N, C, *S) -> (C, N * grid) with x at `where` of each zeroed grid."""
    n, c = x.shape[:2]
    xp = np.zeros((c, n) + geo.grid, x.dtype)
    xp[where] = np.moveaxis(x.reshape((n, c) + _three(x.shape[2:], 1)), 0, 1)
    return xp.reshape(c, -1)


def _from_grid(yp, geo, where, nd):
    """(C, N * grid) -> (N, C, *S), the cells at `where`."""
    c = yp.shape[0]
    y = yp.reshape((c, geo.n) + geo.grid)[where]
    y = np.ascontiguousarray(np.moveaxis(y, 0, 1))
    return y.reshape(y.shape[:2] + y.shape[2 + 3 - nd:])


def _taps(w, groups):
    """(O, C/G, *K) -> (taps, G, O/G, C/G)"""
    o, cg = w.shape[:2]
    return np.ascontiguousarray(np.moveaxis(w.reshape(groups, o // groups, cg, -1), 3, 0))


def conv(x, w, stride, pad_lo, pad_hi, dilation, groups):
    nd = x.ndim - 2
    geo = _Geometry(x.shape[2:], w.shape[2:], pad_lo, pad_hi, dilation, x.shape[0])
    xp = _to_grid(x, geo, geo.inner(geo.lo))
    o, cg = w.shape[:2]
    og, wt = o // groups, _taps(w, groups)
    y = np.empty((o, geo.cells), x.dtype)
    for g in range(groups):
        xg, yg = xp[g * cg:(g + 1) * cg], y[g * og:(g + 1) * og, :geo.rows]
        for t, off in enumerate(geo.shifts):
            blas.gemm(wt[t, g], xg[:, off:off + geo.rows], yg, beta=1.0 if t else 0.0)
    return _from_grid(y, geo, geo.valid(), nd)


def conv_input_grad(g, w, shape, stride, pad_lo, pad_hi, dilation, groups):
    nd = len(shape) - 2
    geo = _Geometry(shape[2:], w.shape[2:], pad_lo, pad_hi, dilation, shape[0])
    margin = max(geo.shifts)
    # g on the grid, after `margin` zeros: the gradient at grid cell s sums W_k.T @ g[s - off_k]
    gp = np.zeros((g.shape[1], margin + geo.cells), g.dtype)
    gp[:, margin:].reshape((g.shape[1], geo.n) + geo.grid)[geo.valid()] = \
        np.moveaxis(g.reshape(g.shape[:2] + _three(g.shape[2:], 1)), 0, 1)
    o, cg = w.shape[:2]
    og, wt = o // groups, _taps(w, groups)
    dx = np.empty((shape[1], geo.cells), g.dtype)
    for k in range(groups):
        gk, dk = gp[k * og:(k + 1) * og], dx[k * cg:(k + 1) * cg]
        for t, off in enumerate(geo.shifts):
            blas.gemm(wt[t, k].T, gk[:, margin - off:margin - off + geo.cells], dk, beta=1.0 if t else 0.0)
    return _from_grid(dx, geo, geo.inner(geo.lo), nd)


def conv_weight_grad(x, g, shape, stride, pad_lo, pad_hi, dilation, groups):
    geo = _Geometry(x.shape[2:], shape[2:], pad_lo, pad_hi, dilation, x.shape[0])
    xp = _to_grid(x, geo, geo.inner(geo.lo))
    gp = _to_grid(g, geo, geo.valid())
    o, cg = shape[:2]
    og = o // groups
    dw = np.empty((len(geo.shifts), groups, og, cg), x.dtype)
    for k in range(groups):
        xk, gk = xp[k * cg:(k + 1) * cg], gp[k * og:(k + 1) * og, :geo.rows]
        for t, off in enumerate(geo.shifts):
            blas.gemm(gk, xk[:, off:off + geo.rows].T, dw[t, k])
    return np.ascontiguousarray(np.moveaxis(dw, 0, 3)).reshape(shape)
