"""Dtype names both sides accept, and PyTorch's type promotion (`torch.result_type`), exactly."""
from __future__ import annotations

# The order is the wire enum's order of appearance; append, never reorder (see DType in gradwire.proto).
DTYPES = ("float32", "float64", "int32", "int64", "bool", "uint8", "int8", "int16", "float16")
FLOATS = ("float16", "float32", "float64")
INTS = ("uint8", "int8", "int16", "int32", "int64")
NUMBERS = FLOATS + INTS          # everything but bool
DEFAULT_FLOAT = "float32"

_CATEGORY = {"bool": 0, **{d: 1 for d in INTS}, **{d: 2 for d in FLOATS}}
# Width within a category. uint8 and int8 are incomparable: PyTorch promotes the pair to int16.
_RANK = {"bool": 0, "uint8": 1, "int8": 1, "int16": 2, "int32": 3, "int64": 4,
         "float16": 5, "float32": 6, "float64": 7}
# The dtype a Python scalar of each category takes when it decides the result (torch's defaults).
_SCALAR_DEFAULT = {0: "bool", 1: "int64", 2: DEFAULT_FLOAT}
# PyTorch's legacy tensor-type names, used in its error messages ("torch.FloatTensor").
LEGACY_NAMES = {"float32": "Float", "float64": "Double", "int32": "Int", "int64": "Long", "bool": "Bool",
                "uint8": "Byte", "int8": "Char", "int16": "Short", "float16": "Half"}
ITEMSIZE = {"bool": 1, "uint8": 1, "int8": 1, "int16": 2, "int32": 4, "int64": 8,
            "float16": 2, "float32": 4, "float64": 8}


def is_float(dtype: str) -> bool:
    return dtype in FLOATS


def category(dtype: str) -> int:
    return _CATEGORY[dtype]


def _promote2(a: str, b: str) -> str:
    if a == b:
        return a
    if {a, b} == {"uint8", "int8"}:
        return "int16"
    return a if _RANK[a] > _RANK[b] else b


def promote(*dtypes: str) -> str:
    """torch.promote_types between tensors alike: the higher category wins, then the wider type
    (uint8 with int8 gives int16, the narrowest type holding both)."""
    out = dtypes[0]
    for d in dtypes[1:]:
        out = _promote2(out, d)
    return out


def _combine(higher: str | None, lower: str | None) -> str | None:
    """A higher-priority group's dtype against a lower one's (PyTorch's `combine_categories`): the lower
    group matters only when its category is higher."""
    if higher is None:
        return lower
    if lower is None or is_float(higher):
        return higher
    if higher == "bool" or is_float(lower):
        return promote(higher, lower)
    return higher


def result_type(*operands) -> str:
    """PyTorch's result type of an operation on `operands`, each (dtype, ndim) or (dtype, ndim, is_scalar).

    Three priority groups: tensors with dimensions, then 0-d tensors, then Python scalars. A lower group
    changes the result only when its category (bool < int < float) is higher than every higher group's,
    so float32 tensor * float64 0-d tensor is float32, int32 tensor * 2.5 is float32 (a Python float
    decides as the default float type) and uint8 tensor + 1000 stays uint8."""
    dims = zeros = scalars = None
    for operand in operands:
        dtype, ndim = operand[0], operand[1]
        if len(operand) > 2 and operand[2]:
            d = _SCALAR_DEFAULT[_CATEGORY[dtype]]
            scalars = d if scalars is None else promote(scalars, d)
        elif ndim == 0:
            zeros = dtype if zeros is None else promote(zeros, dtype)
        else:
            dims = dtype if dims is None else promote(dims, dtype)
    return _combine(dims, _combine(zeros, scalars)) or DEFAULT_FLOAT


def can_cast(src: str, dst: str) -> bool:
    """torch.can_cast: what an in-place op may write into a tensor (no float -> int, no number -> bool)."""
    return _CATEGORY[src] <= _CATEGORY[dst]


def to_float(dtype: str) -> str:
    """The float type an int/bool input is computed in (torch.sin(int tensor) is float32)."""
    return dtype if is_float(dtype) else DEFAULT_FLOAT
