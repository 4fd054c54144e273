"""Op-table entries of the creation/dtypes family: the refusals the narrow dtypes add (and, later, its ops)."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from op_table import REFUSED, Example, case, shape, smooth

# PyTorch has no integer kernels for hypot and lerp: "hypot_cpu" not implemented for 'Byte' ...
REFUSED.update({(n, d): "not implemented for" for n in ("hypot", "lerp") for d in ("uint8", "int8", "int16")})


@case("bitcast")
def _bitcast(name, data, rng):
    """The bytes of x read as another dtype; float32 <-> int32/int16/float16/uint8 (no gradient)."""
    dtype = data.draw(st.sampled_from(["int32", "float32", "int16", "float16", "uint8", "int8"]))
    shp = (*shape(data), 4)
    x = smooth(rng, shp).astype(np.float32)
    return Example([x], {"dtype": dtype}, lambda x: np.ascontiguousarray(x).view(dtype), ())
