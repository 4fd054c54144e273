"""Op-table cases of the elementwise ops added beside the first table (see op_table.py for the fields)."""
from __future__ import annotations

import autograd.numpy as anp

from op_table import REFUSED, Example, case, shape, smooth, two_shapes

# "…" not implemented for 'Long': PyTorch has no integer kernels for these.
REFUSED.update({(n, d): "not implemented for" for n in ("hypot", "lerp") for d in ("int32", "int64", "bool")})


@case("hypot")
def _hypot(name, data, rng):
    sx, sy = two_shapes(data)
    return Example([smooth(rng, sx) + 3.0, smooth(rng, sy) - 3.0], {}, lambda x, y: anp.sqrt(x * x + y * y), (0, 1))


@case("lerp")
def _lerp(name, data, rng):
    shp = shape(data)
    w = rng.uniform(-0.5, 1.5, shp)
    ref = lambda s, e, w: anp.where(w < 0.5, s + w * (e - s), e - (e - s) * (1.0 - w))  # noqa: E731
    return Example([smooth(rng, shp), smooth(rng, shp), w], {}, ref, (0, 1, 2))
