"""Protobuf <-> NumPy conversion, shared by the client and the server (the only place that does it)."""
from __future__ import annotations

import math
import sys

import numpy as np

from gradwire.v1 import gradwire_pb2 as pb

# Wire dtype enum <-> NumPy dtype. Bytes are little-endian on the wire.
DTYPES: dict[int, np.dtype] = {
    pb.FLOAT32: np.dtype("<f4"),
    pb.FLOAT64: np.dtype("<f8"),
    pb.INT32: np.dtype("<i4"),
    pb.INT64: np.dtype("<i8"),
    pb.BOOL: np.dtype("?"),
    pb.UINT8: np.dtype("u1"),
    pb.INT8: np.dtype("i1"),
    pb.INT16: np.dtype("<i2"),
    pb.FLOAT16: np.dtype("<f2"),
}
DTYPE_NAMES: dict[int, str] = {
    pb.FLOAT32: "float32",
    pb.FLOAT64: "float64",
    pb.INT32: "int32",
    pb.INT64: "int64",
    pb.BOOL: "bool",
    pb.UINT8: "uint8",
    pb.INT8: "int8",
    pb.INT16: "int16",
    pb.FLOAT16: "float16",
}
# NumPy's limits on a shape: 64 dimensions, and the product of the nonzero dimensions (times the
# item size) must fit in a signed 64-bit integer, even when a zero dimension leaves no elements.
MAX_RANK = 64
MAX_EXTENT = (2**63 - 1) // 8
_ENUM_BY_NAME = {name: code for code, name in DTYPE_NAMES.items()}
_ENUM_BY_DTYPE = {np.dtype(name): code for name, code in _ENUM_BY_NAME.items()}  # dtype.name costs ~2 µs
_NATIVE = frozenset(code for code, dtype in DTYPES.items() if dtype.isnative)


class CodecError(ValueError):
    """A tensor or attribute on the wire is malformed; `where` says which one."""


def dtype_enum(dtype) -> int:
    """The wire enum for a NumPy dtype (or dtype name)."""
    code = _ENUM_BY_NAME.get(dtype) if type(dtype) is str else _ENUM_BY_DTYPE.get(dtype)
    if code is not None:
        return code
    name = np.dtype(dtype).name
    try:
        return _ENUM_BY_NAME[name]
    except KeyError:
        raise CodecError(f"dtype {name} is not supported on the wire "
                         f"(supported: {', '.join(_ENUM_BY_NAME)})") from None


def dtype_name(enum: int) -> str:
    try:
        return DTYPE_NAMES[enum]
    except KeyError:
        raise CodecError(f"unknown dtype enum value {enum}") from None


def tensor_to_proto(array, out: pb.Tensor | None = None) -> pb.Tensor:
    """Encode an array once: raw little-endian C-order bytes plus dtype and shape."""
    a = np.asarray(array)
    code = _ENUM_BY_DTYPE.get(a.dtype if a.dtype.isnative else a.dtype.newbyteorder("="))
    if code is None:
        raise CodecError(f"dtype {a.dtype.name} is not supported on the wire "
                         f"(supported: {', '.join(_ENUM_BY_NAME)})")
    t = pb.Tensor() if out is None else out
    t.dtype = code
    t.shape[:] = a.shape
    if sys.byteorder != "little" or not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("<"))
    t.data = np.ascontiguousarray(a).tobytes()
    return t


def count(t: pb.Tensor) -> int:
    return math.prod(t.shape)


def tensor_from_proto(t: pb.Tensor, where: str = "tensor", max_elements: int | None = None) -> np.ndarray:
    """Decode without copying (read-only view on the message bytes); checks size against shape."""
    code = t.dtype
    dtype = DTYPES.get(code)
    if dtype is None:
        raise CodecError(f"{where}: unknown or unspecified dtype ({code})")
    shape = tuple(t.shape)            # repeated int64: Python ints already
    count = 1
    if shape:
        if min(shape) < 0:
            raise CodecError(f"{where}: negative dimension in shape {shape}")
        if len(shape) > MAX_RANK:
            raise CodecError(f"{where}: {len(shape)} dimensions; at most {MAX_RANK}")
        count = math.prod(shape)
        if (count or math.prod(d or 1 for d in shape)) > MAX_EXTENT:
            raise CodecError(f"{where}: shape {list(shape)} cannot be represented (its nonzero "
                             f"dimensions multiply past 2**63)")
    if max_elements is not None and count > max_elements:
        raise CodecError(f"{where}: {count} elements exceed the limit of {max_elements}")
    data = t.data
    if len(data) != count * dtype.itemsize:
        raise CodecError(f"{where}: {len(data)} bytes of data, but shape {list(shape)} of "
                         f"{DTYPE_NAMES[code]} needs {count * dtype.itemsize}")
    a = np.frombuffer(data, dtype=dtype, count=count).reshape(shape)
    if code == pb.BOOL and count and not np.all(a.view(np.uint8) <= 1):
        raise CodecError(f"{where}: bool data must be bytes 0 or 1")
    return a if code in _NATIVE else a.astype(dtype.newbyteorder("="), copy=False)


def attr_to_proto(value, out: pb.AttrValue | None = None) -> pb.AttrValue:
    """Python attribute value -> AttrValue. Tuples of ints -> ints; arrays -> tensor."""
    v = pb.AttrValue() if out is None else out
    if value is None:
        v.none = True
    elif isinstance(value, (bool, np.bool_)):
        v.b = bool(value)
    elif isinstance(value, (int, np.integer)):
        v.i = int(value)
    elif isinstance(value, (float, np.floating)):
        v.f = float(value)
    elif isinstance(value, str):
        v.s = value
    elif isinstance(value, np.ndarray):
        tensor_to_proto(value, v.tensor)
    elif isinstance(value, (tuple, list)):
        if all(isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)) for x in value):
            v.ints.values[:] = [int(x) for x in value]
            if not value:
                v.ints.SetInParent()
        elif all(isinstance(x, (int, float, np.integer, np.floating)) for x in value):
            v.floats.values[:] = [float(x) for x in value]
        else:
            raise CodecError(f"attribute list {value!r} mixes kinds")
    else:
        raise CodecError(f"cannot encode attribute of type {type(value).__name__}")
    return v


def attr_from_proto(v: pb.AttrValue, where: str = "attribute", max_elements: int | None = None):
    """AttrValue -> Python value (ints -> tuple of int, tensor -> ndarray)."""
    kind = v.WhichOneof("value")
    if kind is None or kind == "none":
        return None
    if kind == "ints":
        return tuple(int(x) for x in v.ints.values)
    if kind == "floats":
        return tuple(float(x) for x in v.floats.values)
    if kind == "tensor":
        return tensor_from_proto(v.tensor, where, max_elements)
    return getattr(v, kind)
