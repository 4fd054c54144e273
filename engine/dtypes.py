"""Dtypes the engine accepts, and PyTorch-style type promotion."""
from __future__ import annotations

import numpy as np

DTYPES = ("float32", "float64", "int32", "int64", "bool")
FLOATS = ("float32", "float64")
INTS = ("int32", "int64")
DEFAULT_FLOAT = "float32"

_RANK = {"bool": 0, "int32": 1, "int64": 2, "float32": 3, "float64": 4}


def is_float(dtype: str) -> bool:
    return dtype in FLOATS


def promote(*dtypes: str) -> str:
    """PyTorch's rule for tensors: float beats int beats bool; wider beats narrower."""
    return max(dtypes, key=_RANK.__getitem__)


def to_float(dtype: str) -> str:
    """The float type an int/bool input is computed in (torch.sin(int tensor) is float32)."""
    return dtype if is_float(dtype) else DEFAULT_FLOAT


def np_dtype(name: str) -> np.dtype:
    return np.dtype(name)
