"""Validation and shape/dtype inference: every node checked, every intermediate sized, before any kernel runs."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from gradwire.core.signature import RULE_ERRORS, check_dtypes, normalize

from .errors import GraphError, LimitError, UnknownOpError
from .graph import Graph, Node
from .limits import Limits
from .registry import OPS, Aval


@dataclass
class Checked:
    """A validated graph: nodes with normalized attributes, and the aval of every node."""

    nodes: list[Node]
    avals: list[Aval]


def check_node(i: int, node: Node, in_avals: list[Aval], placeholders: Mapping[str, Aval] | None = None):
    """Validate one node against its op's signature; returns (normalized attrs, output aval)."""
    if node.op not in OPS:
        raise UnknownOpError(f"unknown op '{node.op}'", i, node.op)
    sig = OPS[node.op].sig
    try:
        attrs = normalize(sig, len(node.inputs), node.attrs)
        check_dtypes(sig, in_avals)
        if node.op == "placeholder":
            name = attrs["name"]
            if placeholders is None or name not in placeholders:
                raise GraphError(f"no value was fed for placeholder '{name}'", i, node.op)
            return attrs, placeholders[name]
        return attrs, sig.shape(in_avals, attrs)
    except RULE_ERRORS as e:
        raise GraphError(str(e), i, node.op) from None


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
