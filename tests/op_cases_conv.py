"""Op-table cases of the convolution and pooling primitives. The oracles are written independently of the
engine's im2col: conv as a sum over kernel taps of strided slices (autograd.numpy), its two transposes as
autograd's own gradients of that sum, unfold as the stacked slices and fold as unfold's gradient."""
from __future__ import annotations

import itertools
import math

import autograd.numpy as anp
import hypothesis.strategies as st
import numpy as np
from autograd import grad

from op_table import REFUSED, Example, case, distinct


def _geometry(data, nd, ksize):
    stride = tuple(data.draw(st.integers(1, 2)) for _ in range(nd))
    dilation = tuple(data.draw(st.integers(1, 2)) for _ in range(nd))
    lo = tuple(data.draw(st.integers(0, 1)) for _ in range(nd))
    hi = tuple(data.draw(st.integers(-1, 1)) for _ in range(nd))
    # enough input for at least one window
    spatial = tuple(max(d * (k - 1) + 1 - a - b, 1) + data.draw(st.integers(0, 2))
                    for d, k, a, b in zip(dilation, ksize, lo, hi))
    return spatial, {"stride": stride, "pad_lo": lo, "pad_hi": hi, "dilation": dilation}


def _out(size, k, s, lo, hi, d):
    return (size + lo + hi - d * (k - 1) - 1) // s + 1


def ref_conv(x, w, stride, pad_lo, pad_hi, dilation, groups):
    nd = x.ndim - 2
    cut = tuple(slice(0, s + min(h, 0)) for s, h in zip(x.shape[2:], pad_hi))
    pads = [(0, 0), (0, 0)] + [(a, max(b, 0)) for a, b in zip(pad_lo, pad_hi)]
    xp = anp.pad(x[(slice(None), slice(None)) + cut], pads, mode="constant")
    out = [_out(s, k, st_, a, b, d) for s, k, st_, a, b, d in
           zip(x.shape[2:], w.shape[2:], stride, pad_lo, pad_hi, dilation)]
    n, c, o = x.shape[0], x.shape[1], w.shape[0]
    wg = anp.reshape(w, (groups, o // groups) + w.shape[1:])
    total = 0.0
    for k in itertools.product(*map(range, w.shape[2:])):
        taps = tuple(slice(kk * d, kk * d + (m - 1) * s + 1, s) for kk, d, m, s in zip(k, dilation, out, stride))
        xs = anp.reshape(xp[(slice(None), slice(None)) + taps], (n, groups, c // groups) + tuple(out))
        total = total + anp.einsum("ngc...,goc->ngo...", xs, wg[(Ellipsis,) + k])
    return anp.reshape(total, (n, o) + tuple(out))


def _conv_example(data, rng):
    nd = data.draw(st.integers(1, 3))
    groups = data.draw(st.integers(1, 2))
    ksize = tuple(data.draw(st.integers(1, 3 if nd < 3 else 2)) for _ in range(nd))
    spatial, geo = _geometry(data, nd, ksize)
    geo["groups"] = groups
    n, cg, og = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    x = rng.standard_normal((n, cg * groups) + spatial)
    w = rng.standard_normal((og * groups, cg) + ksize)
    return x, w, geo


@case("conv")
def _conv(name, data, rng):
    x, w, geo = _conv_example(data, rng)
    return Example([x, w], geo, lambda x, w: ref_conv(x, w, **geo), (0, 1))


@case("conv_input_grad")
def _conv_input_grad(name, data, rng):
    x, w, geo = _conv_example(data, rng)
    g = rng.standard_normal(ref_conv(x, w, **geo).shape)
    shape = x.shape

    def ref(g, w):
        return grad(lambda x: anp.sum(ref_conv(x, w, **geo) * g))(np.zeros(shape))
    return Example([g, w], {"shape": shape, **geo}, ref, (0, 1))


@case("conv_weight_grad")
def _conv_weight_grad(name, data, rng):
    x, w, geo = _conv_example(data, rng)
    g = rng.standard_normal(ref_conv(x, w, **geo).shape)
    shape = w.shape

    def ref(x, g):
        return grad(lambda w: anp.sum(ref_conv(x, w, **geo) * g))(np.zeros(shape))
    return Example([x, g], {"shape": shape, **geo}, ref, (0, 1))


def _window_example(data, rng):
    ksize = tuple(data.draw(st.integers(1, 3)) for _ in range(2))
    _, geo = _geometry(data, 2, ksize)
    pad, dil = geo["pad_lo"], geo["dilation"]
    spatial = tuple(max(d * (k - 1) + 1 - 2 * p, 1) + data.draw(st.integers(0, 2)) for d, k, p in zip(dil, ksize, pad))
    attrs = {"kernel": ksize, "dilation": dil, "padding": pad, "stride": geo["stride"]}
    return spatial, attrs


def ref_unfold(x, kernel, dilation, padding, stride):
    xp = anp.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding], mode="constant")
    out = [_out(s, k, st_, p, p, d) for s, k, st_, p, d in zip(x.shape[2:], kernel, stride, padding, dilation)]
    taps = [xp[(slice(None), slice(None)) + tuple(slice(kk * d, kk * d + (m - 1) * s + 1, s)
                                                  for kk, d, m, s in zip(k, dilation, out, stride))]
            for k in itertools.product(*map(range, kernel))]
    n, c = x.shape[:2]
    return anp.reshape(anp.stack(taps, axis=2), (n, c * math.prod(kernel), math.prod(out)))


@case("im2col")
def _unfold(name, data, rng):
    spatial, attrs = _window_example(data, rng)
    x = rng.standard_normal((data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))) + spatial)
    return Example([x], attrs, lambda x: ref_unfold(x, **attrs), (0,))


@case("col2im")
def _fold(name, data, rng):
    spatial, attrs = _window_example(data, rng)
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))) + spatial
    cols = rng.standard_normal(ref_unfold(np.zeros(shape), **attrs).shape)

    def ref(c):
        return grad(lambda x: anp.sum(ref_unfold(x, **attrs) * c))(np.zeros(shape))
    return Example([cols], {"shape": spatial, **attrs}, ref, (0,))


def _argmax_ref(x, windows):
    """windows: per spatial dim, a list of index lists; the flat index of each window's maximum."""
    nd = len(windows)
    lead, spatial = x.shape[:-nd], x.shape[-nd:]
    planes = x.reshape((-1,) + spatial)
    out = np.zeros((planes.shape[0],) + tuple(len(w) for w in windows), np.int64)
    for p in range(planes.shape[0]):
        for o in itertools.product(*[range(len(w)) for w in windows]):
            cells = list(itertools.product(*[windows[i][o[i]] for i in range(nd)]))
            best = max(cells, key=lambda c: planes[(p,) + c])
            out[(p,) + o] = np.ravel_multi_index(best, spatial)
    return out.reshape(lead + out.shape[1:])


@case("max_pool_indices")
def _max_pool_indices(name, data, rng):
    nd = data.draw(st.integers(1, 2))
    kernel = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(data.draw(st.integers(1, 2)) for _ in range(nd))
    padding = tuple(data.draw(st.integers(0, ((k - 1) * d + 1) // 2)) for k, d in zip(kernel, dilation))
    stride = tuple(data.draw(st.integers(1, 2)) for _ in range(nd))
    ceil_mode = data.draw(st.booleans())
    spatial = tuple(max((k - 1) * d + 1 - p, 1) + data.draw(st.integers(0, 3))
                    for k, d, p in zip(kernel, dilation, padding))
    x = distinct(rng, (2,) + spatial)
    from gradwire.core.conv import pool_out
    windows = []
    for s, k, st_, p, d in zip(spatial, kernel, stride, padding, dilation):
        n = pool_out(s, k, st_, p, d, ceil_mode)
        windows.append([[o * st_ - p + j * d for j in range(k) if 0 <= o * st_ - p + j * d < s] for o in range(n)])
    attrs = {"kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation, "ceil_mode": ceil_mode}
    return Example([x], attrs, lambda x: _argmax_ref(x, windows))


@case("adaptive_max_pool_indices")
def _adaptive_max_pool_indices(name, data, rng):
    nd = data.draw(st.integers(1, 2))
    spatial = tuple(data.draw(st.integers(1, 6)) for _ in range(nd))
    out = tuple(data.draw(st.integers(1, 7)) for _ in range(nd))
    x = distinct(rng, (2, 2) + spatial)
    windows = [[list(range(i * s // o, -(-(i + 1) * s // o))) for i in range(o)] for s, o in zip(spatial, out)]
    return Example([x], {"shape": out}, lambda x: _argmax_ref(x, windows))


REFUSED.update({("max_pool_indices", "bool"): "not implemented for",
                ("adaptive_max_pool_indices", "bool"): "not implemented for"})
