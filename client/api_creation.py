"""Declarations of PyTorch's dtype conversions (Tensor.to, .type, .half, view(dtype) ...) and creation functions
(torch.empty, torch.randint, ...)."""
from __future__ import annotations

import builtins

import numpy as np

from gradwire import devices, dtypes, random
from gradwire.core.dtype_ops import bitcast_shape
from gradwire.core.dtypes import ITEMSIZE, LEGACY_NAMES
from gradwire.declare import declare
from gradwire.ops import apply, cast, view_op
from gradwire.tensor import Tensor, leaf_from_data

_BY_LEGACY = {f"torch.{v}Tensor": k for k, v in LEGACY_NAMES.items()}


@declare(function=False)
def to(input, *args, dtype=None, device=None, non_blocking=False, copy=False, memory_format=None):
    """x.to(dtype), x.to(other) (other's dtype), x.to('cpu', dtype), as Tensor.to; itself when nothing changes
    (copy=True, or a device with an index such as 'cpu:0': a new tensor). Devices other than the CPU are refused
    (gradwire/devices.py)."""
    dtype, moves = devices.parse_to(args, dtype, device)
    target = input.dtype if dtype is None else dtypes.as_dtype(dtype)
    if target.name == input._node.dtype and not (copy or moves):
        return input
    return apply("cast", input, attrs={"dtype": target.name})


@declare(function=False)
def type(input, dtype=None, non_blocking=False):         # noqa: A001  (PyTorch's name)
    """x.type(): the legacy type name ('torch.FloatTensor'); x.type(dtype or that name): x cast, as Tensor.type."""
    if dtype is None:
        return f"torch.{LEGACY_NAMES[input._node.dtype]}Tensor"
    dtype = getattr(dtype, "legacy_dtype", dtype)       # gw.FloatTensor and the other legacy types
    if isinstance(dtype, str):
        if dtype not in _BY_LEGACY:
            raise ValueError(f"invalid type: '{dtype}'")
        dtype = _BY_LEGACY[dtype]
    return cast(input, dtype)


def _conversion(name: str, dtype: dtypes.DType, torch_name: str) -> None:
    def convert(input, memory_format=None):
        return cast(input, dtype)
    convert.__doc__ = f"self.to({torch_name}), as Tensor.{name}."
    declare(name, function=False)(convert)


_conversion("half", dtypes.float16, "torch.float16")
_conversion("byte", dtypes.uint8, "torch.uint8")
_conversion("char", dtypes.int8, "torch.int8")
_conversion("short", dtypes.int16, "torch.int16")


@declare()
def is_floating_point(input):
    """Whether the dtype is a floating-point type, as torch.is_floating_point."""
    return input.dtype.is_floating_point


@declare(method=False, tensors=())
def is_tensor(obj):
    """Whether obj is a gradwire tensor (a Parameter too), as torch.is_tensor."""
    return isinstance(obj, Tensor)


@declare()
def numel(input):
    """The number of elements (known from the shape: no request), as torch.numel."""
    return input.numel()


@declare(method=False)
def get_default_dtype():
    """The dtype Python floats become: torch.float32, as in PyTorch (gradwire does not change it)."""
    return dtypes.DEFAULT_FLOAT


@declare(function=False, tensors=("input", "other"))
def type_as(input, other):
    """input cast to other's dtype (itself when it already has it), as Tensor.type_as."""
    return to(input, other.dtype)


def view_dtype(input, *args, dtype=None):
    """x.view(dtype): the same bytes read as another dtype, a view of x's storage (writes through either reach
    the other), without autograd history, as PyTorch's Tensor.view(dtype)."""
    if args and dtype is not None or len(args) > 1:
        raise TypeError(f"view() received an invalid combination of arguments - got "
                        f"({', '.join(builtins.type(a).__name__ for a in args)}), but expected one of:")
    target = dtypes.as_dtype(dtype if dtype is not None else args[0]).name
    src = input._node.dtype
    bitcast_shape(tuple(input.shape), src, target)          # refuses 0-d and indivisible sizes first
    a, b = ITEMSIZE[src], ITEMSIZE[target]
    if a != b:
        what = f"to view {LEGACY_NAMES[src]} as {LEGACY_NAMES[target]} (different element sizes)"
        strides = input.stride()
        if strides[-1] != 1:
            raise RuntimeError(f"self.stride(-1) must be 1 {what}, but got {strides[-1]}")
        if b > a:
            ratio = b // a
            for d, s in enumerate(strides[:-1]):
                if s % ratio:
                    raise RuntimeError(f"self.stride({d}) must be divisible by {ratio} {what}, but got {s}")
            if input.storage_offset() % ratio:
                raise RuntimeError(f"self.storage_offset() must be divisible by {ratio} {what}, but got "
                                   f"{input.storage_offset()}")
    detached = input.detach()
    return view_op(detached, "bitcast", {"dtype": target})




def _new(fill):
    def make(input, *size, dtype=None, device=None, requires_grad=False, **kwargs):
        from gradwire import factories
        devices.check(device)
        shape = factories._size(size)
        d = dtypes.as_dtype(dtype if dtype is not None else input.dtype)
        value = np.full(shape, kwargs.get("fill_value", fill), dtype=d.numpy)
        return leaf_from_data(input._node.session, value, None, requires_grad)
    return make


declare("new_zeros", function=False, doc="Zeros of the given size, this tensor's dtype by default, as "
        "Tensor.new_zeros.")(_new(0))
declare("new_ones", function=False, doc="Ones of the given size, this tensor's dtype by default, as "
        "Tensor.new_ones.")(_new(1))
declare("new_empty", function=False, doc="A tensor of the given size (zeros here), this tensor's dtype by "
        "default, as Tensor.new_empty.")(_new(0))


@declare(function=False)
def new_full(input, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """fill_value everywhere in the given size, this tensor's dtype by default, as Tensor.new_full."""
    return _new(fill_value)(input, size, dtype=dtype, device=device, requires_grad=requires_grad)


@declare(function=False)
def new_tensor(input, data, *, dtype=None, device=None, requires_grad=False):
    """A copy of data, in this tensor's dtype unless dtype says otherwise, as Tensor.new_tensor."""
    devices.check(device)
    d = dtypes.as_dtype(dtype if dtype is not None else input.dtype)
    return leaf_from_data(input._node.session, data, d, requires_grad)


# Random draws into new tensors (gradwire/random.py: made in the client with NumPy's PCG64).
declare("bernoulli", doc="0/1 draws with the probabilities in input (or p), input's dtype, as "
        "torch.bernoulli.")(random.bernoulli)
declare("multinomial", doc="Indices drawn with the weights of each row, with or without replacement, as "
        "torch.multinomial.")(random.multinomial)
# In-place fillers: the values replaced by draws (zero gradient to what they overwrite, as in PyTorch).
for _name, _doc in (("uniform_", "uniform on [from, to)"), ("normal_", "normal(mean, std)"),
                    ("random_", "integers on [from, to), by default every integer the dtype holds exactly"),
                    ("bernoulli_", "0/1 with probability p (a float or a tensor)"),
                    ("exponential_", "exponential with rate lambd")):
    declare(_name, function=False, doc=f"Fill with draws {_doc}, as Tensor.{_name}.")(getattr(random, _name))
