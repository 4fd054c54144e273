"""Element types (`gw.float32` …) and the promotion hint used to type Python scalars."""
from __future__ import annotations

import numpy as np


class DType:
    """A dtype handle. It prints as PyTorch's does (`torch.float32`) so printed output matches."""

    __slots__ = ("name", "numpy", "is_floating_point")

    def __init__(self, name: str):
        self.name = name
        self.numpy = np.dtype(name)
        self.is_floating_point = self.numpy.kind == "f"

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self):
        return (as_dtype, (self.name,))


float32 = DType("float32")
float64 = DType("float64")
int32 = DType("int32")
int64 = DType("int64")
bool_ = DType("bool")
_BY_NAME = {d.name: d for d in (float32, float64, int32, int64, bool_)}
DEFAULT_FLOAT = float32


def as_dtype(dtype) -> DType:
    """Accept a DType, a NumPy dtype or name, or the Python types float/int/bool."""
    if isinstance(dtype, DType):
        return dtype
    if dtype is float:
        return DEFAULT_FLOAT
    if dtype is int:
        return int64
    if dtype is bool:
        return bool_
    name = getattr(dtype, "name", None) if not isinstance(dtype, str) else dtype
    name = str(dtype).removeprefix("torch.") if name is None else name
    try:
        return _BY_NAME[np.dtype(name).name]
    except (KeyError, TypeError):
        raise TypeError(f"unsupported dtype {dtype!r} (supported: {', '.join(_BY_NAME)})") from None


def scalar_dtype(value) -> DType:
    """The dtype PyTorch gives a tensor built from this Python scalar."""
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, (int, np.integer)):
        return int64
    return DEFAULT_FLOAT
