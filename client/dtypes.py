"""Element types (`gw.float32` …), their limits (`finfo`, `iinfo`) and the promotion hint used to type Python
scalars."""
from __future__ import annotations

import numpy as np

from gradwire.core.dtypes import DTYPES, FLOATS


class DType:
    """A dtype handle. It prints as PyTorch's does (`torch.float32`) so printed output matches."""

    __slots__ = ("name", "numpy", "is_floating_point", "is_signed", "itemsize")

    def __init__(self, name: str):
        self.name = name
        self.numpy = np.dtype(name)
        self.is_floating_point = self.numpy.kind == "f"
        self.is_signed = self.numpy.kind in "fi"
        self.itemsize = self.numpy.itemsize

    @property
    def is_complex(self) -> bool:
        return False

    def to_real(self) -> "DType":
        return self

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self):
        return (as_dtype, (self.name,))


float16 = DType("float16")
float32 = DType("float32")
float64 = DType("float64")
uint8 = DType("uint8")
int8 = DType("int8")
int16 = DType("int16")
int32 = DType("int32")
int64 = DType("int64")
bool_ = DType("bool")
_BY_NAME = {d.name: d for d in (float16, float32, float64, uint8, int8, int16, int32, int64, bool_)}
assert set(_BY_NAME) == set(DTYPES)
_BY_NUMPY = {**{d.numpy: d for d in _BY_NAME.values()}, **_BY_NAME}    # dtype objects and names
DEFAULT_FLOAT = float32


def as_dtype(dtype) -> DType:
    """Accept a DType, a NumPy dtype or name, or the Python types float/int/bool."""
    if isinstance(dtype, DType):
        return dtype
    if dtype is float:
        return float64
    if dtype is int:
        return int64
    if dtype is bool:
        return bool_
    known = _BY_NUMPY.get(dtype) if isinstance(dtype, (str, np.dtype)) else None
    if known is not None:               # the common case, without NumPy's dtype.name (~2.6 µs)
        return known
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


def _dtype_arg(fn: str, type_=None) -> DType:
    if type_ is None:
        return DEFAULT_FLOAT
    if not isinstance(type_, DType) and type_ not in (float, int, bool):
        raise TypeError(f"{fn}(): argument 'type' (position 1) must be torch.dtype, not {type(type_).__name__}")
    return as_dtype(type_)


class finfo:
    """Limits of a floating-point dtype, from NumPy's np.finfo (as torch.finfo)."""

    def __init__(self, type=None):     # noqa: A002  (PyTorch's parameter name)
        d = _dtype_arg("finfo", type)
        if not d.is_floating_point:
            raise TypeError("torch.finfo() requires a floating point input type. Use torch.iinfo to handle "
                            "'torch.finfo'")
        f = np.finfo(d.numpy)
        self.dtype, self.bits = d.name, int(f.bits)
        self.eps, self.max, self.min = float(f.eps), float(f.max), float(f.min)
        self.tiny = self.smallest_normal = float(f.smallest_normal)
        self.resolution = 10.0 ** -int(f.precision)

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.tiny:g}, tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:
    """Limits of an integer dtype, from NumPy's np.iinfo (as torch.iinfo)."""

    def __init__(self, type):           # noqa: A002
        d = _dtype_arg("iinfo", type)
        if d.is_floating_point:
            raise TypeError("torch.iinfo() requires an integer input type. Use torch.finfo to handle 'torch.iinfo'")
        if d.name == "bool":
            raise TypeError("torch.bool is not supported by torch.iinfo")
        i = np.iinfo(d.numpy)
        self.dtype, self.bits = d.name, int(i.bits)
        self.max, self.min = int(i.max), int(i.min)

    def __repr__(self) -> str:
        return f"iinfo(min={float(self.min):g}, max={float(self.max):g}, dtype={self.dtype})"
