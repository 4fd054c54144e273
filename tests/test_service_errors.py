"""Each status code the schema promises, checked exactly, with BadRequest details naming the field."""
from __future__ import annotations

import logging

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from gradwire.core import codec
from gradwire.service.config import ServerConfig
from gradwire.v1 import gradwire_pb2 as pb
from gradwire.v1 import gradwire_pb2_grpc as pb_grpc


def fails(call, request, code: grpc.StatusCode, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(request, **kwargs)
    assert err.value.code() is code, err.value.details()
    return err.value


def violation(err: grpc.RpcError) -> str:
    """The field named by the status's google.rpc.BadRequest detail."""
    status = rpc_status.from_call(err)
    (detail,) = status.details
    bad = error_details_pb2.BadRequest()
    assert detail.Unpack(bad)
    (v,) = bad.field_violations
    return v.field


def evaluate(graph: pb.GraphRef, outputs, **inputs) -> pb.EvaluateRequest:
    return pb.EvaluateRequest(graph=graph, outputs=outputs, inputs={
        name: codec.tensor_to_proto(np.asarray(a)) for name, a in inputs.items()})


def test_unknown_op_is_unimplemented_and_names_the_node(stub, wire):
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    bad = g.add("frobnicate", x)
    err = fails(stub.Evaluate, evaluate(g.ref(), [bad], x=np.ones(2)),
                grpc.StatusCode.UNIMPLEMENTED)
    assert f"node {bad}" in err.details() and "frobnicate" in err.details()
    assert violation(err) == f"graph.nodes[{bad}]"


def test_shape_mismatch_names_node_and_op(stub, wire):
    g = wire.GraphBuilder()
    a, b = g.placeholder("a"), g.placeholder("b")
    mm = g.add("matmul", a, b)
    err = fails(stub.Evaluate, evaluate(g.ref(), [mm], a=np.ones((3, 4)), b=np.ones((3, 4))),
                grpc.StatusCode.INVALID_ARGUMENT)
    assert f"node {mm} (matmul)" in err.details()
    assert violation(err) == f"graph.nodes[{mm}]"


def test_forward_reference_is_invalid(stub, wire):
    g = wire.GraphBuilder()
    g.placeholder("x")
    g.add("neg", 2)
    g.add("neg", 0)
    err = fails(stub.Evaluate, evaluate(g.ref(), [1], x=np.ones(2)),
                grpc.StatusCode.INVALID_ARGUMENT)
    assert "node 1" in err.details()


@pytest.mark.parametrize("tensor, needle", [
    (pb.Tensor(dtype=pb.FLOAT64, shape=[3], data=b"\0" * 16), "bytes"),
    (pb.Tensor(dtype=pb.DTYPE_UNSPECIFIED, shape=[1], data=b"\0" * 4), "dtype"),
    (pb.Tensor(dtype=pb.BOOL, shape=[2], data=b"\x00\x07"), "bool"),
], ids=["short-data", "no-dtype", "bad-bool"])
def test_malformed_tensor_is_invalid_and_names_the_input(stub, wire, tensor, needle):
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    req = pb.EvaluateRequest(graph=g.ref(), inputs={"x": tensor}, outputs=[x])
    err = fails(stub.Evaluate, req, grpc.StatusCode.INVALID_ARGUMENT)
    assert needle in err.details()
    assert violation(err) == "inputs[x]"


def test_malformed_constant_names_the_node_attribute(stub, wire):
    g = wire.GraphBuilder()
    node = g.graph.nodes.add(op="constant")
    node.attrs["value"].tensor.CopyFrom(pb.Tensor(dtype=pb.FLOAT32, shape=[2], data=b"\0"))
    err = fails(stub.Evaluate, pb.EvaluateRequest(graph=g.ref(), outputs=[0]),
                grpc.StatusCode.INVALID_ARGUMENT)
    assert violation(err) == "graph.nodes[0].attrs[value]"


@pytest.mark.parametrize("case", ["missing-input", "output-out-of-range", "implicit-seed",
                                  "empty-part", "jacobian-mode", "tangent-count"])
def test_user_mistakes_are_invalid_argument(stub, wire, case):
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    y = g.add("exp", x)
    ones = wire.feeds(x=np.ones(3))
    call, req = {
        "missing-input": (stub.Evaluate, pb.EvaluateRequest(graph=g.ref(), outputs=[y])),
        "output-out-of-range": (stub.Evaluate,
                                pb.EvaluateRequest(graph=g.ref(), inputs=ones, outputs=[9])),
        "implicit-seed": (stub.Gradient, pb.GradientRequest(graph=g.ref(), inputs=ones,
                                                            outputs=[y], wrt=[x])),
        "empty-part": (stub.Evaluate, pb.EvaluateRequest(
            graph=pb.GraphRef(parts=[pb.GraphPart()]), inputs=ones, outputs=[0])),
        "jacobian-mode": (stub.Jacobian, pb.JacobianRequest(graph=g.ref(), inputs=ones,
                                                            output=y, wrt=[x], mode=7)),
        "tangent-count": (stub.Jvp, pb.JvpRequest(graph=g.ref(), inputs=ones, outputs=[y],
                                                  primals=[x])),
    }[case]
    err = fails(call, req, grpc.StatusCode.INVALID_ARGUMENT)
    assert err.details()


def test_garbage_request_bytes_are_invalid_argument(channel):
    """grpc answers INTERNAL when a deserializer fails; ours hands the handler a marker instead."""
    raw = channel.unary_unary("/gradwire.v1.Autodiff/Evaluate")
    err = fails(raw, b"\xff\xff\xff\xff", grpc.StatusCode.INVALID_ARGUMENT)
    assert "EvaluateRequest" in err.details()


@pytest.fixture(scope="module")
def small(serve):
    """A server with tiny limits (module-wide, started once)."""
    config = ServerConfig(max_nodes=50, max_tensor_elements=1000, max_intermediate_elements=5000,
                          max_message_bytes=64 << 10, max_request_bytes=20 << 10,
                          warm_up=False)
    with serve(config) as (target, _), grpc.insecure_channel(target) as ch:
        yield pb_grpc.AutodiffStub(ch)


def test_too_many_nodes(small, wire):
    g = wire.GraphBuilder()
    y = g.placeholder("x")
    for _ in range(60):
        y = g.add("neg", y)
    err = fails(small.Evaluate, evaluate(g.ref(), [y], x=np.ones(2)),
                grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert "50" in err.details()


def test_too_many_elements_in_an_input(small, wire):
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    err = fails(small.Evaluate, evaluate(g.ref(), [x], x=np.ones(1001, np.float32)),
                grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert "inputs[x]" in err.details()


def test_too_many_elements_in_a_constant(small, wire):
    g = wire.GraphBuilder()
    c = g.constant(np.ones(1001, np.float32))
    fails(small.Evaluate, evaluate(g.ref(), [c]), grpc.StatusCode.RESOURCE_EXHAUSTED)


def test_intermediate_over_the_limit_fails_before_computing(small, wire):
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    big = g.add("broadcast_to", x, shape=(1000, 100))
    err = fails(small.Evaluate, evaluate(g.ref(), [big], x=np.ones(100)),
                grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert f"node {big}" in err.details()


def test_message_over_the_grpc_cap(small, wire):
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    # 900 elements pass the element limit; 900 * 80 bytes of padding in other inputs do not.
    pad = {f"p{k}": np.ones(900) for k in range(12)}
    fails(small.Evaluate, evaluate(g.ref(), [x], x=np.ones(3), **pad),
          grpc.StatusCode.RESOURCE_EXHAUSTED)


def test_response_over_the_grpc_cap(small, wire):
    """The cap holds for what the server sends too: two 40 KB outputs exceed 64 KiB. A caller without an
    identity cannot read them by handle (GetValue), so the answer is the limit, named."""
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    big = g.add("broadcast_to", x, shape=(50, 100))
    err = fails(small.Evaluate, evaluate(g.ref(), [big, big], x=np.ones(100)),
                grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert "larger than one response may carry" in err.details() and "--max-message-bytes" in err.details()


def test_request_over_the_byte_limit_once_hash_parts_resolve(small, wire):
    """Each part alone fits; sent by hash, three of them together exceed max_request_bytes."""
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    c = g.constant(np.ones(900))  # ~7.2 KB
    y = g.add("add", x, c)
    ok = small.Evaluate(evaluate(g.ref(), [y], x=np.ones(900)))
    (h,) = ok.info.part_hashes
    tripled = pb.GraphRef(parts=[pb.GraphPart(hash=h)] * 3)
    err = fails(small.Evaluate, evaluate(tripled, [y], x=np.ones(900)),
                grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert "bytes" in err.details()


def test_a_bug_of_ours_is_internal_with_a_request_id_and_no_traceback(caplog):
    """Real plumbing, real gRPC, with a service whose Evaluate is broken on purpose."""
    from concurrent.futures import ThreadPoolExecutor

    from gradwire.service.admission import Admission
    from gradwire.service.metrics import Metrics
    from gradwire.service.parts import PartCache
    from gradwire.service.rpc import autodiff_handler
    from gradwire.service.servicer import AutodiffService

    class Broken(AutodiffService):
        def Evaluate(self, req, cancel):
            return {}["secret-internal-detail"]

    config = ServerConfig(warm_up=False)
    parts, admission = PartCache(8, 1 << 20), Admission(1, 1)
    metrics = Metrics(parts, admission)
    server = grpc.server(ThreadPoolExecutor(2), handlers=[
        autodiff_handler(Broken(config, parts), admission, metrics)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch, \
                caplog.at_level(logging.ERROR, logger="gradwire.service"):
            err = fails(pb_grpc.AutodiffStub(ch).Evaluate, pb.EvaluateRequest(),
                        grpc.StatusCode.INTERNAL, metadata=[("x-request-id", "req-42")])
    finally:
        server.stop(0)
        metrics.close()
    assert "req-42" in err.details()
    assert "secret" not in err.details() and "Traceback" not in err.details()
    assert ("x-request-id", "req-42") in tuple(err.trailing_metadata())
    assert any("req-42" in r.getMessage() and r.exc_info for r in caplog.records)
