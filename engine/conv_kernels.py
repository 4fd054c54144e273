"""Convolution kernels: wide stride-1 convs as shifted GEMMs (conv_shifted.py), the rest as im2col by NumPy
sliding windows plus one BLAS matmul per group and col2im accumulation (a Numba loop), split over the batch on
the block threads; and the windowed argmax of the max pools. Plain arrays in, arrays out: nothing of graphs."""
from __future__ import annotations

import functools
import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from gradwire.core.conv import adaptive_windows, pool_out

from . import blas, blocks, conv_shifted
from .jit import kernel


def _out(size, k, stride, lo, hi, dil):
    return (size + lo + hi - dil * (k - 1) - 1) // stride + 1


def _padded(x, lo, hi):
    """x with zeros before (lo) and after (max(hi, 0)) each spatial dim; a negative hi is never read."""
    if not any(lo) and all(h <= 0 for h in hi):
        return x
    shape = x.shape[:2] + tuple(s + a + max(b, 0) for s, a, b in zip(x.shape[2:], lo, hi))
    out = np.zeros(shape, x.dtype)
    out[(slice(None), slice(None)) + tuple(slice(a, a + s) for a, s in zip(lo, x.shape[2:]))] = x
    return out


def windows(x, ksize, stride, lo, hi, dilation):
    """Read-only view (N, C, *K, *L) of the padded input: [n, c, k..., l...] = xp[n, c, l * stride + k * dilation]."""
    xp = _padded(x, lo, hi)
    out = tuple(_out(s, k, st, a, b, d) for s, k, st, a, b, d in zip(x.shape[2:], ksize, stride, lo, hi, dilation))
    sn, sc, *ss = xp.strides
    return as_strided(xp, xp.shape[:2] + tuple(ksize) + out,
                      (sn, sc) + tuple(s * d for s, d in zip(ss, dilation)) + tuple(s * t for s, t in zip(ss, stride)),
                      writeable=False)


def _cols(x, ksize, stride, lo, hi, dilation, groups):
    """im2col as (groups, C/groups * prod(K), N * prod(L)): one matmul operand per group."""
    v = windows(x, ksize, stride, lo, hi, dilation)
    nd = len(ksize)
    perm = (1,) + tuple(range(2, 2 + nd)) + (0,) + tuple(range(2 + nd, 2 + 2 * nd))
    n, c = x.shape[:2]
    return v.transpose(perm).reshape(groups, c // groups * math.prod(ksize), -1), v.shape[2 + nd:]


def _matmul(a, b):
    """a[g] @ b[g] per group, one 2-D BLAS call each: np.dot passes a transposed operand to BLAS as a flag,
    where a stacked np.matmul with a transposed operand ran 10x slower (the weight gradient's cols.T)."""
    if a.dtype != b.dtype:
        dt = np.promote_types(a.dtype, b.dtype)
        a, b = a.astype(dt), b.astype(dt)
    out = np.empty((a.shape[0], a.shape[1], b.shape[2]), a.dtype)
    for i in range(a.shape[0]):
        np.dot(a[i], b[i], out=out[i])
    return out


def _finite(a):
    """No NaN or Inf in a (a sum is cheaper than isfinite over every element; an overflow only errs safe)."""
    return bool(np.isfinite(a.sum())) if a.dtype.kind == "f" else True


# The shifted-GEMM lowering (conv_shifted.py) multiplies the grid's unused cells by zeros: for the input
# gradient a non-finite weight, for the weight gradient a non-finite input, would turn 0 * Inf into NaN where
# im2col (and PyTorch) never form that product, so those cases stay on im2col.
def conv(x, w, stride, pad_lo, pad_hi, dilation, groups):
    if conv_shifted.usable(x.shape, w.shape, x.dtype, stride, pad_lo, pad_hi, dilation, groups) and \
            x.dtype == w.dtype:
        return conv_shifted.conv(x, w, stride, pad_lo, pad_hi, dilation, groups)
    return _batched(lambda lo, hi: _conv_cols(x[lo:hi], w, stride, pad_lo, pad_hi, dilation, groups),
                    x.shape[0], x.size * math.prod(w.shape[2:]))


# The forward's im2col per sample, (N, G, C/G * K, L), and one stacked matmul giving (N, G, O/G, L): no transpose
# after. Against one GEMM over the batch (float32, 1 thread, interleaved, min of 15, ms; load average ~9):
#   LeNet (64, 1, 28, 28) 5x5 -> 6:          0.81 vs 1.84      LeNet (64, 6, 12, 12) -> 16:       1.34 vs 1.46
#   (32, 3, 32, 32) 3x3 -> 64:               4.6 vs 7.5        (8, 64, 56, 56) 1x1 -> 64:         2.7 vs 3.9
#   (32, 64, 32, 32) 3x3 stride 2 -> 128:    16.6 vs 17.6      groups 4, (16, 32, 16, 16):        0.79 vs 1.17
#   (32, 256, 8, 8) 3x3 stride 2 -> 256:     16.1 vs 8.2 (16 outputs per sample: thin GEMMs)
PER_SAMPLE_MIN_OUTPUTS = 64


def _conv_cols(x, w, stride, pad_lo, pad_hi, dilation, groups):
    ksize = w.shape[2:]
    v = windows(x, ksize, stride, pad_lo, pad_hi, dilation)          # (N, C, *K, *L)
    n, c, o = x.shape[0], x.shape[1], w.shape[0]
    out = v.shape[2 + len(ksize):]
    if math.prod(out) < PER_SAMPLE_MIN_OUTPUTS:
        return _conv_cols_batch(x, w, stride, pad_lo, pad_hi, dilation, groups)
    cols = v.reshape(n, groups, c // groups * math.prod(ksize), math.prod(out))
    wg = w.reshape(groups, o // groups, -1)
    if wg.dtype != cols.dtype:
        dt = np.promote_types(wg.dtype, cols.dtype)
        wg, cols = wg.astype(dt), cols.astype(dt)
    return np.matmul(wg, cols).reshape((n, o) + out)


def _conv_cols_batch(x, w, stride, pad_lo, pad_hi, dilation, groups):
    cols, out = _cols(x, w.shape[2:], stride, pad_lo, pad_hi, dilation, groups)
    o, n = w.shape[0], x.shape[0]
    y = _matmul(w.reshape(groups, o // groups, -1), cols)           # (G, O/G, N * L)
    return np.ascontiguousarray(np.moveaxis(y.reshape((o, n) + out), 0, 1))


# The im2col path splits the batch over the block threads (blocks.py), each part a whole conv with BLAS on one
# thread: its im2col copy, col2im and small GEMMs (LeNet's have 6 or 16 rows) would otherwise run on one core
# while OpenBLAS's second thread mostly waits. Below this many im2col elements per part, splitting costs more.
SPLIT_MIN_ELEMENTS = 1 << 16


def _parts(n, work):
    k = max(min(blocks.threads(), n, work // SPLIT_MIN_ELEMENTS), 1)
    return [(n * i // k, n * (i + 1) // k) for i in range(k)]


def _run_parts(fn, parts):
    """fn(lo, hi) for each part, the first on this thread; results in order. One part keeps BLAS threaded."""
    if len(parts) == 1:
        return [fn(*parts[0])]
    futures = [blocks.submit(blas.one_thread, fn, lo, hi) for lo, hi in parts[1:]]
    first = blas.one_thread(fn, *parts[0])
    return [first] + [f.result() for f in futures]


def _batched(fn, n, work):
    """fn(lo, hi) computes batch rows lo:hi; the parts' results are stacked back along the batch axis."""
    rs = _run_parts(fn, _parts(n, work))
    return rs[0] if len(rs) == 1 else np.concatenate(rs)


def _grad_rows(g, groups):
    """The output gradient (N, O, *L) as (G, O/G, N * L)."""
    o = g.shape[1]
    return np.moveaxis(g, 1, 0).reshape(groups, o // groups, -1)


def conv_weight_grad(x, g, shape, stride, pad_lo, pad_hi, dilation, groups):
    if conv_shifted.usable(x.shape, shape, x.dtype, stride, pad_lo, pad_hi, dilation, groups, weight_grad=True) \
            and x.dtype == g.dtype and _finite(x):
        return conv_shifted.conv_weight_grad(x, g, shape, stride, pad_lo, pad_hi, dilation, groups)
    # Batch parts sum their own weight gradients: the sum's order depends on the thread count (fixed per process)
    parts = _run_parts(lambda lo, hi: _weight_grad_cols(x[lo:hi], g[lo:hi], shape, stride, pad_lo, pad_hi,
                                                        dilation, groups),
                       _parts(x.shape[0], x.size * math.prod(shape[2:])))
    return functools.reduce(np.add, parts)


def _weight_grad_cols(x, g, shape, stride, pad_lo, pad_hi, dilation, groups):
    cols, _ = _cols(x, shape[2:], stride, pad_lo, pad_hi, dilation, groups)
    # (G, C/G * K, O/G), transposed after: OpenBLAS ran cols @ g.T (a tall result) several times faster than
    # g @ cols.T (a wide one) on the 3x3 block, 88-96 ms against 500-1500 ms (2 threads, interleaved, best 3 of 6).
    dw = _matmul(cols, _grad_rows(g, groups).transpose(0, 2, 1))
    return np.ascontiguousarray(dw.transpose(0, 2, 1)).reshape(shape)


def conv_input_grad(g, w, shape, stride, pad_lo, pad_hi, dilation, groups):
    if conv_shifted.usable(shape, w.shape, g.dtype, stride, pad_lo, pad_hi, dilation, groups) and \
            g.dtype == w.dtype and _finite(w):
        return conv_shifted.conv_input_grad(g, w, shape, stride, pad_lo, pad_hi, dilation, groups)
    return _batched(lambda lo, hi: _input_grad_cols(g[lo:hi], w, (hi - lo,) + tuple(shape[1:]), stride, pad_lo,
                                                    pad_hi, dilation, groups),
                    shape[0], g.size * math.prod(w.shape[2:]) * w.shape[1] // max(w.shape[0] // groups, 1))


def _input_grad_cols(g, w, shape, stride, pad_lo, pad_hi, dilation, groups):
    o = w.shape[0]
    cols = _matmul(w.reshape(groups, o // groups, -1).transpose(0, 2, 1), _grad_rows(g, groups))
    ksize, out = w.shape[2:], g.shape[2:]
    return col2im(cols.reshape((shape[1],) + ksize + (shape[0],) + out), shape, stride, pad_lo, pad_hi, dilation)


# -- col2im ----------------------------------------------------------------------------------------------------
# Measured on the shared 2-core machine (float32, best of 5, two runs), the input gradient's accumulation only:
#   LeNet conv1 (64, 1, 28, 28), 5x5:        NumPy loop over kernel offsets 0.61-0.71 ms, Numba 0.31-0.32 ms
#   LeNet conv2 (64, 6, 12, 12), 5x5:        NumPy 1.21-1.24 ms, Numba 0.52-0.53 ms
#   3x3 block (32, 64, 32, 32), 3x3, pad 1:  NumPy 33-35 ms, Numba 6.9-15 ms
# so the Numba kernel is the one used; the NumPy loop stays as the reference the tests compare it with. (A
# variant computing each tap's valid range up front, to drop the inner branch, ran 2-3x slower.)
def col2im_numpy(cols, shape, stride, lo, hi, dilation):
    """cols (C, *K, N, *L) summed into the padded input at l * stride + k * dilation, then cut to shape."""
    nd = len(shape) - 2
    ksize, out = cols.shape[1:1 + nd], cols.shape[2 + nd:]
    padded = tuple(s + a + max(b, 0) for s, a, b in zip(shape[2:], lo, hi))
    xp = np.zeros((shape[1], shape[0]) + padded, cols.dtype)
    for k in itertools.product(*map(range, ksize)):
        where = tuple(slice(kk * d, kk * d + (n - 1) * s + 1, s) for kk, d, n, s in zip(k, dilation, out, stride))
        xp[(slice(None), slice(None)) + where] += cols[(slice(None),) + k]
    crop = tuple(slice(a, a + s) for a, s in zip(lo, shape[2:]))
    return np.ascontiguousarray(np.moveaxis(xp[(slice(None), slice(None)) + crop], 0, 1))


@kernel
def _col2im3(cols, xp, s0, s1, s2, d0, d1, d2, lo0, lo1, lo2):
    # cols (C, K0, K1, K2, N, L0, L1, L2); xp (N, C, S0, S1, S2), already cut: positions outside are skipped.
    c_, k0_, k1_, k2_, n_, l0_, l1_, l2_ = cols.shape
    S0, S1, S2 = xp.shape[2], xp.shape[3], xp.shape[4]
    for n in range(n_):
        for c in range(c_):
            for k0 in range(k0_):
                for l0 in range(l0_):
                    i0 = l0 * s0 + k0 * d0 - lo0
                    if i0 < 0 or i0 >= S0:
                        continue
                    for k1 in range(k1_):
                        for l1 in range(l1_):
                            i1 = l1 * s1 + k1 * d1 - lo1
                            if i1 < 0 or i1 >= S1:
                                continue
                            for k2 in range(k2_):
                                for l2 in range(l2_):
                                    i2 = l2 * s2 + k2 * d2 - lo2
                                    if 0 <= i2 < S2:
                                        xp[n, c, i0, i1, i2] += cols[c, k0, k1, k2, n, l0, l1, l2]


def _three(v, fill):
    return tuple(fill for _ in range(3 - len(v))) + tuple(int(a) for a in v)


def col2im(cols, shape, stride, lo, hi, dilation):
    nd = len(shape) - 2
    c, ksize, n, out = cols.shape[0], cols.shape[1:1 + nd], cols.shape[1 + nd], cols.shape[2 + nd:]
    cols3 = np.ascontiguousarray(cols).reshape((c,) + _three(ksize, 1) + (n,) + _three(out, 1))
    xp = np.zeros((shape[0], shape[1]) + _three(shape[2:], 1), cols.dtype)
    _col2im3(cols3, xp, *_three(stride, 1), *_three(dilation, 1), *_three(lo, 0))
    return xp.reshape(shape)


# -- unfold / fold ---------------------------------------------------------------------------------------------
def unfold(x, kernel, dilation, padding, stride):
    v = windows(x, kernel, stride, padding, padding, dilation)        # (N, C, *K, *L)
    n, c = x.shape[:2]
    return np.ascontiguousarray(v).reshape(n, c * math.prod(kernel), -1)


def fold(cols, shape, kernel, dilation, padding, stride):
    n, ck, _ = cols.shape
    c = ck // math.prod(kernel)
    out = tuple(_out(s, k, st, p, p, d) for s, k, st, p, d in zip(shape, kernel, stride, padding, dilation))
    c5 = np.moveaxis(cols.reshape((n, c) + tuple(kernel) + out), 0, 1 + len(kernel))   # (C, *K, N, *L)
    return col2im(c5, (n, c) + tuple(shape), stride, padding, padding, dilation)


# -- windowed argmax (max pools) -------------------------------------------------------------------------------
@kernel
def _argmax3(x, st0, ct0, st1, ct1, st2, ct2, d0, d1, d2, out):
    # x (P, S0, S1, S2); window along dim i at output o: st_i[o] + j * d_i for j < ct_i[o] (all inside).
    p_, S0, S1, S2 = x.shape
    for p in range(p_):
        for o0 in range(out.shape[1]):
            for o1 in range(out.shape[2]):
                for o2 in range(out.shape[3]):
                    a0, a1, a2 = st0[o0], st1[o1], st2[o2]
                    best = x[p, a0, a1, a2]
                    idx = (a0 * S1 + a1) * S2 + a2
                    for j0 in range(ct0[o0]):
                        i0 = a0 + j0 * d0
                        for j1 in range(ct1[o1]):
                            i1 = a1 + j1 * d1
                            for j2 in range(ct2[o2]):
                                i2 = a2 + j2 * d2
                                v = x[p, i0, i1, i2]
                                if v > best or v != v:   # PyTorch's rule: a NaN always wins, the last one
                                    best = v
                                    idx = (i0 * S1 + i1) * S2 + i2
                    out[p, o0, o1, o2] = idx


def _argmax(x, nd, starts, counts, steps):
    lead, spatial = x.shape[:-nd], x.shape[-nd:]
    x3 = np.ascontiguousarray(x).reshape((-1,) + _three(spatial, 1))
    pad = 3 - nd
    starts = [np.zeros(1, np.int64)] * pad + [np.asarray(s, np.int64) for s in starts]
    counts = [np.ones(1, np.int64)] * pad + [np.asarray(c, np.int64) for c in counts]
    steps = (1,) * pad + tuple(steps)
    out = np.empty((x3.shape[0],) + tuple(len(s) for s in starts), np.int64)
    _run_parts(lambda lo, hi: _argmax3(x3[lo:hi], starts[0], counts[0], starts[1], counts[1], starts[2], counts[2],
                                       *steps, out[lo:hi]), _parts(x3.shape[0], x3.size))
    return out.reshape(lead + out.shape[1:][pad:])


def _pool_windows(size, k, stride, pad, dil, n_out):
    """Per output position: the first tap inside the input and how many taps are inside."""
    raw = np.arange(n_out) * stride - pad
    first = np.where(raw < 0, (-raw + dil - 1) // dil, 0)
    last = np.minimum(k - 1, (size - 1 - raw) // dil)
    return raw + first * dil, np.maximum(last - first + 1, 0)


def max_pool_indices(x, kernel, stride, padding, dilation, ceil_mode):
    nd = len(kernel)
    spatial = x.shape[-nd:]
    wins = [_pool_windows(s, k, st, p, d, pool_out(s, k, st, p, d, ceil_mode))
            for s, k, st, p, d in zip(spatial, kernel, stride, padding, dilation)]
    return _argmax(x, nd, [w[0] for w in wins], [w[1] for w in wins], dilation)


def adaptive_max_pool_indices(x, shape):
    nd = len(shape)
    wins = [adaptive_windows(s, o) for s, o in zip(x.shape[-nd:], shape)]
    return _argmax(x, nd, [w[0] for w in wins], [w[1] for w in wins], (1,) * nd)


def warm_up() -> None:
    """Compile the kernels for each dtype a request can bring (from Numba's disk cache after the first run)."""
    for dt in (np.float32, np.float64, np.int32, np.int64):
        col2im(np.ones((1, 2, 1, 2), dt), (1, 1, 3), (1,), (0,), (0,), (1,))
        max_pool_indices(np.ones((1, 1, 3), dt), (2,), (1,), (0,), (1,), False)
