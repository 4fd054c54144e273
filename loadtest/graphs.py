"""Graphs and reference results shared by the locust load test and the scale-out test.

Graphs are built as gradwire.v1 protos directly (ops per docs/engine-api.md), so
both exercise the wire protocol without depending on the client library; every
expected value is computed with NumPy in float64.
"""
from __future__ import annotations

import numpy as np

from gradwire.core import codec
from gradwire.v1 import gradwire_pb2 as pb

D_IN, D_HIDDEN, D_OUT = 64, 64, 10
SMALL_N = 16


def node(op: str, *inputs: int, **attrs) -> pb.Node:
    n = pb.Node(op=op, inputs=list(inputs))
    for key, value in attrs.items():
        codec.attr_to_proto(value, n.attrs[key])
    return n


def small_graph() -> pb.Graph:
    """s = sum(tanh(x) * x + 2)"""
    return pb.Graph(nodes=[
        node("placeholder", name="x"),                            # 0
        node("constant", value=np.array(2.0, np.float32)),        # 1
        node("tanh", 0),                                          # 2
        node("mul", 2, 0),                                        # 3
        node("add", 3, 1),                                        # 4
        node("sum", 4, axes=None, keepdims=False),                # 5
    ])


SMALL_OUT = 5


def small_expected(x: np.ndarray) -> float:
    x64 = x.astype(np.float64)
    return float(np.sum(np.tanh(x64) * x64 + 2.0))


def mlp_parts() -> tuple[pb.Graph, pb.Graph]:
    """Two parts: the model body and the loss head (node ids are global)."""
    body = pb.Graph(nodes=[
        node("placeholder", name="x"),        # 0  [B, D_IN]
        node("placeholder", name="w1"),       # 1  [D_IN, D_HIDDEN]
        node("placeholder", name="b1"),       # 2  [D_HIDDEN]
        node("placeholder", name="w2"),       # 3  [D_HIDDEN, D_OUT]
        node("matmul", 0, 1),                 # 4
        node("add", 4, 2),                    # 5
        node("tanh", 5),                      # 6
        node("matmul", 6, 3),                 # 7  [B, D_OUT]
    ])
    head = pb.Graph(nodes=[
        node("placeholder", name="target"),   # 8  [B, D_OUT]
        node("sub", 7, 8),                    # 9
        node("mul", 9, 9),                    # 10
        node("mean", 10, axes=None, keepdims=False),  # 11
    ])
    return body, head


MLP_LOSS, MLP_WRT = 11, (1, 2, 3)


def mlp_expected(inp: dict[str, np.ndarray]):
    x, w1, b1, w2, t = (inp[k].astype(np.float64) for k in ("x", "w1", "b1", "w2", "target"))
    h = np.tanh(x @ w1 + b1)
    r = h @ w2 - t
    loss = np.mean(r * r)
    g_out = 2.0 * r / r.size
    g_w2 = h.T @ g_out
    g_pre = (g_out @ w2.T) * (1.0 - h * h)
    return loss, (x.T @ g_pre, g_pre.sum(axis=0), g_w2)


def close(got: np.ndarray, want: np.ndarray) -> bool:
    want = np.asarray(want)
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=2e-3, atol=1e-4 * max(scale, 1e-3)))


def small_request(x: np.ndarray) -> pb.EvaluateRequest:
    req = pb.EvaluateRequest(graph=pb.GraphRef(parts=[pb.GraphPart(graph=small_graph())]),
                             outputs=[SMALL_OUT])
    codec.tensor_to_proto(x, req.inputs["x"])
    return req


def mlp_inputs(rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    inp = {
        "x": rng.standard_normal((batch, D_IN)),
        "w1": rng.standard_normal((D_IN, D_HIDDEN)) / np.sqrt(D_IN),
        "b1": 0.1 * rng.standard_normal(D_HIDDEN),
        "w2": rng.standard_normal((D_HIDDEN, D_OUT)) / np.sqrt(D_HIDDEN),
        "target": rng.standard_normal((batch, D_OUT)),
    }
    return {k: v.astype(np.float32) for k, v in inp.items()}


def mlp_request(inp: dict[str, np.ndarray], hashes: list[str] | None = None) -> pb.GradientRequest:
    """Gradient of the MLP loss w.r.t. w1, b1, w2; parts in full, or by hash if given."""
    if hashes is None:
        body, head = mlp_parts()
        parts = [pb.GraphPart(graph=body), pb.GraphPart(graph=head)]
    else:
        parts = [pb.GraphPart(hash=h) for h in hashes]
    req = pb.GradientRequest(graph=pb.GraphRef(parts=parts), outputs=[MLP_LOSS], wrt=list(MLP_WRT))
    for key, value in inp.items():
        codec.tensor_to_proto(value, req.inputs[key])
    return req


def check_small(resp: pb.EvaluateResponse, x: np.ndarray) -> str | None:
    """None if the Evaluate response is right, else what is wrong."""
    if len(resp.outputs) != 1:
        return f"expected 1 output, got {len(resp.outputs)}"
    if not close(codec.tensor_from_proto(resp.outputs[0]), np.float64(small_expected(x))):
        return "wrong Evaluate result"
    return None


def check_mlp(resp: pb.GradientResponse, expected) -> str | None:
    """None if the Gradient response matches mlp_expected(...), else what is wrong."""
    loss, grads = expected
    if len(resp.values) != 1 or len(resp.gradients) != len(grads):
        return f"expected 1 value and {len(grads)} gradients, got {len(resp.values)}, {len(resp.gradients)}"
    if not close(codec.tensor_from_proto(resp.values[0]), np.float64(loss)):
        return "wrong loss"
    for k, want in enumerate(grads):
        if not close(codec.tensor_from_proto(resp.gradients[k]), want):
            return f"wrong gradient {k}"
    return None
