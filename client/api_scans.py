"""Declarations of PyTorch's scans along a dim (torch.f and Tensor.f): cumsum, cumprod (and their in-place
methods), logcumsumexp, cummax, cummin."""
from __future__ import annotations

from gradwire import dtypes
from gradwire.api_reductions import in_dtype, with_dtype, gather_at, return_type
from gradwire.declare import autograd, declare
from gradwire.ops import apply

# C++ type names, as PyTorch's in-place dtype check prints them.
_CPP_NAMES = {"float32": "float", "float64": "double", "int32": "int", "int64": "long int", "bool": "bool"}

autograd("cumsum", "CumsumBackward0")
autograd("cumprod", "CumprodBackward0", saves="all", saves_output=True)
autograd("logcumsumexp", "LogcumsumexpBackward0", saves="all", saves_output=True)
for _op in ("cummax_indices", "cummin_indices"):
    autograd(_op, history=False)


_REQUIRED = object()


def _required(name, dim):
    if dim is _REQUIRED:
        raise TypeError(f'{name}() missing 1 required positional arguments: "dim"')
    return int(dim)


def _in_place_dtype(name, input, dtype):
    if dtype is not None and dtypes.as_dtype(dtype).name != input._node.dtype:
        raise RuntimeError(f"Bad in-place call: input tensor dtype {_CPP_NAMES[input._node.dtype]} and output "
                           f"tensor dtype {_CPP_NAMES[dtypes.as_dtype(dtype).name]} should match")


@declare()
def cumsum(input, dim=_REQUIRED, *, dtype=None):
    """Running sum along dim (ints and bools in int64 unless dtype=), as torch.cumsum."""
    dim = _required("cumsum", dim)
    return in_dtype(apply("cumsum", with_dtype(input, dtype), attrs={"axis": dim}), dtype)


@declare()
def cumprod(input, dim=_REQUIRED, *, dtype=None):
    """Running product along dim; its gradient is exact where inputs are zero, as torch.cumprod."""
    dim = _required("cumprod", dim)
    return in_dtype(apply("cumprod", with_dtype(input, dtype), attrs={"axis": dim}), dtype)


@declare("cumsum_", function=False)
def _cumsum_(input, dim=_REQUIRED, *, dtype=None):
    """In-place cumsum, as torch.Tensor.cumsum_."""
    _required("cumsum_", dim)
    _in_place_dtype("cumsum_", input, dtype)
    return input._in_place(cumsum, dim)


@declare("cumprod_", function=False)
def _cumprod_(input, dim=_REQUIRED, *, dtype=None):
    """In-place cumprod, as torch.Tensor.cumprod_."""
    _required("cumprod_", dim)
    _in_place_dtype("cumprod_", input, dtype)
    return input._in_place(cumprod, dim)


@declare()
def logcumsumexp(input, dim=_REQUIRED):
    """log(cumsum(exp(x))) along dim, computed stably, as torch.logcumsumexp."""
    return apply("logcumsumexp", input, attrs={"axis": _required("logcumsumexp", dim)})


_Cummax, _Cummin = return_type("cummax"), return_type("cummin")


def _scan_dim(name, input, dim) -> int:
    """PyTorch's cummax/cummin check no dim of an empty input."""
    dim = _required(name, dim)
    return 0 if input.numel() == 0 else dim


@declare()
def cummax(input, dim=_REQUIRED):
    """(running largest values, their indices) along dim (the latest of ties; NaN propagates), as torch.cummax."""
    dim = _scan_dim("cummax", input, dim)
    indices = apply("cummax_indices", input, attrs={"axis": dim})
    return _Cummax(gather_at(input, indices, dim, "CummaxBackward0"), indices)


@declare()
def cummin(input, dim=_REQUIRED):
    """(running smallest values, their indices) along dim, as torch.cummin."""
    dim = _scan_dim("cummin", input, dim)
    indices = apply("cummin_indices", input, attrs={"axis": dim})
    return _Cummin(gather_at(input, indices, dim, "CumminBackward0"), indices)
