"""Signatures of reductions and normalizations over dims: sum, nansum, mean, prod, max, min, all, any, argmax,
argmin, norm, logsumexp, softmax, log_softmax."""
from __future__ import annotations

from . import shapes
from .dtypes import DTYPES, FLOATS, LEGACY_NAMES, NUMBERS
from .signature import Attr, Aval, defsig

AXES = {"axes": Attr("axes", None, "dims to reduce; none = all"),
        "keepdims": Attr("bool", False, "keep reduced dims with size 1")}
AXIS = {"axis": Attr("int", -1, "the dim to normalize over")}


def _reduce_shape(dtype_rule, empty_error=None):
    def rule(avals, attrs):
        (x,) = avals
        dtype = dtype_rule(x.dtype)               # PyTorch refuses a dtype before it looks at the dims
        every = attrs["axes"] is None
        ax = attrs["axes"] = shapes.axes(attrs["axes"], x.ndim)
        if empty_error and any(x.shape[k] == 0 for k in ax):
            raise (RuntimeError if every else IndexError)(empty_error(x, ax, every))
        return Aval(shapes.reduced(x.shape, ax, attrs["keepdims"]), dtype)
    return rule


def _int64_sum(d):
    return d if d in FLOATS else "int64"


def _mean_dtype(d):
    if d not in FLOATS:
        raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either a floating point "
                           f"or complex dtype. Got: {LEGACY_NAMES[d]}")
    return d


def _no_identity(name):
    def message(x, ax, every):
        if every:
            return (f"{name}(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
                    f"reduction dim with the 'dim' argument.")
        k = next(k for k in ax if x.shape[k] == 0)
        return f"{name}(): Expected reduction dim {k} to have non-zero size."
    return message


def _reduction(name, dtype_rule, *, dtypes=DTYPES, nonempty=False,
               doc=""):
    defsig(name, inputs=1, attrs=dict(AXES), dtypes=dtypes, doc=doc,
           shape=_reduce_shape(dtype_rule, _no_identity(name) if nonempty else None))


_reduction("sum", _int64_sum, doc="sum over dims (ints and bools sum in int64)")
_reduction("mean", _mean_dtype, doc="mean over dims (floating point only, as in PyTorch)")
_reduction("prod", _int64_sum, doc="product over dims; exact zeros are handled in its gradient")
_reduction("max", lambda d: d, nonempty=True, doc="largest value over dims; ties share the gradient")
_reduction("min", lambda d: d, nonempty=True, doc="smallest value over dims; ties share the gradient")
# PyTorch keeps uint8 for all/any of a uint8 tensor (a legacy of byte masks); every other dtype gives bool.
_reduction("all", lambda d: "uint8" if d == "uint8" else "bool", doc="whether every element is nonzero")
_reduction("any", lambda d: "uint8" if d == "uint8" else "bool", doc="whether any element is nonzero")
_reduction("nansum", _int64_sum, doc="sum over dims counting NaN as 0; its gradient is g * (x == x), as PyTorch's")


def _arg_shape(name):
    def rule(avals, attrs):
        (x,) = avals
        if attrs["axis"] is None:
            if x.size == 0:
                raise IndexError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0.")
            return Aval((1,) * x.ndim if attrs["keepdims"] else (), "int64")
        a = attrs["axis"] = shapes.axis(attrs["axis"], x.ndim)
        if x.ndim and x.shape[a] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {a} to have non-zero size.")
        return Aval(shapes.reduced(x.shape, (a,) if x.ndim else (), attrs["keepdims"]), "int64")
    return rule


for _name in ("argmax", "argmin"):
    defsig(_name, inputs=1, attrs={"axis": Attr("optint", None, "the dim; none = over all elements"),
                                  "keepdims": Attr("bool", False, "keep the reduced dim with size 1")},
           shape=_arg_shape(_name), dtypes=NUMBERS + ("bool",),
           doc=f"index of the first {'largest' if _name == 'argmax' else 'smallest'} element along a dim "
               f"(int64, no gradient)")


def _float_reduce_shape(name):
    inner = _reduce_shape(lambda d: d)

    def rule(avals, attrs):
        if avals[0].dtype not in FLOATS:
            raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. "
                               f"Got {LEGACY_NAMES[avals[0].dtype]}")
        return inner(avals, attrs)
    return rule


defsig("norm", inputs=1, attrs={"p": Attr("float", 2.0, "order: 2, 1, inf, -inf, 0 or any p"), **AXES},
       shape=_float_reduce_shape("linalg.vector_norm"), dtypes=DTYPES,
       doc="vector p-norm over dims; gradient 0 at the origin as in PyTorch")
defsig("logsumexp", inputs=1, attrs=dict(AXES), shape=_float_reduce_shape("logsumexp"),
       dtypes=DTYPES, doc="log(sum(exp(x))) over dims, computed stably")


def _axis_shape(name):
    def rule(avals, attrs):
        (x,) = avals
        a = attrs["axis"] = shapes.axis(attrs["axis"], x.ndim)
        if x.dtype not in FLOATS:
            kernel = f"{name}_lastdim_kernel_impl" if a == x.ndim - 1 else f"{name}_kernel_impl"
            raise NotImplementedError(f"\"{kernel}\" not implemented for '{LEGACY_NAMES[x.dtype]}'")
        return Aval(x.shape, x.dtype)
    return rule


defsig("softmax", inputs=1, attrs=dict(AXIS), shape=_axis_shape("softmax"),
       dtypes=DTYPES, doc="exp(x) / sum(exp(x)) along a dim, computed stably")
defsig("log_softmax", inputs=1, attrs=dict(AXIS), shape=_axis_shape("log_softmax"),
       dtypes=DTYPES, doc="x - logsumexp(x) along a dim")
