"""The op table: importing this module fills `OPS` with one row per op, and lists them as a catalogue."""
from __future__ import annotations

from dataclasses import dataclass

from gradwire import core  # noqa: F401  (fills the signatures the rows below extend)

from . import (ops_dtype, ops_elementwise, ops_index, ops_linalg, ops_linalg_svd, ops_pointwise, ops_reduce,  # noqa: F401
               ops_scan, ops_shape, ops_sort)  # (each registers its rows)
from . import ops_nn  # noqa: F401,E402
from . import ops_conv  # noqa: F401,E402
from .registry import OPS, defop

defop("placeholder", impl=None)
defop("constant", impl=None)


@dataclass(frozen=True)
class AttrInfo:
    name: str
    kind: str
    required: bool
    doc: str


@dataclass(frozen=True)
class OpInfo:
    name: str
    min_inputs: int
    max_inputs: int
    attrs: list
    dtypes: list
    differentiable: bool
    composite: bool
    doc: str


def op_catalogue() -> list[OpInfo]:
    return [OpInfo(op.name, op.min_inputs, op.max_inputs,
                   [AttrInfo(k, a.kind, a.required, a.doc) for k, a in op.attrs.items()],
                   list(op.dtypes), op.differentiable, op.composite, op.doc)
            for op in sorted(OPS.values(), key=lambda o: o.name)]
