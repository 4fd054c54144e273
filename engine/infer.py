"""Validation and shape/dtype inference: every node checked, every intermediate sized, before any kernel runs."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .dtypes import DTYPES
from .errors import GraphError, LimitError, UnknownOpError
from .graph import Graph, Node
from .limits import Limits
from .registry import OPS, Aval


@dataclass
class Checked:
    """A validated graph: nodes with normalized attributes, and the aval of every node."""

    nodes: list[Node]
    avals: list[Aval]


def _attr(name: str, kind: str, v, node_id: int, op: str):
    def bad(expect: str):
        return GraphError(f"attribute '{name}' must be {expect}, got {v!r}", node_id, op)

    if kind in ("int", "optint"):
        if v is None and kind == "optint":
            return None
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise bad("an int")
        return int(v)
    if kind in ("float", "optfloat"):
        if v is None and kind == "optfloat":
            return None
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise bad("a number")
        return float(v)
    if kind == "bool":
        if not isinstance(v, (bool, np.bool_)):
            raise bad("a bool")
        return bool(v)
    if kind == "string":
        if not isinstance(v, str):
            raise bad("a string")
        return v
    if kind in ("ints", "optints", "axes"):
        if v is None and kind != "ints":
            return None
        if kind == "axes" and isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
            return (int(v),)
        if not isinstance(v, (tuple, list)) or not all(
                isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)) for x in v):
            raise bad("a list of ints")
        return tuple(int(x) for x in v)
    if kind == "floats":
        if not isinstance(v, (tuple, list)):
            raise bad("a list of numbers")
        return tuple(float(x) for x in v)
    if kind == "tensor":
        if not isinstance(v, np.ndarray) or v.dtype.name not in DTYPES:
            raise bad("a tensor of " + "/".join(DTYPES))
        return v
    raise AssertionError(kind)


def check_node(i: int, node: Node, in_avals: list[Aval], placeholders: Mapping[str, Aval] | None = None):
    """Validate one node against its op's row; returns (normalized attrs, output aval)."""
    op = OPS.get(node.op)
    if op is None:
        raise UnknownOpError(f"unknown op '{node.op}'", i, node.op)
    n = len(node.inputs)
    if n < op.min_inputs or (op.max_inputs >= 0 and n > op.max_inputs):
        want = (f"{op.min_inputs}" if op.min_inputs == op.max_inputs else
                f"at least {op.min_inputs}" if op.max_inputs < 0 else f"{op.min_inputs} to {op.max_inputs}")
        raise GraphError(f"takes {want} inputs, got {n}", i, node.op)
    for k in node.attrs:
        if k not in op.attrs:
            raise GraphError(f"unknown attribute '{k}' (takes: {', '.join(op.attrs) or 'none'})", i, node.op)
    attrs = {}
    for k, spec in op.attrs.items():
        if k in node.attrs:
            attrs[k] = _attr(k, spec.kind, node.attrs[k], i, node.op)
        elif spec.required:
            raise GraphError(f"missing required attribute '{k}'", i, node.op)
        else:
            attrs[k] = spec.default
    for j, a in enumerate(in_avals):
        if a.dtype not in op.dtypes:
            raise GraphError(f"input {j} has dtype {a.dtype}; {node.op} takes {', '.join(op.dtypes)}", i, node.op)
    if node.op == "placeholder":
        name = attrs["name"]
        if placeholders is None or name not in placeholders:
            raise GraphError(f"no value was fed for placeholder '{name}'", i, node.op)
        return attrs, placeholders[name]
    try:
        aval = op.shape(in_avals, attrs)
    except (ValueError, TypeError, IndexError) as e:
        raise GraphError(str(e), i, node.op) from None
    return attrs, aval


def infer(graph: Graph, feeds: Mapping[str, Aval], known: Mapping[int, Aval] | None = None,
          limits: Limits | None = None) -> Checked:
    """Check the whole graph in one forward sweep (no recursion, no re-sorting)."""
    limits = limits or Limits()
    known = known or {}
    if len(graph) > limits.max_nodes:
        raise LimitError(f"graph has {len(graph)} nodes; the limit is {limits.max_nodes}")
    for k in known:
        if not 0 <= k < len(graph):
            raise GraphError(f"known value given for node {k}, but the graph has {len(graph)} nodes")
    names: dict[str, int] = {}
    nodes: list[Node] = []
    avals: list[Aval] = []
    for i, node in enumerate(graph.nodes):
        for j in node.inputs:
            if not 0 <= j < i:
                if j >= len(graph):
                    raise GraphError(f"input {j} is not a node id (the graph has {len(graph)} nodes)", i, node.op)
                kind = "itself" if j == i else ("a later node (cycle or forward reference)" if j > i
                                                else "a negative id")
                raise GraphError(f"input {j} refers to {kind}; inputs must name earlier nodes", i, node.op)
        attrs, aval = check_node(i, node, [avals[j] for j in node.inputs], feeds)
        if node.op == "placeholder":
            if attrs["name"] in names:
                raise GraphError(f"placeholder name '{attrs['name']}' is also used by node "
                                 f"{names[attrs['name']]}", i, node.op)
            names[attrs["name"]] = i
        if i in known:
            if known[i].shape != aval.shape or known[i].dtype != aval.dtype:
                raise GraphError(f"known value has {known[i].dtype}{list(known[i].shape)}, but the node "
                                 f"computes {aval.dtype}{list(aval.shape)}", i, node.op)
        size = math.prod(aval.shape)
        if node.op == "constant" and size > limits.max_tensor_elements:  # an inline input
            raise LimitError(f"constant has {size} elements; the limit is {limits.max_tensor_elements}", i, node.op)
        if size > limits.max_intermediate_elements:
            raise LimitError(f"result would have {size} elements (shape {list(aval.shape)}); the limit is "
                             f"{limits.max_intermediate_elements}", i, node.op)
        nodes.append(Node(node.op, node.inputs, attrs))
        avals.append(aval)
    for name in feeds:
        if name not in names:
            raise GraphError(f"input '{name}' was fed, but no placeholder has that name")
    return Checked(nodes, avals)
