"""The wire contract a client in any language builds on: canonical part hashes computed from the .proto's
words, field violations on every validation error, catalogue docs, dtype spellings, open slice bounds."""
from __future__ import annotations

import hashlib
import struct

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from gradwire.core import hashing
from gradwire.v1 import gradwire_pb2 as pb


def fails(call, request, code: grpc.StatusCode) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(request)
    assert err.value.code() is code, err.value.details()
    return err.value


def violation(err: grpc.RpcError) -> str:
    (detail,) = rpc_status.from_call(err).details
    bad = error_details_pb2.BadRequest()
    assert detail.Unpack(bad)
    (v,) = bad.field_violations
    assert v.description == err.details()
    return v.field


# --------------------------------------------------------------------------- canonical part hash
def spec_hash(nodes) -> str:
    """The .proto's "Graph part hashes", written again from its words: nodes are (op, inputs, {name: (kind,
    value)}) tuples, not protobuf messages."""
    def text(s):
        b = s.encode()
        return struct.pack("<I", len(b)) + b

    out = bytearray(b"gradwire.graph.v1\0") + struct.pack("<I", len(nodes))
    tags = {"i": 1, "f": 2, "b": 3, "s": 4, "ints": 5, "floats": 6, "tensor": 7, "none": 8}
    for op, inputs, attrs in nodes:
        out += text(op) + struct.pack("<I", len(inputs)) + b"".join(struct.pack("<I", i) for i in inputs)
        out += struct.pack("<I", len(attrs))
        for name in sorted(attrs, key=str.encode):
            kind, v = attrs[name]
            out += text(name) + bytes([tags[kind]])
            if kind == "i":
                out += struct.pack("<q", v)
            elif kind == "f":
                out += struct.pack("<d", v)
            elif kind in ("b", "none"):
                out += bytes([v])
            elif kind == "s":
                out += text(v)
            elif kind in ("ints", "floats"):
                out += struct.pack("<I", len(v)) + b"".join(struct.pack("<q" if kind == "ints" else "<d", x) for x in v)
            else:
                dtype, shape, data = v
                out += bytes([dtype]) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<q", d) for d in shape)
                out += struct.pack("<Q", len(data)) + data
    return hashlib.sha256(bytes(out)).hexdigest()


NODES = [
    ("placeholder", [], {"name": ("s", "x")}),
    ("constant", [], {"value": ("tensor", (pb.FLOAT64, [2], np.array([1.5, -2.0]).tobytes()))}),
    ("mul", [0, 1], {}),
    ("sum", [2], {"axes": ("none", True), "keepdims": ("b", False)}),
    ("slice", [2], {"starts": ("ints", [0]), "stops": ("ints", [2**62]), "steps": ("ints", [1])}),
    ("pow_scalar", [4], {"exponent": ("f", 2.0)}),
]


def as_proto(nodes, reverse_attrs: bool = False) -> pb.Graph:
    g = pb.Graph()
    for op, inputs, attrs in nodes:
        n = g.nodes.add(op=op, inputs=inputs)
        for name in (sorted(attrs, reverse=True) if reverse_attrs else sorted(attrs)):
            kind, v = attrs[name]
            a = n.attrs[name]
            if kind == "tensor":
                a.tensor.dtype, a.tensor.shape[:], a.tensor.data = v[0], v[1], v[2]
            elif kind in ("ints", "floats"):
                getattr(a, kind).values[:] = v
            else:
                setattr(a, kind, v)
    return g


def test_part_hash_is_the_spec_and_independent_of_map_order():
    want = spec_hash(NODES)
    assert hashing.part_hash(as_proto(NODES)) == want
    assert hashing.part_hash(as_proto(NODES, reverse_attrs=True)) == want
    changed = [*NODES[:-1], ("pow_scalar", [4], {"exponent": ("f", 3.0)})]
    assert hashing.part_hash(as_proto(changed)) != want


def test_server_answers_with_the_spec_hash_and_takes_it_first(stub, wire):
    g = as_proto(NODES)
    h = spec_hash(NODES)
    x = wire.feeds(x=np.array([3.0, 4.0]))
    by_hash = pb.EvaluateRequest(graph=pb.GraphRef(parts=[pb.GraphPart(hash=h)]), inputs=x, outputs=[3, 5])
    fails(stub.Evaluate, by_hash, grpc.StatusCode.NOT_FOUND)
    full = stub.Evaluate(pb.EvaluateRequest(graph=pb.GraphRef(parts=[pb.GraphPart(graph=g)]), inputs=x,
                                            outputs=[3, 5]))
    assert list(full.info.part_hashes) == [h]
    again = stub.Evaluate(by_hash)
    assert wire.array(again.outputs[0]) == pytest.approx(4.5 - 8.0)
    np.testing.assert_array_equal(wire.array(again.outputs[1]), [20.25, 64.0])


@pytest.mark.parametrize("bad", ["zz", "A" * 64, "0" * 63, "g" * 64])
def test_malformed_part_hash_is_invalid_argument(stub, wire, bad):
    req = pb.EvaluateRequest(graph=pb.GraphRef(parts=[pb.GraphPart(hash=bad)]), outputs=[0])
    err = fails(stub.Evaluate, req, grpc.StatusCode.INVALID_ARGUMENT)
    assert repr(bad) in err.details()
    assert violation(err) == "graph.parts[0].hash"


# --------------------------------------------------------------------------- field violations
def _graph(wire):
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    y = g.add("sum", g.add("mul", x, x), axes=None)
    return g, x, y      # nodes: 0 x, 1 x*x, 2 sum


def _cases(wire):
    g, x, y = _graph(wire)
    feeds = wire.feeds(x=np.array([1.0, 2.0]))
    ref = g.ref()
    return {
        "outputs[1]": ("Evaluate", pb.EvaluateRequest(graph=ref, inputs=feeds, outputs=[y, 7])),
        "wrt[0]": ("Gradient", pb.GradientRequest(graph=ref, inputs=feeds, outputs=[y], wrt=[9])),
        "seeds[0]": ("Gradient", pb.GradientRequest(graph=ref, inputs=feeds, outputs=[y], wrt=[x], seeds=[5])),
        "extra[0]": ("Gradient", pb.GradientRequest(graph=ref, inputs=feeds, outputs=[y], wrt=[x], extra=[3])),
        "primals[0]": ("Jvp", pb.JvpRequest(graph=ref, inputs=feeds, outputs=[y], primals=[4],
                                            tangents=[wire.tensor(np.ones(2))])),
        "output": ("Hessian", pb.HessianRequest(graph=ref, inputs=feeds, output=3, wrt=[x])),
        "known[0].node": ("Evaluate", pb.EvaluateRequest(graph=ref, inputs=feeds, outputs=[y], known=[
            pb.KnownValue(node=8, value=wire.tensor(np.ones(2)))])),
        "inputs[z]": ("Evaluate", pb.EvaluateRequest(graph=ref, inputs={**feeds, **wire.feeds(z=np.ones(1))},
                                                     outputs=[y])),
        "seeds": ("Gradient", pb.GradientRequest(graph=ref, inputs=feeds, outputs=[y], wrt=[x], seeds=[y, y])),
        "tangents": ("Jvp", pb.JvpRequest(graph=ref, inputs=feeds, outputs=[y], primals=[x])),
        "mode": ("Jacobian", pb.JacobianRequest(graph=ref, inputs=feeds, output=y, wrt=[x], mode=17)),
        "graph.nodes[0]": ("Evaluate", pb.EvaluateRequest(graph=ref, outputs=[y])),
    }


CASES = ["outputs[1]", "wrt[0]", "seeds[0]", "extra[0]", "primals[0]", "output", "known[0].node",
         "inputs[z]", "seeds", "tangents", "mode", "graph.nodes[0]"]


@pytest.mark.parametrize("field", CASES)
def test_every_validation_error_names_its_field(stub, wire, field):
    method, req = _cases(wire)[field]
    err = fails(getattr(stub, method), req, grpc.StatusCode.INVALID_ARGUMENT)
    assert violation(err) == field


# --------------------------------------------------------------------------- catalogue, dtypes, slices
def test_every_op_and_attribute_in_list_ops_has_a_doc(stub):
    ops = stub.ListOps(pb.ListOpsRequest()).ops
    assert len(ops) > 50
    empty = [op.name for op in ops if not op.doc.strip()]
    empty += [f"{op.name}.{a.name}" for op in ops for a in op.attrs if not a.doc.strip()]
    assert empty == []


@pytest.mark.parametrize("name", ["float64", "FLOAT64", "int32", "INT32", "BOOL", "uint8", "INT8", "int16", "FLOAT16"])
def test_cast_takes_dtype_names_as_the_schema_spells_them(stub, wire, name):
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    c = g.add("cast", x, dtype=name)
    r = stub.Evaluate(pb.EvaluateRequest(graph=g.ref(), inputs=wire.feeds(x=np.array([1.5, 0.0], np.float32)),
                                         outputs=[c]))
    assert pb.DType.Name(r.outputs[0].dtype) == name.upper()


def test_cast_to_an_unknown_dtype_names_the_node(stub, wire):
    g = wire.GraphBuilder()
    c = g.add("cast", g.placeholder("x"), dtype="Float64")
    err = fails(stub.Evaluate, pb.EvaluateRequest(graph=g.ref(), inputs=wire.feeds(x=np.ones(1)), outputs=[c]),
                grpc.StatusCode.INVALID_ARGUMENT)
    assert violation(err) == "graph.nodes[1]" and "unknown dtype 'Float64'" in err.details()


@pytest.mark.parametrize("key", [slice(None, None, 1), slice(None, None, -1), slice(2, None, 1),
                                 slice(None, 1, -1), slice(-2, None, -2)])
def test_open_slice_bounds(stub, wire, key):
    """An open bound is one past the dimension (±2**62), clamped as Python's slice.indices does."""
    big = 2**62
    start = key.start if key.start is not None else (-big if key.step > 0 else big)
    stop = key.stop if key.stop is not None else (big if key.step > 0 else -big)
    g = wire.GraphBuilder()
    s = g.add("slice", g.placeholder("x"), starts=[start], stops=[stop], steps=[key.step])
    x = np.arange(5.0)
    r = stub.Evaluate(pb.EvaluateRequest(graph=g.ref(), inputs=wire.feeds(x=x), outputs=[s]))
    np.testing.assert_array_equal(wire.array(r.outputs[0]), x[key])


def test_jacobian_mode_zero_is_unspecified_and_means_auto():
    assert pb.JacobianMode.Name(0) == "JACOBIAN_MODE_UNSPECIFIED"
    assert pb.DType.Name(0) == "DTYPE_UNSPECIFIED"


def test_dtype_enum_values_are_never_renumbered():
    """New dtypes are appended: a value once given keeps its number (old clients and stored hashes)."""
    assert {pb.DType.Name(v): v for v in pb.DType.values()} == {
        "DTYPE_UNSPECIFIED": 0, "FLOAT32": 1, "FLOAT64": 2, "INT32": 3, "INT64": 4, "BOOL": 5,
        "UINT8": 6, "INT8": 7, "INT16": 8, "FLOAT16": 9}
