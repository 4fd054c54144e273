"""Op-table cases of the primitives behind gradwire.nn.functional."""
from __future__ import annotations

import autograd.numpy as anp

from op_table import REFUSED, Example, case, shape


@case("binary_cross_entropy")
def _bce(name, data, rng):
    shp = shape(data)
    ref = lambda x, t: -(t * anp.log(x) + (1 - t) * anp.log(1 - x))  # noqa: E731  (inside (0, 1): no clamps)
    return Example([rng.uniform(0.1, 0.9, shp), rng.uniform(0.0, 1.0, shp)], {}, ref, (0, 1))


REFUSED.update({("binary_cross_entropy", d): "not implemented for" for d in ("int32", "int64", "bool")})
