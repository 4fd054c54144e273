"""Op-table cases of the shape and indexing ops added beside the first table (see op_table.py for the fields)."""
from __future__ import annotations

import autograd.numpy as anp
import hypothesis.strategies as st
import numpy as np

from op_table import Example, case, distinct, shape, signed, smooth


@case("flip")
def _flip(name, data, rng):
    shp = shape(data)
    dims = data.draw(st.sets(st.integers(0, max(len(shp) - 1, 0)), max_size=len(shp) or 1))
    attrs = {"dims": tuple(signed(data, d, len(shp)) for d in dims)}

    def ref(x):
        return x[tuple(slice(None, None, -1) if k in dims else slice(None) for k in range(len(shp)))]
    return Example([smooth(rng, shp)], attrs, ref, (0,))


@case("roll")
def _roll(name, data, rng):
    shp = shape(data, min_dims=1)
    dims = data.draw(st.lists(st.integers(0, len(shp) - 1), max_size=3))
    shifts = [data.draw(st.integers(-5, 5)) for _ in dims]

    def ref(x):
        for s, d in zip(shifts, dims):
            x = anp.roll(x, s, d)
        return x
    return Example([smooth(rng, shp)], {"shifts": tuple(shifts), "dims": tuple(signed(data, d, len(shp))
                                                                                for d in dims)}, ref, (0,))


@case("tril", "triu")
def _triangle(name, data, rng):
    shp = shape(data, min_dims=2)
    k = data.draw(st.integers(-4, 4))
    mask = (np.tril if name == "tril" else np.triu)(np.ones(shp[-2:]), k)
    return Example([smooth(rng, shp)], {"diagonal": k}, lambda x: x * mask, (0,))


@case("repeat")
def _repeat(name, data, rng):
    shp = shape(data, max_dims=2, max_side=3)
    reps = tuple(data.draw(st.lists(st.integers(0, 3), min_size=len(shp), max_size=len(shp) + 1)))
    full = (1,) * (len(reps) - len(shp)) + shp
    picks = np.ix_(*[np.arange(r * d) % max(d, 1) for r, d in zip(reps, full)])
    return Example([smooth(rng, shp)], {"repeats": reps}, lambda x: anp.reshape(x, full)[picks], (0,))


@case("diag_embed")
def _diag_embed(name, data, rng):
    shp = shape(data, min_dims=1, max_dims=2, max_side=3)
    off = data.draw(st.integers(-2, 2))
    n = shp[-1] + abs(off)
    d1, d2 = data.draw(st.permutations(range(len(shp) + 1)))[:2]
    eye = np.eye(n, n, off)[:shp[-1] and None]   # placement of entry k: row k - min(off, 0), column k + max(off, 0)
    place = np.zeros((shp[-1], n, n))
    for k in range(shp[-1]):
        place[k, k + max(-off, 0), k + max(off, 0)] = 1.0
    del eye

    def ref(x):
        planes = anp.einsum("...k,kij->...ij", x, place)     # x.shape[:-1] + (n, n)
        rest = [k for k in range(len(shp) + 1) if k not in (d1, d2)]
        order = rest + [d1, d2]
        return anp.transpose(planes, tuple(int(i) for i in np.argsort(order)))
    return Example([smooth(rng, shp)], {"offset": off, "dim1": signed(data, d1, len(shp) + 1),
                                        "dim2": signed(data, d2, len(shp) + 1)}, ref, (0,))


@case("unfold")
def _unfold(name, data, rng):
    shp = shape(data, min_dims=1, max_side=5)
    d = data.draw(st.integers(0, len(shp) - 1))
    size = data.draw(st.integers(0, shp[d]))
    step = data.draw(st.integers(1, 3))
    starts = range(0, shp[d] - size + 1, step)

    def ref(x):
        wins = [anp.moveaxis(x[(slice(None),) * d + (slice(s, s + size),)], d, -1) for s in starts]
        return anp.stack(wins, axis=d)
    return Example([smooth(rng, shp)], {"dimension": signed(data, d, len(shp)), "size": size, "step": step}, ref,
                   (0,))


# scatter, scatter_reduce: indices of src's shape; refs built from one mask per source slab --------------
def _scatter_draw(data, rng, distinct_rows):
    shp = shape(data, min_dims=1, min_side=1, max_side=3)
    a = data.draw(st.integers(0, len(shp) - 1))
    m = data.draw(st.integers(0, shp[a] if distinct_rows else 4))
    ishape = shp[:a] + (m,) + shp[a + 1:]
    if distinct_rows:   # each position written at most once: scatter's result is then well defined
        idx = np.argsort(rng.random(shp), axis=a)[(slice(None),) * a + (slice(0, m),)]
    else:
        idx = rng.integers(0, shp[a], ishape)
    return shp, a, idx.astype(data.draw(st.sampled_from([np.int64, np.int32])))


def _slabs(shp, a, idx):
    """For each j along axis: the mask of the positions source slab j writes (shp), as floats."""
    out = []
    for j in range(idx.shape[a]):
        ij = np.take(idx, [j], axis=a)
        out.append((np.arange(shp[a]).reshape((-1,) + (1,) * (len(shp) - a - 1)) == ij).astype(float))
    return out


@case("scatter")
def _scatter(name, data, rng):
    shp, a, idx = _scatter_draw(data, rng, True)
    masks = _slabs(shp, a, idx)
    hit = sum(masks, np.zeros(shp))

    def ref(base, _, src):
        placed = sum((mk * src[(slice(None),) * a + (slice(j, j + 1),)] for j, mk in enumerate(masks)), np.zeros(shp))
        return base * (1.0 - hit) + placed
    return Example([smooth(rng, shp), idx, smooth(rng, idx.shape)], {"axis": signed(data, a, len(shp))}, ref,
                   (0, 2))


@case("scatter_reduce")
def _scatter_reduce(name, data, rng):
    shp, a, idx = _scatter_draw(data, rng, False)
    reduce = data.draw(st.sampled_from(["sum", "prod", "mean", "amax", "amin"]))
    inc = data.draw(st.booleans())
    masks = _slabs(shp, a, idx)
    count = sum(masks, np.zeros(shp))
    hit = count > 0
    base = smooth(rng, shp) if reduce not in ("amax", "amin") else distinct(rng, shp)
    src = smooth(rng, idx.shape) if reduce not in ("amax", "amin") else distinct(rng, idx.shape) + 0.05

    def ref(base, _, src):
        slabs = [src[(slice(None),) * a + (slice(j, j + 1),)] for j in range(idx.shape[a])]
        if reduce in ("sum", "mean"):
            total = sum((mk * s for mk, s in zip(masks, slabs)), np.zeros(shp)) + (base if inc else 0.0)
            if reduce == "mean":
                total = total / anp.maximum(count + inc, 1)
        elif reduce == "prod":
            total = base if inc else np.ones(shp)
            for mk, s in zip(masks, slabs):
                total = total * (1.0 + mk * (s - 1.0))
        else:
            sign = 1.0 if reduce == "amax" else -1.0
            far = -1e6
            cands = [base * sign if inc else base * 0.0 + far]
            cands += [anp.where(mk > 0, s * sign, far) for mk, s in zip(masks, slabs)]
            total = anp.max(anp.stack(cands), axis=0) * sign
        return anp.where(hit, total, base)
    return Example([base, idx, src], {"axis": signed(data, a, len(shp)), "reduce": reduce, "include_self": inc},
                   ref, (0, 2), smooth2=reduce in ("sum", "mean", "prod"))
