"""Every Autodiff RPC over real gRPC, checked against NumPy formulas and central differences."""
from __future__ import annotations

import grpc
import numpy as np
import pytest

from gradwire import engine
from gradwire.core import codec
from gradwire.service.config import ServerConfig
from gradwire.v1 import gradwire_pb2 as pb
from gradwire.v1 import gradwire_pb2_grpc as pb_grpc

rng = np.random.default_rng(7)
X = rng.standard_normal((3, 4))
W = rng.standard_normal((4, 2))


def numeric_jacobian(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f(x) / d x by central differences: shape f(x).shape + x.shape."""
    out = np.zeros(np.shape(f(x)) + x.shape)
    for idx in np.ndindex(*x.shape):
        d = np.zeros_like(x)
        d[idx] = eps
        out[(Ellipsis,) + idx] = (f(x + d) - f(x - d)) / (2 * eps)
    return out


def mlp(wire):
    """a = tanh(x @ w); s = sum(a); the wire graph and its NumPy twin."""
    g = wire.GraphBuilder()
    ids = {"x": g.placeholder("x"), "w": g.placeholder("w")}
    ids["h"] = g.add("matmul", ids["x"], ids["w"])
    ids["a"] = g.add("tanh", ids["h"])
    ids["s"] = g.add("sum", ids["a"], axes=None)
    return g, ids


def a_of(x, w):
    return np.tanh(x @ w)


def test_evaluate_matches_numpy(stub, wire):
    g, n = mlp(wire)
    r = stub.Evaluate(pb.EvaluateRequest(graph=g.ref(), inputs=wire.feeds(x=X, w=W),
                                         outputs=[n["a"], n["s"], n["h"]]))
    a, s, h = (wire.array(t) for t in r.outputs)
    np.testing.assert_allclose(a, a_of(X, W), rtol=1e-12)
    np.testing.assert_allclose(s, a_of(X, W).sum(), rtol=1e-12)
    np.testing.assert_allclose(h, X @ W, rtol=1e-12)
    assert s.shape == () and a.dtype == np.float64
    assert len(r.info.part_hashes) == 1 and not r.HasField("anomaly")


def test_evaluate_float32_broadcasting_and_constants(stub, wire):
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    c = g.constant(np.array([1.0, 2.0, 3.0], np.float32))
    y = g.add("mul", g.add("exp", x), c)
    x32 = rng.standard_normal((2, 3)).astype(np.float32)
    r = stub.Evaluate(pb.EvaluateRequest(graph=g.ref(), inputs=wire.feeds(x=x32), outputs=[y]))
    out = wire.array(r.outputs[0])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.exp(x32) * np.array([1, 2, 3], np.float32), rtol=1e-6)


def test_known_value_replaces_a_node(stub, wire):
    g, n = mlp(wire)
    h = rng.standard_normal((3, 2))
    r = stub.Evaluate(pb.EvaluateRequest(
        graph=g.ref(), inputs=wire.feeds(x=X, w=W), outputs=[n["a"]],
        known=[pb.KnownValue(node=n["h"], value=wire.tensor(h))]))
    np.testing.assert_allclose(wire.array(r.outputs[0]), np.tanh(h), rtol=1e-12)


def test_gradient_of_scalar_matches_finite_differences(stub, wire):
    g, n = mlp(wire)
    r = stub.Gradient(pb.GradientRequest(graph=g.ref(), inputs=wire.feeds(x=X, w=W),
                                         outputs=[n["s"]], wrt=[n["x"], n["w"]], extra=[n["h"]]))
    gx, gw = (wire.array(t) for t in r.gradients)
    np.testing.assert_allclose(gx, numeric_jacobian(lambda x: a_of(x, W).sum(), X), atol=1e-7)
    np.testing.assert_allclose(gw, numeric_jacobian(lambda w: a_of(X, w).sum(), W), atol=1e-7)
    np.testing.assert_allclose(wire.array(r.values[0]), a_of(X, W).sum(), rtol=1e-12)
    np.testing.assert_allclose(wire.array(r.extra[0]), X @ W, rtol=1e-12)
    assert list(r.unused) == [False, False] and not r.HasField("grad_graph")


def test_gradient_with_seed_nodes_is_a_vjp(stub, wire):
    g, n = mlp(wire)
    seed = g.placeholder("g")
    cot = rng.standard_normal((3, 2))
    r = stub.Gradient(pb.GradientRequest(graph=g.ref(), inputs=wire.feeds(x=X, w=W, g=cot),
                                         outputs=[n["a"]], seeds=[seed], wrt=[n["x"], n["w"]]))
    dh = cot * (1 - a_of(X, W) ** 2)
    np.testing.assert_allclose(wire.array(r.gradients[0]), dh @ W.T, rtol=1e-10)
    np.testing.assert_allclose(wire.array(r.gradients[1]), X.T @ dh, rtol=1e-10)


def test_unused_wrt_gets_zeros(stub, wire):
    g, n = mlp(wire)
    z = g.placeholder("z")
    r = stub.Gradient(pb.GradientRequest(graph=g.ref(), inputs=wire.feeds(x=X, w=W, z=np.ones(5)),
                                         outputs=[n["s"]], wrt=[z, n["w"]]))
    assert list(r.unused) == [True, False]
    np.testing.assert_array_equal(wire.array(r.gradients[0]), np.zeros(5))


def test_create_graph_gives_a_differentiable_gradient_graph(stub, wire):
    """d/dx sum(sin x) = cos x as graph nodes; differentiating sum(cos x) again gives -sin x."""
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    s = g.add("sum", g.add("sin", x), axes=None)
    xv = rng.standard_normal(5)
    r = stub.Gradient(pb.GradientRequest(graph=g.ref(), inputs=wire.feeds(x=xv), outputs=[s],
                                         wrt=[x], create_graph=True))
    np.testing.assert_allclose(wire.array(r.gradients[0]), np.cos(xv), rtol=1e-12)
    (gnode,) = r.gradient_nodes
    # Append a node in a second part: node ids are global over the concatenated parts.
    tail = wire.GraphBuilder()
    tail.add("sum", gnode, axes=None)
    total = len(r.grad_graph.nodes)
    ref = pb.GraphRef(parts=[pb.GraphPart(graph=r.grad_graph), pb.GraphPart(graph=tail.graph)])
    r2 = stub.Gradient(pb.GradientRequest(graph=ref, inputs=wire.feeds(x=xv), outputs=[total],
                                          wrt=[x]))
    np.testing.assert_allclose(wire.array(r2.values[0]), np.cos(xv).sum(), rtol=1e-12)
    np.testing.assert_allclose(wire.array(r2.gradients[0]), -np.sin(xv), rtol=1e-12)
    assert len(r2.info.part_hashes) == 2


def test_jvp_matches_directional_finite_difference(stub, wire):
    g, n = mlp(wire)
    tx, tw = rng.standard_normal(X.shape), rng.standard_normal(W.shape)
    r = stub.Jvp(pb.JvpRequest(graph=g.ref(), inputs=wire.feeds(x=X, w=W),
                               outputs=[n["a"], n["s"]], primals=[n["x"], n["w"]],
                               tangents=[wire.tensor(tx), wire.tensor(tw)]))
    eps = 1e-6
    fd = (a_of(X + eps * tx, W + eps * tw) - a_of(X - eps * tx, W - eps * tw)) / (2 * eps)
    np.testing.assert_allclose(wire.array(r.tangents[0]), fd, atol=1e-7)
    np.testing.assert_allclose(wire.array(r.tangents[1]), fd.sum(), atol=1e-7)
    np.testing.assert_allclose(wire.array(r.values[0]), a_of(X, W), rtol=1e-12)


@pytest.mark.parametrize("mode", [pb.JACOBIAN_MODE_UNSPECIFIED, pb.JACOBIAN_MODE_AUTO, pb.JACOBIAN_MODE_REVERSE, pb.JACOBIAN_MODE_FORWARD])
def test_jacobian_every_mode_matches_finite_differences(stub, wire, mode):
    g, n = mlp(wire)
    r = stub.Jacobian(pb.JacobianRequest(graph=g.ref(), inputs=wire.feeds(x=X, w=W),
                                         output=n["a"], wrt=[n["x"], n["w"]], mode=mode))
    jx, jw = (wire.array(t) for t in r.jacobians)
    assert jx.shape == (3, 2, 3, 4) and jw.shape == (3, 2, 4, 2)
    np.testing.assert_allclose(jx, numeric_jacobian(lambda x: a_of(x, W), X), atol=1e-7)
    np.testing.assert_allclose(jw, numeric_jacobian(lambda w: a_of(X, w), W), atol=1e-7)
    np.testing.assert_allclose(wire.array(r.value), a_of(X, W), rtol=1e-12)


def test_hessian_blocks_match_finite_differences_of_the_gradient(stub, wire):
    g, n = mlp(wire)
    r = stub.Hessian(pb.HessianRequest(graph=g.ref(), inputs=wire.feeds(x=X, w=W),
                                       output=n["s"], wrt=[n["x"], n["w"]]))
    blocks = [wire.array(t) for t in r.blocks]
    # NumPy gradient of s = sum(tanh(x @ w)), differenced once more.
    def grad_x(x, w):
        return (1 - a_of(x, w) ** 2) @ w.T

    def grad_w(x, w):
        return x.T @ (1 - a_of(x, w) ** 2)
    expected = [numeric_jacobian(lambda x: grad_x(x, W), X),
                numeric_jacobian(lambda w: grad_x(X, w), W),
                numeric_jacobian(lambda x: grad_w(x, W), X),
                numeric_jacobian(lambda w: grad_w(X, w), W)]
    assert [b.shape for b in blocks] == [(3, 4, 3, 4), (3, 4, 4, 2), (4, 2, 3, 4), (4, 2, 4, 2)]
    for got, want in zip(blocks, expected):
        np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(wire.array(r.value), a_of(X, W).sum(), rtol=1e-12)


def test_check_gradients_agrees_with_numpy(stub, wire):
    g, n = mlp(wire)
    r = stub.CheckGradients(pb.GradCheckRequest(graph=g.ref(), inputs=wire.feeds(x=X, w=W),
                                                output=n["s"], wrt=[n["x"], n["w"]]))
    assert r.ok and [res.node for res in r.results] == [n["x"], n["w"]]
    gx = (1 - a_of(X, W) ** 2) @ W.T
    res = r.results[0]
    assert res.ok and res.max_abs_error < 1e-5
    np.testing.assert_allclose(wire.array(res.analytic), gx, rtol=1e-10)
    np.testing.assert_allclose(wire.array(res.numeric), gx, atol=1e-6)


def test_anomaly_names_the_first_non_finite_node(stub, wire):
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    lg = g.add("log", x)
    s = g.add("sum", g.add("mul", lg, x), axes=None)
    xv = np.array([1.0, -1.0, 2.0])
    req = pb.EvaluateRequest(graph=g.ref(), inputs=wire.feeds(x=xv), outputs=[s, lg])
    plain = stub.Evaluate(req)
    assert not plain.HasField("anomaly")  # off by default; NaN is a value, not an error
    assert np.isnan(wire.array(plain.outputs[0]))
    np.testing.assert_array_equal(np.isnan(wire.array(plain.outputs[1])), [False, True, False])
    req.options.detect_anomaly = True
    found = stub.Evaluate(req).anomaly
    assert (found.node, found.op, found.phase) == (lg, "log", "forward")
    assert "NaN" in found.message


def test_backward_anomaly_in_gradient(stub, wire):
    g = wire.GraphBuilder()
    x = g.placeholder("x")
    s = g.add("sum", g.add("sqrt", x), axes=None)
    r = stub.Gradient(pb.GradientRequest(graph=g.ref(), inputs=wire.feeds(x=np.array([0.0, 4.0])),
                                         outputs=[s], wrt=[x],
                                         options=pb.Options(detect_anomaly=True)))
    assert r.anomaly.phase == "backward" and r.anomaly.node >= 3
    grad = wire.array(r.gradients[0])
    assert np.isinf(grad[0]) and grad[1] == pytest.approx(0.25)


def test_part_hash_miss_then_hit(stub, wire):
    head = wire.GraphBuilder()
    x = head.placeholder("x")
    e = head.add("exp", x)
    tail = wire.GraphBuilder()
    tail.add("sum", e, axes=None)
    out = 2  # global id: the tail's first node follows the head's two
    xv = rng.standard_normal(4)
    unseen = "0" * 64
    miss = pb.GraphRef(parts=[pb.GraphPart(hash=unseen), pb.GraphPart(graph=tail.graph)])
    with pytest.raises(grpc.RpcError) as err:
        stub.Evaluate(pb.EvaluateRequest(graph=miss, inputs=wire.feeds(x=xv), outputs=[out]))
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    assert "resend" in err.value.details() and unseen in err.value.details()

    full = pb.GraphRef(parts=[pb.GraphPart(graph=head.graph), pb.GraphPart(graph=tail.graph)])
    first = stub.Evaluate(pb.EvaluateRequest(graph=full, inputs=wire.feeds(x=xv), outputs=[out]))
    h_head, h_tail = first.info.part_hashes
    by_hash = pb.GraphRef(parts=[pb.GraphPart(hash=h_head), pb.GraphPart(hash=h_tail)])
    second = stub.Evaluate(pb.EvaluateRequest(graph=by_hash, inputs=wire.feeds(x=xv),
                                              outputs=[out]))
    assert list(second.info.part_hashes) == [h_head, h_tail]
    np.testing.assert_allclose(wire.array(second.outputs[0]), np.exp(xv).sum(), rtol=1e-12)
    np.testing.assert_array_equal(wire.array(second.outputs[0]), wire.array(first.outputs[0]))
    assert second.info.plan_cache_hit  # same graph, same input signature: the compiled plan


def test_part_hashes_are_content_derived_across_replicas(stub, wire, make_server):
    """Any replica computes the same hash for the same part, so hashes survive load balancing."""
    g, n = mlp(wire)
    req = pb.EvaluateRequest(graph=g.ref(), inputs=wire.feeds(x=X, w=W), outputs=[n["s"]])
    other = make_server(ServerConfig(warm_up=False))
    with grpc.insecure_channel(other) as ch:
        theirs = pb_grpc.AutodiffStub(ch).Evaluate(req).info.part_hashes
    assert list(stub.Evaluate(req).info.part_hashes) == list(theirs)


def test_list_ops_and_server_info_describe_the_engine(stub):
    ops = stub.ListOps(pb.ListOpsRequest()).ops
    catalogue = engine.op_catalogue()
    assert [op.name for op in ops] == [op.name for op in catalogue]
    by_name = {op.name: op for op in ops}
    for want in catalogue:
        got = by_name[want.name]
        assert (got.min_inputs, got.max_inputs, got.differentiable, got.composite) == (
            want.min_inputs, want.max_inputs, want.differentiable, want.composite)
        assert [codec.dtype_name(d) for d in got.dtypes] == list(want.dtypes)
        assert [a.name for a in got.attrs] == [a.name for a in want.attrs]
    info = stub.GetServerInfo(pb.ServerInfoRequest())
    defaults = ServerConfig()
    assert info.version and info.engine.startswith("numba ")
    assert [op.name for op in info.ops] == [op.name for op in catalogue]
    assert set(info.dtypes) == set(codec.DTYPES)
    assert (info.limits.max_nodes, info.limits.max_tensor_elements,
            info.limits.max_message_bytes, info.limits.max_concurrent_requests) == (
        defaults.max_nodes, defaults.max_tensor_elements, defaults.max_message_bytes,
        defaults.max_concurrent)
