"""The client's request encoding from cached pieces, against protobuf's own serialization, and the signature
memo against the uncached rules (no server: nodes are only recorded and encoded)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from gradwire import _wire, ops
from gradwire._parts import PartCache
from gradwire.core import codec, signature
from gradwire.core.signature import Aval
from gradwire.graph import Node, RequestGraph
from gradwire.v1 import gradwire_pb2 as pb


def leaf(shape=(3, 4), dtype="float32", requires_grad=False) -> Node:
    return Node(None, None, value=np.zeros(shape, dtype), requires_grad=requires_grad)


def protobuf_graph(graph: RequestGraph) -> bytes:
    """The graph as the client used to build it: one pb.Node per node, serialized deterministically."""
    out = pb.Graph()
    names = {node: name for name, node in graph.inputs.items()}
    for node in graph.order:
        if node in names:
            n = out.nodes.add(op="placeholder")
            codec.attr_to_proto(names[node], n.attrs["name"])
            continue
        n = out.nodes.add(op=node.op, inputs=[graph.index[x] for x in node.inputs])
        for key, value in node.attrs.items():
            codec.attr_to_proto(value, n.attrs[key])
    return out.SerializeToString(deterministic=True)


ATTRS = [
    ("sum", {"axes": (0, 1), "keepdims": False}),
    ("sum", {"axes": None, "keepdims": True}),
    ("sum", {"axes": (-1,), "keepdims": True}),
    ("pow_scalar", {"exponent": 2.0}),
    ("pow_scalar", {"exponent": 2}),
    ("pow_scalar", {"exponent": -0.0}),
    ("pow_scalar", {"exponent": 0.0}),
    ("pow_scalar", {"exponent": math.nan}),
    ("pow_scalar", {"exponent": -math.inf}),
    ("pow_scalar", {"exponent": np.float32(0.5)}),     # a NumPy scalar: no key, computed each time
    ("cast", {"dtype": "float64"}),
    ("cast", {"dtype": "int32"}),
    ("reshape", {"shape": (12,)}),
    ("reshape", {"shape": (2, -1)}),
    ("transpose", {"perm": [1, 0]}),
    ("clamp", {"min": -1.5, "max": None}),
    ("clamp", {"min": None, "max": 300}),
    ("slice", {"starts": (1, 0), "stops": (3, 2**62), "steps": (1, 2)}),
]


@pytest.mark.parametrize("op,attrs", ATTRS)
def test_memoized_signature_matches_the_rules_twice(op, attrs):
    x = leaf()
    want_attrs, want = signature.infer(op, [Aval(x.shape, x.dtype)], dict(attrs))
    for _ in range(2):            # the first call fills the memo, the second reads it
        node = ops.node_op(op, x, attrs=dict(attrs))
        assert (node.shape, node.dtype) == (tuple(want.shape), want.dtype)
        assert node.attrs.keys() == want_attrs.keys()
        for k, v in want_attrs.items():
            got = node.attrs[k]
            assert type(got) is type(v) and repr(got) == repr(v)    # -0.0 stays -0.0, 2 vs 2.0, nan


def test_node_bytes_equal_protobufs_for_every_kind_of_attribute():
    x = leaf()
    nodes = [x] + [ops.node_op(op, x, attrs=dict(attrs)) for op, attrs in ATTRS]
    nodes.append(ops.node_op("add", nodes[-1], nodes[-1]))
    for dtype in ("float32", "float64", "int64", "bool", "float16", "uint8"):
        value = np.array([1, 0, 3], dtype)
        nodes.append(Node(None, "constant", attrs={"value": value}, value=value))
    big_endian = np.array([1.5, -2.0], ">f4")
    nodes.append(Node(None, "constant", attrs={"value": big_endian}, value=big_endian.astype("<f4")))
    same_bits_little = np.frombuffer(big_endian.tobytes(), "<f4").copy()
    nodes.append(Node(None, "constant", attrs={"value": same_bits_little}, value=same_bits_little))
    large = np.arange(100, dtype=np.float64)       # beyond the content-keyed cache
    nodes.append(Node(None, "constant", attrs={"value": large}, value=large))
    for _ in range(2):
        graph = RequestGraph(nodes, history=set(nodes[1:]))
        assert b"".join(graph.framed) == protobuf_graph(graph)
        assert pb.Graph.FromString(b"".join(graph.framed)) == pb.Graph.FromString(protobuf_graph(graph))


def test_many_inputs_and_ids_past_one_varint_byte():
    x = leaf((2,))
    chain = [x]
    for _ in range(300):
        chain.append(ops.node_op("add", chain[-1], x))
    chain.append(ops.node_op("concat", *chain[::7], attrs={"axis": 0}))
    graph = RequestGraph([chain[-1]], history=set(chain[1:]))
    assert len(graph.order) == 296 and b"".join(graph.framed) == protobuf_graph(graph)   # up to chain[294]
    assert _wire.varint(300) == bytes([0xAC, 0x02]) and _wire.varint(2**40) == bytes(
        [0x80, 0x80, 0x80, 0x80, 0x80, 0x20])


def test_placeholders_and_known_values():
    x, w = leaf(), leaf((4, 2), requires_grad=True)
    y = ops.node_op("matmul", x, w)
    y.value = np.zeros((3, 2), np.float32)          # known, outside the history: a placeholder
    z = ops.node_op("sum", y, attrs={"axes": None, "keepdims": False})
    graph = RequestGraph([z])
    assert [n for n in graph.inputs.values()] == [y] and graph.pending == [z]
    assert b"".join(graph.framed) == protobuf_graph(graph)
    graph = RequestGraph([z], history={y, z})       # in the history: an op whose value is known
    assert graph.known == [(graph.index[y], y)] and b"".join(graph.framed) == protobuf_graph(graph)


def test_a_bad_call_raises_every_time_and_is_not_remembered():
    x = leaf()
    for _ in range(2):
        with pytest.raises(IndexError):
            ops.node_op("sum", x, attrs={"axes": (5,), "keepdims": False})
    assert all(key[2] != (("axes", (tuple, ((int, 5),))), ("keepdims", (bool, False))) for key in ops._INFERRED)


def test_parts_are_split_on_learned_lengths_and_digests():
    cache = PartCache()
    framed = [_wire.placeholder(k) for k in range(6)]
    first = cache.split(framed)
    assert [(a, b, h) for a, b, _, h in first] == [(0, 6, None)]
    cache.learn([(0, 4, cache.split(framed[:4])[0][2], None)], ["h4"])
    parts = cache.split(framed)
    assert [(a, b, h) for a, b, _, h in parts] == [(0, 4, "h4"), (4, 6, None)]
    cache.learn(first, ["h6"])                      # the longest part held wins
    assert [(a, b, h) for a, b, _, h in cache.split(framed)] == [(0, 6, "h6")]
    changed = framed[:5] + [_wire.placeholder(9)]
    assert [(a, b, h) for a, b, _, h in cache.split(changed)] == [(0, 4, "h4"), (4, 6, None)]


def test_placeholders_made_from_many_threads_keep_their_names():
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(_wire.placeholder, range(2000, 0, -7)))
    for k in (0, 1, 127, 128, 1999):
        parsed = pb.Graph.FromString(_wire.placeholder(k)).nodes[0]
        assert parsed.op == "placeholder" and parsed.attrs["name"].s == f"p{k}"
