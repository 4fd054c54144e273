"""Signatures of the scatters along a dim (scatter, scatter_reduce); gather, take and put are in structural.py."""
from __future__ import annotations

from . import shapes
from .signature import Attr, Aval, defsig
from .structural import _index_check, _same_dtype

# scatter, scatter_reduce ------------------------------------------------------------------------
REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def _scatter_shape(avals, attrs):
    base, idx, src = avals
    _index_check(avals)
    _same_dtype((base, src), "scatter")
    if idx.shape != src.shape or idx.ndim != base.ndim:
        raise ValueError(f"scatter: index {list(idx.shape)} and src {list(src.shape)} must have one shape, with "
                         f"the base's rank {base.ndim}")
    a = attrs["axis"] = shapes.axis(attrs["axis"], base.ndim)
    if any(i > d for k, (i, d) in enumerate(zip(idx.shape, base.shape)) if k != a):
        raise RuntimeError(f"scatter: index {list(idx.shape)} is larger than the base {list(base.shape)} apart "
                           f"from dimension {a}")
    if "reduce" in attrs and attrs["reduce"] not in REDUCTIONS:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {attrs['reduce']}")
    return Aval(base.shape, base.dtype)


defsig("scatter", inputs=3, attrs={"axis": Attr("int", doc="the dim written")}, shape=_scatter_shape,
       doc="the base with base[..., index[i], ...] = src[i] along axis (index and src of one shape; with repeated "
           "indices one of the writes wins)")
defsig("scatter_reduce", inputs=3, attrs={"axis": Attr("int", doc="the dim written"),
                                          "reduce": Attr("string", doc="sum, prod, mean, amax or amin"),
                                          "include_self": Attr("bool", True, "whether the base's value takes "
                                                                             "part")},
       shape=_scatter_shape, doc="the base with src reduced into it at index along axis (torch.scatter_reduce)")

