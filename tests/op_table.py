"""The test table: one entry per engine op, drawing a random example (inputs, attrs) and its oracle.

Each entry maps an op name to `draw(data, rng) -> Example`. `ref` is written with
`autograd.numpy`, so the same function is the NumPy forward reference, the function whose
float64 central differences check VJP/JVP, and the HIPS autograd oracle. Inputs stay in the
op's smooth domain: positive where log/sqrt/pow need it, away from kinks and ties where
relu/abs/clamp/max need it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import autograd.numpy as anp
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np

BIG = 2**62  # the wire encoding of an omitted slice bound


@dataclass
class Example:
    inputs: list            # one array per op input
    attrs: dict
    ref: Callable           # ref(*inputs): the oracle, differentiable in the `diff` inputs
    diff: tuple = ()        # which inputs are differentiated (float64); () = no gradient
    tol: float = 1e-5       # relative tolerance of value checks (float32 outputs need more)
    smooth2: bool = True    # second derivative exists at these inputs (for the second-order test)
    extra: dict = field(default_factory=dict)
    # A function whose derivatives are the op's, where those are not ref's (with_value: the value of one
    # input, the gradient path of the other). Derivative checks use it; value checks use ref.
    grad_ref: Callable | None = None


# values -----------------------------------------------------------------------------------------
def smooth(rng, shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def nonzero(rng, shape):
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 2.0, shape)


def grid(rng, shape, offset):
    """Multiples of 0.5 plus offset: two grids with different offsets never tie."""
    return rng.integers(-4, 5, shape) * 0.5 + offset


def distinct(rng, shape, *, positive_only=False):
    """All values different (no ties for max/min), spaced by at least 0.2 in absolute value too."""
    n = math.prod(shape)
    mags = (rng.permutation(n) + 1) * 0.2 + 0.1
    signs = 1.0 if positive_only else rng.choice([-1.0, 1.0], n)
    return (mags * signs).reshape(shape)


# shapes and attributes ---------------------------------------------------------------------------
def shape(data, min_dims=0, max_dims=3, min_side=0, max_side=4):
    return data.draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side))


def two_shapes(data, min_side=0):
    return data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=min_side,
                                                        max_side=3)).input_shapes


def signed(data, a, n):
    """Axis a of n, sometimes written negatively."""
    return a - n if n and data.draw(st.booleans()) else a


def draw_axes(data, ndim):
    """None (all), or a subset of axes, some negative; for 0-d also (0,) / (-1,)."""
    if data.draw(st.booleans()):
        return None
    if ndim == 0:
        return data.draw(st.sampled_from([(), (0,), (-1,)]))
    picked = data.draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim))
    return tuple(signed(data, a, ndim) for a in picked)


def norm_axes(axes, ndim):
    return tuple(range(ndim)) if axes is None else (() if ndim == 0 else tuple(sorted(a % ndim for a in axes)))


def draw_slice(data, shp):
    k = data.draw(st.integers(0, len(shp)))
    starts, stops, steps = [], [], []
    for n in shp[:k]:
        step = data.draw(st.sampled_from([1, 1, 2, 3, -1, -2]))
        start = data.draw(st.one_of(st.none(), st.integers(-n - 2, n + 2)))
        stop = data.draw(st.one_of(st.none(), st.integers(-n - 2, n + 2)))
        starts.append((0 if step > 0 else BIG) if start is None else start)
        stops.append((BIG if step > 0 else -BIG) if stop is None else stop)
        steps.append(step)
    return tuple(starts), tuple(stops), tuple(steps)


def slices(starts, stops, steps):
    return tuple(slice(a, b, s) for a, b, s in zip(starts, stops, steps))


# oracles for ops NumPy has no differentiable spelling of ------------------------------------------
def ref_unslice(g, shape, starts, stops, steps):
    """Zeros of `shape` with g at the slice, as a product of 0/1 selection matrices (differentiable)."""
    out = g
    for k, sl in enumerate(slices(starts, stops, steps)):
        picked = range(*sl.indices(shape[k]))
        sel = np.zeros((shape[k], len(picked)))
        sel[list(picked), range(len(picked))] = 1.0
        out = anp.moveaxis(anp.tensordot(sel, out, axes=([1], [k])), 0, k)
    return out


def one_hot(idx, size):
    return (np.mod(idx, size)[..., None] == np.arange(size)).astype(np.float64)


def ref_scatter_add(g, idx, axis, size):
    pre, post = math.prod(g.shape[:axis]), math.prod(g.shape[axis + idx.ndim:])
    g3 = anp.reshape(g, (pre, idx.size, post))
    out = anp.einsum("pjq,js->psq", g3, one_hot(idx.reshape(-1), size))
    return anp.reshape(out, g.shape[:axis] + (size,) + g.shape[axis + idx.ndim:])


def ref_gather(x, idx, axis):
    ix = list(np.ix_(*[np.arange(d) for d in idx.shape]))
    ix[axis] = np.mod(idx, x.shape[axis])
    return x[tuple(ix)]


def ref_gather_add(g, idx, axis, shape):
    pre, post = math.prod(g.shape[:axis]), math.prod(g.shape[axis + 1:])
    m = g.shape[axis]
    g3 = anp.reshape(g, (pre, m, post))
    oh = one_hot(idx.reshape(pre, m, post), shape[axis])
    return anp.reshape(anp.einsum("pjq,pjqs->psq", g3, oh), shape)


def ref_logsumexp(x, axis, keepdims):
    return anp.log(anp.sum(anp.exp(x), axis=axis, keepdims=keepdims))


def ref_norm(x, p, axes, keepdims):
    a = anp.abs(x)
    if p == 2.0:
        return anp.sqrt(anp.sum(x * x, axis=axes, keepdims=keepdims))
    if p == math.inf:
        return anp.max(a, axis=axes, keepdims=keepdims)
    if p == -math.inf:
        return anp.min(a, axis=axes, keepdims=keepdims)
    if p == 0.0:
        return anp.sum(a * 0.0 + (x != 0), axis=axes, keepdims=keepdims)
    return anp.sum(a ** p, axis=axes, keepdims=keepdims) ** (1.0 / p)


def ref_softmax(x, axis):
    if x.ndim == 0:
        return x * 0.0 + 1.0
    if x.size == 0:
        return x
    e = anp.exp(x - anp.max(x, axis=axis, keepdims=True))
    return e / anp.sum(e, axis=axis, keepdims=True)


def ref_log_softmax(x, axis):
    if x.ndim == 0:
        return x * 0.0
    return x - anp.log(anp.sum(anp.exp(x), axis=axis, keepdims=True))


def ref_sum_to(x, shape):
    lead = x.ndim - len(shape)
    ax = tuple(range(lead)) + tuple(lead + k for k, d in enumerate(shape) if d == 1 and x.shape[lead + k] != 1)
    return anp.reshape(anp.sum(x, axis=ax), shape) if ax else x


def ref_broadcast_to(x, shape):
    return x + np.zeros(shape)  # autograd's broadcast_to cannot add leading dims; addition can


# the table ---------------------------------------------------------------------------------------
CASES: dict[str, Callable] = {}
# (op, dtype) -> what the error says, for dtypes an elementwise op's shape rule refuses although its row lists
# them (the refusal depends on the promoted type), as PyTorch refuses them. Case modules add theirs.
REFUSED = {("sub", "bool"): "two bool tensors is not supported"}


def case(*names):
    def register(fn):
        def draw(name, data, rng):
            ex = fn(name, data, rng)
            ex.inputs = [np.asarray(a) for a in ex.inputs]  # 0-d draws come back as NumPy scalars
            return ex
        for n in names:
            CASES[n] = (lambda n: lambda data, rng: draw(n, data, rng))(n)
        return fn
    return register


UNARY = {  # name: (oracle, domain, second derivative exists)
    "neg": (lambda x: -x, smooth, True),
    "exp": (anp.exp, smooth, True),
    "log": (anp.log, positive, True),
    "sin": (anp.sin, smooth, True),
    "cos": (anp.cos, smooth, True),
    "tan": (anp.tan, lambda rng, s: smooth(rng, s, -1.2, 1.2), True),
    "tanh": (anp.tanh, smooth, True),
    "sigmoid": (lambda x: 1.0 / (1.0 + anp.exp(-x)), smooth, True),
    "sqrt": (anp.sqrt, positive, True),
    "abs": (anp.abs, nonzero, True),
    "square": (lambda x: x * x, smooth, True),
    "relu": (lambda x: anp.maximum(x, 0.0), nonzero, True),
}


@case(*UNARY)
def _unary(name, data, rng):
    ref, domain, s2 = UNARY[name]
    return Example([domain(rng, shape(data))], {}, ref, (0,), smooth2=s2)


BINARY = {  # name: (oracle, x domain, y domain)
    "add": (lambda x, y: x + y, smooth, smooth),
    "sub": (lambda x, y: x - y, smooth, smooth),
    "mul": (lambda x, y: x * y, smooth, smooth),
    "div": (lambda x, y: x / y, smooth, nonzero),
    "pow": (anp.power, positive, smooth),
    "maximum": (anp.maximum, lambda r, s: grid(r, s, 0.1), lambda r, s: grid(r, s, 0.3)),
    "minimum": (anp.minimum, lambda r, s: grid(r, s, 0.1), lambda r, s: grid(r, s, 0.3)),
}


@case(*BINARY)
def _binary(name, data, rng):
    ref, dx, dy = BINARY[name]
    sx, sy = two_shapes(data)
    return Example([dx(rng, sx), dy(rng, sy)], {}, ref, (0, 1))


COMPARE = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
           "ge": np.greater_equal}


@case(*COMPARE)
def _compare(name, data, rng):
    sx, sy = two_shapes(data)  # small integers: ties happen
    return Example([rng.integers(-1, 2, sx).astype(np.float64), rng.integers(-1, 2, sy).astype(np.float64)],
                   {}, COMPARE[name])


@case("logical_and", "logical_or")
def _logical(name, data, rng):
    sx, sy = two_shapes(data)
    fn = np.logical_and if name == "logical_and" else np.logical_or
    return Example([rng.random(sx) < 0.5, rng.random(sy) < 0.5], {}, fn)


@case("logical_not")
def _logical_not(name, data, rng):
    return Example([rng.random(shape(data)) < 0.5], {}, np.logical_not)


@case("stop_gradient", "zeros_like", "ones_like")
def _no_grad_unary(name, data, rng):
    ref = {"stop_gradient": lambda x: x, "zeros_like": np.zeros_like,
           "ones_like": np.ones_like}[name]
    return Example([nonzero(rng, shape(data))], {}, ref)


@case("pow_scalar")
def _pow_scalar(name, data, rng):
    e = data.draw(st.sampled_from([0.0, 1.0, 2.0, 3.0, -1.0, 0.5, 2.5, -1.5]))
    x = nonzero(rng, shape(data)) if e == int(e) else positive(rng, shape(data))
    return Example([x], {"exponent": e}, lambda x: x ** e if e else x * 0.0 + 1.0, (0,))


@case("clamp")
def _clamp(name, data, rng):
    lo = data.draw(st.sampled_from([None, -1.0, -0.5, 0.0, 0.5]))
    hi = data.draw(st.sampled_from([None, 0.0, 0.5, 1.0, 1.5]))

    def ref(x):
        if lo is not None:
            x = anp.maximum(x, lo)
        if hi is not None:
            x = anp.minimum(x, hi)
        return x
    return Example([grid(rng, shape(data), 0.25)], {"min": lo, "max": hi}, ref, (0,))


@case("where")
def _where(name, data, rng):
    sc, sx, sy = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3)).input_shapes
    z = np.zeros(np.broadcast_shapes(sc, sx, sy))  # autograd's where does not undo broadcasting; + does

    return Example([rng.random(sc) < 0.5, smooth(rng, sx), smooth(rng, sy)], {},
                   lambda c, x, y: anp.where(c, x + z, y + z), (1, 2))


@case("cast")
def _cast(name, data, rng):
    dtype = data.draw(st.sampled_from(["float64", "float32"]))
    return Example([smooth(rng, shape(data))], {"dtype": dtype}, lambda x: x, (0,),
                   tol=1e-5 if dtype == "float64" else 1e-6 * 10)


REDUCE = {"sum": anp.sum, "mean": anp.mean, "prod": anp.prod, "max": anp.max, "min": anp.min,
          "logsumexp": ref_logsumexp}


@case(*REDUCE)
def _reduce(name, data, rng):
    extreme = name in ("max", "min")
    shp = shape(data, min_side=1 if extreme else 0)
    x = (distinct(rng, shp) if extreme else
         rng.choice([-1.0, 1.0], shp) * rng.uniform(0.5, 1.5, shp) if name == "prod" else smooth(rng, shp))
    axes = draw_axes(data, len(shp))
    keepdims = data.draw(st.booleans())
    attrs = {"axes": axes, "keepdims": keepdims}
    if data.draw(st.booleans()) and axes is None and not keepdims:
        attrs = {}  # defaults
    ax = norm_axes(axes, len(shp))
    return Example([x], attrs, lambda x: REDUCE[name](x, axis=ax, keepdims=keepdims), (0,))


@case("all", "any")
def _bool_reduce(name, data, rng):
    shp = shape(data)
    axes, keepdims = draw_axes(data, len(shp)), data.draw(st.booleans())
    fn = np.all if name == "all" else np.any
    ax = norm_axes(axes, len(shp))
    return Example([rng.random(shp) < 0.7], {"axes": axes, "keepdims": keepdims},
                   lambda x: fn(x, axis=ax, keepdims=keepdims))


@case("argmax", "argmin")
def _arg_reduce(name, data, rng):
    shp = shape(data, min_side=1)
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shp), len(shp) - 1))) if shp else None
    keepdims = data.draw(st.booleans())
    fn = np.argmax if name == "argmax" else np.argmin
    x = distinct(rng, shp)

    def ref(x):
        if axis is None:
            r = np.asarray(fn(x), np.int64)
            return np.full((1,) * x.ndim, r) if keepdims else r
        return fn(x, axis=axis, keepdims=keepdims).astype(np.int64)
    return Example([x], {"axis": axis, "keepdims": keepdims}, ref)


@case("norm")
def _norm(name, data, rng):
    p = data.draw(st.sampled_from([2.0, 1.0, math.inf, -math.inf, 0.0, 3.0, 0.5]))
    shp = shape(data, min_side=1 if p == -math.inf else 0)
    axes, keepdims = draw_axes(data, len(shp)), data.draw(st.booleans())
    ax = norm_axes(axes, len(shp))
    if p == math.inf and any(shp[k] == 0 for k in ax):
        shp = tuple(max(d, 1) for d in shp)  # NumPy's max has no identity; norm(inf) of nothing is 0 anyway
    return Example([distinct(rng, shp)], {"p": p, "axes": axes, "keepdims": keepdims},
                   lambda x: ref_norm(x, p, ax, keepdims), (0,))


@case("softmax", "log_softmax")
def _softmax(name, data, rng):
    shp = shape(data)
    nd = len(shp)
    axis = data.draw(st.sampled_from([0, -1])) if nd == 0 else signed(data, data.draw(st.integers(0, nd - 1)), nd)
    a = axis % nd if nd else 0
    ref = ref_softmax if name == "softmax" else ref_log_softmax
    return Example([smooth(rng, shp)], {"axis": axis}, lambda x: ref(x, a), (0,))


# structural ops --------------------------------------------------------------------------------
@case("transpose")
def _transpose(name, data, rng):
    shp = shape(data)
    perm = data.draw(st.one_of(st.none(), st.permutations(range(len(shp)))))
    attrs = {"perm": None if perm is None else tuple(signed(data, a, len(shp)) for a in perm)}
    return Example([smooth(rng, shp)], attrs, lambda x: anp.transpose(x, None if perm is None else tuple(perm)),
                   (0,))


@case("reshape")
def _reshape(name, data, rng):
    shp = shape(data)
    dims = list(data.draw(st.permutations(shp))) if shp else []
    if len(dims) >= 2 and data.draw(st.booleans()):
        dims[:2] = [dims[0] * dims[1]]
    dims[data.draw(st.integers(0, len(dims))):0] = [1] * data.draw(st.integers(0, 1))
    if dims and 0 not in dims and data.draw(st.booleans()):
        dims[data.draw(st.integers(0, len(dims) - 1))] = -1
    target = tuple(dims)
    return Example([smooth(rng, shp)], {"shape": target}, lambda x: anp.reshape(x, target), (0,))


@case("broadcast_to")
def _broadcast_to(name, data, rng):
    target = shape(data)
    tail = target[data.draw(st.integers(0, len(target))):]
    shp = tuple(1 if data.draw(st.booleans()) else d for d in tail)
    return Example([smooth(rng, shp)], {"shape": target}, lambda x: ref_broadcast_to(x, target), (0,))


@case("sum_to")
def _sum_to(name, data, rng):
    big = shape(data)
    tail = big[data.draw(st.integers(0, len(big))):]
    target = tuple(1 if data.draw(st.booleans()) else d for d in tail)
    return Example([smooth(rng, big)], {"shape": target}, lambda x: ref_sum_to(x, target), (0,))


@case("squeeze")
def _squeeze(name, data, rng):
    shp = shape(data, max_side=2)
    axes = data.draw(st.one_of(st.none(), st.lists(st.integers(0, max(len(shp) - 1, 0)), unique=True,
                                                   max_size=len(shp)).map(tuple)))
    if axes is None:
        drop = tuple(k for k, d in enumerate(shp) if d == 1)
    else:
        drop = tuple(k for k in axes if shp[k] == 1)  # PyTorch ignores axes whose size is not 1
        axes = tuple(signed(data, a, len(shp)) for a in axes)
    return Example([smooth(rng, shp)], {"axes": axes}, lambda x: anp.squeeze(x, axis=drop), (0,))


@case("unsqueeze")
def _unsqueeze(name, data, rng):
    shp = shape(data)
    a = data.draw(st.integers(0, len(shp)))
    return Example([smooth(rng, shp)], {"axis": signed(data, a, len(shp) + 1)},
                   lambda x: anp.expand_dims(x, a), (0,))


@case("concat", "stack")
def _join(name, data, rng):
    base = shape(data, min_dims=1 if name == "concat" else 0, max_side=3)
    n = data.draw(st.integers(1, 3))
    nd = len(base) + (name == "stack")
    a = data.draw(st.integers(0, nd - 1))
    shapes_ = [base[:a] + (data.draw(st.integers(0, 3)),) + base[a + 1:] if name == "concat" else base
               for _ in range(n)]
    inputs = [smooth(rng, s) for s in shapes_]
    fn = anp.concatenate if name == "concat" else anp.stack
    return Example(inputs, {"axis": signed(data, a, nd)}, lambda *xs: fn(list(xs), axis=a), tuple(range(n)))


@case("slice")
def _slice(name, data, rng):
    shp = shape(data)
    starts, stops, steps = draw_slice(data, shp)
    sl = slices(starts, stops, steps)
    return Example([smooth(rng, shp)], {"starts": starts, "stops": stops, "steps": steps}, lambda x: x[sl], (0,))


@case("unslice")
def _unslice(name, data, rng):
    full = shape(data)
    starts, stops, steps = draw_slice(data, full)
    g = smooth(rng, np.zeros(full)[slices(starts, stops, steps)].shape)
    attrs = {"shape": full, "starts": starts, "stops": stops, "steps": steps}
    return Example([g], attrs, lambda g: ref_unslice(g, full, starts, stops, steps), (0,))


def _index_shape(data):
    # min_dims=1: 0-d indices hit a kernels.py bug (see test_take_with_0d_indices).
    return shape(data, min_dims=1, max_dims=2, max_side=3)


def _indices(data, rng, size, shp):
    dtype = data.draw(st.sampled_from([np.int64, np.int32]))
    return rng.integers(-size, size, shp).astype(dtype)  # negative indices wrap; duplicates accumulate


@case("take")
def _take(name, data, rng):
    shp = shape(data, min_dims=1, min_side=1, max_side=3)
    a = data.draw(st.integers(0, len(shp) - 1))
    idx = _indices(data, rng, shp[a], _index_shape(data))
    return Example([smooth(rng, shp), idx], {"axis": signed(data, a, len(shp))},
                   lambda x, i: x[(slice(None),) * a + (i,)], (0,))


@case("scatter_add")
def _scatter_add(name, data, rng):
    base = shape(data, min_dims=1, min_side=1, max_side=3)
    a = data.draw(st.integers(0, len(base) - 1))
    idx = _indices(data, rng, base[a], _index_shape(data))
    g = smooth(rng, base[:a] + idx.shape + base[a + 1:])
    return Example([g, idx], {"axis": signed(data, a, len(base)), "size": base[a]},
                   lambda g, i: ref_scatter_add(g, i, a, base[a]), (0,))


@case("gather")
def _gather(name, data, rng):
    shp = shape(data, min_dims=1, min_side=1, max_side=3)
    a = data.draw(st.integers(0, len(shp) - 1))
    ishape = shp[:a] + (data.draw(st.integers(0, 3)),) + shp[a + 1:]
    return Example([smooth(rng, shp), _indices(data, rng, shp[a], ishape)], {"axis": signed(data, a, len(shp))},
                   lambda x, i: ref_gather(x, i, a), (0,))


@case("gather_add")
def _gather_add(name, data, rng):
    full = shape(data, min_dims=1, min_side=1, max_side=3)
    a = data.draw(st.integers(0, len(full) - 1))
    ishape = full[:a] + (data.draw(st.integers(0, 3)),) + full[a + 1:]
    idx = _indices(data, rng, full[a], ishape)
    return Example([smooth(rng, ishape), idx], {"axis": signed(data, a, len(full)), "shape": full},
                   lambda g, i: ref_gather_add(g, i, a, full), (0,))


@case("dot")
def _dot(name, data, rng):
    n = data.draw(st.integers(0, 4))
    return Example([smooth(rng, (n,)), smooth(rng, (n,))], {}, anp.dot, (0, 1))


@case("matmul")
def _matmul(name, data, rng):
    n, k, m = (data.draw(st.integers(0 if i == 1 else 1, 3)) for i in range(3))
    kind = data.draw(st.sampled_from(["vv", "vm", "mv", "mm"]))
    bx, by = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3)).input_shapes
    sx = (k,) if kind[0] == "v" else bx + (n, k)
    sy = (k,) if kind[1] == "v" else by + (k, m)
    return Example([smooth(rng, sx), smooth(rng, sy)], {}, anp.matmul, (0, 1))


@case("slice_scatter")
def _slice_scatter(name, data, rng):
    full = shape(data)
    starts, stops, steps = draw_slice(data, full)
    part = np.zeros(full)[slices(starts, stops, steps)].shape
    hole = 1.0 - ref_unslice(np.ones(part), full, starts, stops, steps)
    attrs = {"starts": starts, "stops": stops, "steps": steps}
    return Example([smooth(rng, full), smooth(rng, part)], attrs,
                   lambda b, s: b * hole + ref_unslice(s, full, starts, stops, steps), (0, 1))


def _draw_diagonal(data, min_dims=2):
    shp = shape(data, min_dims=min_dims, max_dims=3, max_side=4)
    a1, a2 = data.draw(st.permutations(range(len(shp))))[:2]
    offset = data.draw(st.integers(-3, 3))
    return shp, {"offset": offset, "axis1": signed(data, a1, len(shp)), "axis2": signed(data, a2, len(shp))}, a1, a2


def _diagonal_plane(shp, offset, a1, a2):
    """One-hot planes E[k] marking the k-th diagonal cell, with the permutation moving (a1, a2) last."""
    n = min(shp[a1], shp[a2] - offset) if offset >= 0 else min(shp[a1] + offset, shp[a2])
    n = max(n, 0)
    e = np.zeros((n, shp[a1], shp[a2]))
    e[np.arange(n), np.arange(n) + max(-offset, 0), np.arange(n) + max(offset, 0)] = 1.0
    rest = [k for k in range(len(shp)) if k not in (a1, a2)]
    perm = rest + [a1, a2]
    return e, tuple(perm), tuple(int(i) for i in np.argsort(perm)), n


@case("diagonal")
def _diagonal(name, data, rng):
    shp, attrs, a1, a2 = _draw_diagonal(data)
    e, perm, _, _ = _diagonal_plane(shp, attrs["offset"], a1, a2)
    return Example([smooth(rng, shp)], attrs, lambda x: anp.einsum("...ij,kij->...k", anp.transpose(x, perm), e),
                   (0,))


@case("diagonal_scatter")
def _diagonal_scatter(name, data, rng):
    shp, attrs, a1, a2 = _draw_diagonal(data)
    e, _, back, n = _diagonal_plane(shp, attrs["offset"], a1, a2)
    rest = tuple(d for k, d in enumerate(shp) if k not in (a1, a2))

    def embed(s):
        return anp.transpose(anp.einsum("...k,kij->...ij", s, e), back)

    hole = 1.0 - embed(np.ones(rest + (n,)))
    return Example([smooth(rng, shp), smooth(rng, rest + (n,))], attrs, lambda b, s: b * hole + embed(s), (0, 1))


@case("put")
def _put(name, data, rng):
    shp = shape(data, max_side=3)
    bd = data.draw(st.integers(0, min(1, len(shp))))
    pre, size = math.prod(shp[:bd]), math.prod(shp[bd:])
    k = data.draw(st.integers(0, size))
    flat = rng.choice(size, k, replace=False) if size else np.zeros(0, np.int64)
    idx = np.where(rng.random(k) < 0.3, flat - size, flat).astype(data.draw(st.sampled_from([np.int64, np.int32])))
    sel = np.zeros((size, k))
    sel[flat, np.arange(k)] = 1.0
    keep = (1.0 - sel.sum(axis=1)).reshape(shp[bd:])

    def ref(x, i, v):
        return x * keep + anp.reshape(anp.einsum("pk,nk->pn", anp.reshape(v, (pre, k)), sel), shp)

    return Example([smooth(rng, shp), idx, smooth(rng, shp[:bd] + (k,))], {"batch_dims": bd}, ref, (0, 2))


@case("with_value")
def _with_value(name, data, rng):
    shp = shape(data)
    other = smooth(rng, shp)
    # The oracle: the value is `other`'s, the derivative is the identity in the history input.
    return Example([smooth(rng, shp), other], {}, lambda h, v: v, (0,), grad_ref=lambda h, v: h)


# Each op family's cases live in op_cases_<family>.py beside this file; importing one registers its cases.
import importlib  # noqa: E402
import pathlib  # noqa: E402

for _path in sorted(pathlib.Path(__file__).parent.glob("op_cases_*.py")):
    importlib.import_module(_path.stem)

# A refusal registered for an int or float dtype holds for every width of that kind (PyTorch's kernels are
# dispatched by kind): extend the case modules' entries to uint8/int8/int16 and float16.
for (_op, _dt), _why in list(REFUSED.items()):
    for _other in {"int32": ("uint8", "int8", "int16"), "int64": ("uint8", "int8", "int16"),
                   "float32": ("float16",), "float64": ("float16",)}.get(_dt, ()):
        REFUSED.setdefault((_op, _other), _why)
