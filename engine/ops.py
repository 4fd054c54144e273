"""The op table: importing this module fills `OPS` with one row per op, and lists them as a catalogue."""
from __future__ import annotations

from dataclasses import dataclass

from . import ops_elementwise, ops_reduce, ops_shape  # noqa: F401  (each registers its rows)
from .registry import OPS, Attr, Aval, defop


def _constant_shape(avals, attrs):
    v = attrs["value"]
    return Aval(tuple(int(d) for d in v.shape), v.dtype.name)


defop("placeholder", inputs=0, attrs={"name": Attr("string", doc="the input's name in the request")},
      shape=None, impl=None, doc="a named input, fed by value in each request")
defop("constant", inputs=0, attrs={"value": Attr("tensor", doc="the inline tensor")},
      shape=_constant_shape, impl=None, doc="an inline tensor")


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
