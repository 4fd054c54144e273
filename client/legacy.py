"""PyTorch's legacy constructors: `gw.Tensor(data or sizes)` and the typed ones (`gw.FloatTensor([1, 2])`, …),
with `isinstance(x, gw.FloatTensor)` and `x.type(gw.LongTensor)` as PyTorch answers them."""
from __future__ import annotations

import numbers

import numpy as np

from gradwire import dtypes
from gradwire.core.dtypes import LEGACY_NAMES


def new(dtype: dtypes.DType, *args, device=None, **kwargs):
    """torch.Tensor(*args): no args -> an empty tensor; sizes (ints, or a Size) -> an uninitialized one of that
    shape; a tensor -> that tensor (of this type); anything else -> its data, of this type."""
    import gradwire as gw
    if kwargs:
        raise TypeError(f"new() received an invalid combination of arguments - got unexpected keyword arguments "
                        f"{', '.join(map(repr, kwargs))}")
    if device is not None:
        where = device if isinstance(device, gw.device) else gw.device(str(device))
        if where.type != "cpu":
            raise RuntimeError(f"legacy constructor expects device type: cpu but device type: {where.type} was passed")
    if not args:
        return gw.empty(0, dtype=dtype)
    if len(args) == 1 and isinstance(args[0], gw.Tensor):
        t = args[0]
        if t.dtype != dtype:
            raise TypeError(f"expected {LEGACY_NAMES[dtype.name]} (got {LEGACY_NAMES[t.dtype.name]})")
        return t
    sizes = args[0] if len(args) == 1 and isinstance(args[0], gw.Size) else args     # a tuple is data
    if all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in sizes):
        return gw.empty(*[int(s) for s in sizes], dtype=dtype)
    if len(args) > 1:
        raise TypeError("new(): data must be a sequence (got several arguments)")
    return gw.tensor(np.asarray(args[0]), dtype=dtype)


class _Typed(type):
    """A legacy tensor type: calling it constructs, isinstance checks the dtype."""

    def __call__(cls, *args, **kwargs):
        return new(cls.legacy_dtype, *args, **kwargs)

    def __instancecheck__(cls, obj) -> bool:
        from gradwire.tensor import Tensor
        return isinstance(obj, Tensor) and obj.dtype == cls.legacy_dtype

    def __repr__(cls) -> str:
        return f"<class 'torch.{cls.__name__}'>"


def _typed(name: str, dtype: dtypes.DType) -> type:
    return _Typed(name, (), {"legacy_dtype": dtype, "__module__": "gradwire"})


FloatTensor = _typed("FloatTensor", dtypes.float32)
DoubleTensor = _typed("DoubleTensor", dtypes.float64)
HalfTensor = _typed("HalfTensor", dtypes.float16)
LongTensor = _typed("LongTensor", dtypes.int64)
IntTensor = _typed("IntTensor", dtypes.int32)
ShortTensor = _typed("ShortTensor", dtypes.int16)
CharTensor = _typed("CharTensor", dtypes.int8)
ByteTensor = _typed("ByteTensor", dtypes.uint8)
BoolTensor = _typed("BoolTensor", dtypes.bool_)

__all__ = ["FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor", "ShortTensor", "CharTensor",
           "ByteTensor", "BoolTensor"]
