"""Signatures of scans along a dim (cumsum, cumprod, logcumsumexp, the indices of cummax/cummin) and of the
order statistics (sort order, the median and mode indices, the median of all elements). Values the client
returns beside indices are `gather`s of the input at them, so their gradient goes to the chosen elements."""
from __future__ import annotations

from . import shapes
from .dtypes import FLOATS
from .elementwise import not_implemented
from .signature import Attr, Aval, defsig

AXIS = {"axis": Attr("int", doc="the dim")}
LAST = {"axis": Attr("int", -1, "the dim (the last by default)")}


def _int64_sum(d):
    return d if d in FLOATS else "int64"


def _scan_shape(dtype_rule, kernel=None, scalar_name=None):
    def rule(avals, attrs):
        (x,) = avals
        if scalar_name and x.ndim == 0 and attrs["axis"] not in (0, -1):
            raise IndexError(f"{scalar_name}(): Expected reduction dim -1 or 0 for scalar but got {attrs['axis']}")
        attrs["axis"] = shapes.axis(attrs["axis"], x.ndim)
        if kernel and x.dtype not in FLOATS:
            raise not_implemented(kernel, x.dtype)
        return Aval(x.shape, dtype_rule(x.dtype))
    return rule


defsig("cumsum", inputs=1, attrs=dict(AXIS), shape=_scan_shape(_int64_sum),
       doc="running sum along a dim, accumulated in float64 as PyTorch's CPU kernel (ints and bools in int64)")
defsig("cumprod", inputs=1, attrs=dict(AXIS), shape=_scan_shape(_int64_sum),
       doc="running product along a dim; the gradient is exact where inputs are zero, as PyTorch's")
defsig("logcumsumexp", inputs=1, attrs=dict(AXIS), shape=_scan_shape(lambda d: d, "logcumsumexp_out_cpu"),
       doc="log(cumsum(exp(x))) along a dim, computed stably (gradient by PyTorch's signed log-space formula)")
for _name, _what in (("cummax_indices", "largest"), ("cummin_indices", "smallest")):
    defsig(_name, inputs=1, attrs=dict(LAST), shape=_scan_shape(lambda d: "int64", None, _name[:6]),
           doc=f"index of the running {_what} value along a dim (the latest of ties; NaN wins), int64, "
               f"no gradient")


def _argsort_shape(avals, attrs):
    (x,) = avals
    attrs["axis"] = shapes.axis(attrs["axis"], x.ndim)
    return Aval(x.shape, "int64")


defsig("argsort", inputs=1, attrs={**LAST, "descending": Attr("bool", False, "largest first")},
       shape=_argsort_shape,
       doc="the stable sort order along a dim (NaN largest; ties keep their order either way), int64, no gradient")


def _nonempty(name, x, a):
    if x.ndim and x.shape[a] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {a} to have non-zero size.")


def _index_shape(name, kernel, dtypes):
    def rule(avals, attrs):
        (x,) = avals
        a = attrs["axis"] = shapes.axis(attrs["axis"], x.ndim)
        _nonempty(name, x, a)
        if x.dtype not in dtypes:
            raise not_implemented(kernel, x.dtype)
        return Aval(shapes.reduced(x.shape, (a,) if x.ndim else (), True), "int64")
    return rule


defsig("median_index", inputs=1, attrs={**LAST, "ignore_nan": Attr("bool", False, "nanmedian: skip NaNs")},
       shape=_index_shape("median", "median_out", FLOATS + ("int32", "int64")),
       doc="index of the lower median along a dim, kept as a size-1 dim (the first NaN where one is and NaNs "
           "count), int64, no gradient")
defsig("mode_index", inputs=1, attrs=dict(LAST), shape=_index_shape("mode", "mode", FLOATS + ("int32", "int64",
                                                                                            "bool")),
       doc="index of the last occurrence of the most frequent value (the smallest of equally frequent ones) "
           "along a dim, kept as a size-1 dim, int64, no gradient")


def _median_shape(avals, attrs):
    (x,) = avals
    if x.dtype == "bool" and x.size:      # (an empty bool median is NaN cast: True, as PyTorch gives)
        raise not_implemented("median_cpu", x.dtype)
    return Aval((), x.dtype)


defsig("median", inputs=1, attrs={"ignore_nan": Attr("bool", False, "nanmedian: skip NaNs")},
       shape=_median_shape, dtypes=FLOATS + ("int32", "int64", "bool"),
       doc="lower median of all elements (NaN if any is NaN, unless ignore_nan; NaN when none is left); the "
           "gradient is shared evenly by the elements equal to it, as PyTorch's")
