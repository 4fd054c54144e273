"""Engine-level test helpers: a tiny graph builder and float64 numeric oracles (finite differences)."""
from __future__ import annotations

import numpy as np

from gradwire.engine import Graph, Node


class G:
    """Appends engine nodes and returns their ids: `x = g.ph("x"); y = g.op("mul", x, x)`."""

    def __init__(self):
        self.nodes: list[Node] = []

    def op(self, op_name: str, *inputs: int, **attrs) -> int:
        self.nodes.append(Node(op_name, tuple(inputs), attrs))
        return len(self.nodes) - 1

    def ph(self, name: str) -> int:
        return self.op("placeholder", name=name)

    def const(self, value, dtype=None) -> int:
        return self.op("constant", value=np.asarray(value, dtype=dtype))

    @property
    def graph(self) -> Graph:
        return Graph(self.nodes)


def extend(graph: Graph, *nodes: Node) -> tuple[Graph, list[int]]:
    """graph with nodes appended; returns the new graph and the appended ids."""
    n = len(graph)
    return Graph(list(graph.nodes) + list(nodes)), list(range(n, n + len(nodes)))


def fd_jacobian(f, args: list[np.ndarray], k: int, eps: float = 1e-6) -> np.ndarray:
    """Central differences in float64: d f(args) / d args[k] as a (out.size, args[k].size) matrix."""
    args = [np.array(a, dtype=np.float64) if a.dtype.kind == "f" else a for a in args]
    out = np.array(f(*args), dtype=np.float64)  # copies: an identity ref returns its input
    x = args[k]
    flat = x.reshape(-1)
    jac = np.zeros((out.size, x.size))
    for i in range(x.size):
        old = flat[i]
        flat[i] = old + eps
        hi = np.array(f(*args), dtype=np.float64).reshape(-1)
        flat[i] = old - eps
        lo = np.array(f(*args), dtype=np.float64).reshape(-1)
        flat[i] = old
        jac[:, i] = (hi - lo) / (2 * eps)
    return jac


def close(actual, expected, *, rtol=1e-5, atol=1e-6, what=""):
    """assert_allclose whose tolerance scales with the expected values' magnitude, NaN == NaN."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected[np.isfinite(expected)]), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, equal_nan=True, err_msg=what)
