"""Declarations of PyTorch's reductions (torch.f and Tensor.f; `axis=`/`keepdims=` accepted as PyTorch does), and
the helpers its families share: named result tuples, values gathered at indices. Scans are in api_scans; sorting,
order statistics and unique in api_sorting."""
from __future__ import annotations

import builtins   # the module defines sum, max and min
import numbers

from gradwire import dtypes, ops
from gradwire._grad_mode import is_grad_enabled
from gradwire._user_frame import warn as user_warning
from gradwire.core import shapes
from gradwire.core.dtypes import FLOATS, LEGACY_NAMES
from gradwire.declare import autograd, declare
from gradwire.ops import apply



class ReturnType(tuple):
    """A tuple with named fields, printed like torch.return_types.<kind> (subclasses set _kind, _fields)."""

    _kind, _fields = "", ()

    def __new__(cls, *values):
        return super().__new__(cls, values)

    def __repr__(self) -> str:
        body = ",\n".join(f"{f}={v!r}" for f, v in zip(self._fields, self))
        return f"torch.return_types.{self._kind}(\n{body})"


def return_type(kind: str, fields=("values", "indices")) -> type:
    cls = type(kind, (ReturnType,), {"_kind": kind, "_fields": tuple(fields), "__module__": "torch.return_types"})
    for k, f in enumerate(fields):
        setattr(cls, f, property(lambda self, k=k: self[k]))
    return cls


def _axes(dim):
    if dim is None:
        return None
    return (int(dim),) if isinstance(dim, numbers.Integral) else tuple(int(d) for d in dim)


def _all_if_empty(dim):
    """dim=() reduces every dim, as dim=None does (PyTorch's reading of an empty dim list)."""
    return None if dim is not None and not isinstance(dim, numbers.Integral) and len(tuple(dim)) == 0 else dim


def with_dtype(input, dtype):
    """The input cast to `dtype=` first, as PyTorch's reductions and scans compute in it."""
    if dtype is None:
        return input
    name = dtypes.as_dtype(dtype).name
    if name not in FLOATS and input.requires_grad and is_grad_enabled():
        raise RuntimeError(f"Autograd not support dtype: {LEGACY_NAMES[name]}")
    return ops.cast(input, name)


def in_dtype(out, dtype):
    """A result computed in dtype= has that dtype (PyTorch's int32 sums stay int32 when asked for)."""
    return out if dtype is None else ops.cast(out, dtype)


def _float_dtype(name, dtype):
    if dtype is not None and dtypes.as_dtype(dtype).name not in FLOATS:
        raise RuntimeError(f"{name}(): could not infer output dtype. Optional dtype must be either a floating "
                           f"point or complex dtype. Got: {LEGACY_NAMES[dtypes.as_dtype(dtype).name]}")


# -- sum, mean, prod with dtype= ------------------------------------------------------------------
@declare()
def sum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum over dims (all by default); ints and bools sum in int64 unless dtype= says otherwise, as torch.sum."""
    return in_dtype(ops.sum(with_dtype(input, dtype), _all_if_empty(dim), keepdim), dtype)


@declare()
def mean(input, dim=None, keepdim=False, *, dtype=None):
    """Mean over dims, of floating point input or in a floating dtype=, as torch.mean."""
    _float_dtype("mean", dtype)
    return ops.mean(with_dtype(input, dtype), _all_if_empty(dim), keepdim)


@declare()
def prod(input, dim=None, keepdim=False, *, dtype=None):
    """Product over one dim or all; exact gradients where inputs are zero, as torch.prod."""
    if dim is not None and not isinstance(dim, numbers.Integral):
        raise TypeError(f"prod() received an invalid combination of arguments - got (Tensor, "
                        f"{type(dim).__name__}), but expected one of:\n * (Tensor input, *, torch.dtype dtype = None)\n"
                        f" * (Tensor input, int dim, bool keepdim = False, *, torch.dtype dtype = None)")
    x = with_dtype(input, dtype)
    return in_dtype(apply("prod", x, attrs={"axes": _axes(dim), "keepdims": bool(keepdim)},
                           label="ProdBackward0" if dim is None else "ProdBackward1"), dtype)


declare("all", doc="Whether every element is true, as torch.all.")(ops.all)
declare("any", doc="Whether some element is true, as torch.any.")(ops.any)


def _nonempty(name, input, dim):
    """PyTorch's refusal to take the largest or smallest of nothing, in its words for `name` (amax and amin
    name the dim as given, max and min normalized)."""
    shape = tuple(input.shape)
    given = _axes(dim)
    for k, raw in zip(shapes.axes(given, len(shape)), sorted(given or (), key=lambda a: a % builtins.max(
            len(shape), 1))):
        if shape[k] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {raw if name.startswith('a') else k} to have "
                             f"non-zero size.")
    if dim is None and 0 in shape:
        raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                           f"Specify the reduction dim with the 'dim' argument.")


def _amax(which):
    def fn(input, dim=None, keepdim=False):
        dim = _all_if_empty(dim)
        _nonempty(f"a{which}", input, dim)
        return apply(which, input, attrs={"axes": _axes(dim), "keepdims": bool(keepdim)},
                     label=f"A{which}Backward0")
    fn.__name__ = f"a{which}"
    fn.__doc__ = f"The {'largest' if which == 'max' else 'smallest'} value over dims (all by default); ties share " \
                 f"the gradient evenly, as torch.a{which}."
    return fn


amax, amin = declare("amax")(_amax("max")), declare("amin")(_amax("min"))
_Max, _Min = return_type("max"), return_type("min")


def _extreme(which, input, dim, keepdim, other):
    """max(x) -> the largest value; max(x, other) -> elementwise; max(x, dim) -> (values, indices), the
    values' gradient going to the returned index only, as in PyTorch."""
    from gradwire.tensor import Tensor
    if isinstance(dim, Tensor) and other is None:
        dim, other = None, dim
    if other is not None:
        return apply("maximum" if which == "max" else "minimum", input, other)
    if dim is None:
        _nonempty(which, input, None)
        return apply(which, input, attrs={"axes": None, "keepdims": False})
    d = shapes.axis(int(dim), input.ndim)
    _nonempty(which, input, d)
    index = apply("arg" + which, input, attrs={"axis": d, "keepdims": True})
    label = f"{which.capitalize()}Backward0"
    values = gather_at(input, index, d, label)
    if not keepdim and input.ndim:
        values = apply("squeeze", values, attrs={"axes": (d,)}, label=label)
        index = apply("squeeze", index, attrs={"axes": (d,)})
    return (_Max if which == "max" else _Min)(values, index)


@declare(tensors=("input",))
def max(input, dim=None, keepdim=False, *, other=None):
    """max(x), max(x, dim) -> (values, indices), max(x, other), as torch.max."""
    return _extreme("max", input, dim, keepdim, other)


@declare(tensors=("input",))
def min(input, dim=None, keepdim=False, *, other=None):
    """min(x), min(x, dim) -> (values, indices), min(x, other), as torch.min."""
    return _extreme("min", input, dim, keepdim, other)


def _arg(which):
    def fn(input, dim=None, keepdim=False):
        if input._node.dtype == "bool":
            raise RuntimeError(f"arg{which}(): does not support bool input")
        return apply(f"arg{which}", input, attrs={"axis": None if dim is None else int(dim),
                                                  "keepdims": bool(keepdim)})
    fn.__name__ = f"arg{which}"
    fn.__doc__ = f"Index of the first {'largest' if which == 'max' else 'smallest'} value, as torch.arg{which}."
    return fn


argmax, argmin = declare("argmax")(_arg("max")), declare("argmin")(_arg("min"))


@declare()
def norm(input, p="fro", dim=None, keepdim=False):
    """Vector p-norm over dims (p=2, 'fro' by default), as torch.norm."""
    return ops.norm(input, p, _all_if_empty(dim), keepdim)


@declare()
def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(x))) over dims, computed stably (ints and bools in the default float), as torch.logsumexp."""
    x = input if input._node.dtype in FLOATS else ops.cast(input, "float32")
    return ops.logsumexp(x, dim, keepdim)


declare("softmax", doc="exp(x) / sum(exp(x)) along dim, as torch.softmax.")(ops.softmax)
declare("log_softmax", doc="log(softmax(x)) along dim, computed stably, as torch.log_softmax.")(ops.log_softmax)


# -- variance and standard deviation ---------------------------------------------------------------
def _var(input, dim, unbiased, keepdim, correction, label, fn):
    """Mean squared deviation, divided by max(0, n - correction) (correction 1 by default, like PyTorch's
    unbiased var): with no degrees of freedom left the result is inf or nan, as in PyTorch. Returns (var, the
    mean with its reduced dims kept, the result's shape)."""
    if input._node.dtype not in FLOATS:
        raise RuntimeError("std and var only support floating point and complex dtypes")
    if isinstance(dim, bool):                     # var(x, True): the `unbiased` overload
        dim, unbiased = None, dim
    dim = _all_if_empty(dim)
    correction = (1 if unbiased in (None, True) else 0) if correction is None else correction
    axes = _axes(dim)
    shape = tuple(input.shape)
    reduced = shapes.axes(axes, len(shape))
    n = 1
    for a in reduced:
        n *= shape[a]
    if n - correction <= 0:
        user_warning(f"{fn}(): degrees of freedom is <= 0. Correction should be strictly less than the reduction "
                     "factor (input numel divided by output numel).")
    m = ops.mean(input, dim, keepdim=True)
    centered = input - m
    total = apply("sum", centered * centered, attrs={"axes": axes, "keepdims": bool(keepdim)})
    return (apply("div", total, float(builtins.max(0, n - correction)), label=label), m,
            shapes.reduced(shape, reduced, bool(keepdim)))


@declare()
def var(input, dim=None, unbiased=True, keepdim=False, *, correction=None):
    """Variance with `correction` (Bessel's by default), as torch.var."""
    return _var(input, dim, unbiased, keepdim, correction, "VarBackward0", "var")[0]


@declare()
def std(input, dim=None, unbiased=True, keepdim=False, *, correction=None):
    """Standard deviation with `correction`, as torch.std."""
    return _sqrt(_var(input, dim, unbiased, keepdim, correction, "VarBackward0", "std")[0], "StdBackward0")


def _sqrt(v, label):
    """sqrt(var) whose gradient is 0 where var is 0 (PyTorch's std_backward masks it), not inf * 0."""
    zero = apply("eq", v, 0.0)
    root = apply("sqrt", apply("where", zero, 1.0, v, ref_args=(v,)))
    return apply("where", zero, 0.0, root, ref_args=(v,), label=label)


@declare(method=False)
def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(var, mean) over dims in one call (a plain tuple, as PyTorch's), as torch.var_mean."""
    v, m, shape = _var(input, dim, unbiased, keepdim, correction, "VarMeanBackward0", "var_mean")
    return v, apply("reshape", m, attrs={"shape": shape}, label="VarMeanBackward0")


@declare(method=False)
def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(std, mean) over dims in one call, as torch.std_mean."""
    v, m, shape = _var(input, dim, unbiased, keepdim, correction, None, "std_mean")
    return _sqrt(v, "StdMeanBackward0"), apply("reshape", m, attrs={"shape": shape},
                                                             label="StdMeanBackward0")


# -- NaN-skipping reductions, counts, aminmax ------------------------------------------------------
@declare()
def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum treating NaN as zero (their gradient is 0), as torch.nansum."""
    x, dim = with_dtype(input, dtype), _all_if_empty(dim)
    return in_dtype(apply("nansum", x, attrs={"axes": _axes(dim), "keepdims": bool(keepdim)}), dtype)


@declare()
def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """Mean of the non-NaN elements (nansum / their count, as PyTorch computes it), as torch.nanmean."""
    if input._node.dtype not in FLOATS:
        raise RuntimeError(f"nanmean(): expected input to have floating point or complex dtype but got "
                           f"{LEGACY_NAMES[input._node.dtype]}")
    _float_dtype("nanmean", dtype)
    dim = _all_if_empty(dim)
    count = ops.sum(apply("eq", input, input), dim, keepdim)
    return apply("div", nansum(input, dim, keepdim, dtype=dtype), count)


@declare()
def count_nonzero(input, dim=None):
    """How many elements are nonzero over dims (int64, no gradient), as torch.count_nonzero."""
    return ops.sum(apply("ne", input, 0), _all_if_empty(dim), False)


_Aminmax = return_type("aminmax", ("min", "max"))


@declare()
def aminmax(input, *, dim=None, keepdim=False):
    """(min, max) over one dim or all elements; ties share each gradient evenly, as torch.aminmax."""
    shape = tuple(input.shape)
    if dim is None:
        if 0 in shape:
            raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the operation has no "
                               "identity.")
    else:
        d = shapes.axis(int(dim), len(shape))
        if shape and shape[d] == 0:
            raise IndexError(f"aminmax: Expected reduction dim {d} to have non-zero size.")
    attrs = {"axes": _axes(dim), "keepdims": bool(keepdim)}
    return _Aminmax(apply("min", input, attrs=attrs, label="AminmaxBackward0"),
                    apply("max", input, attrs=attrs, label="AminmaxBackward0"))


autograd("nansum", "NansumBackward0", saves="all")


def gather_at(input, indices, dim: int, label: str):
    """input's values at indices along dim (0-d inputs too): their gradient goes to those elements."""
    if input.ndim == 0:
        flat = apply("reshape", input, attrs={"shape": (1,)})
        index = apply("reshape", indices, attrs={"shape": (1,) * builtins.max(indices.ndim, 1)})
        out = apply("gather", flat, index, attrs={"axis": 0})
        return apply("reshape", out, attrs={"shape": tuple(indices.shape)}, label=label)
    return apply("gather", input, indices, attrs={"axis": dim}, label=label)
