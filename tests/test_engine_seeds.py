"""Every computation of the course notes (PyTorch autograd walk-throughs), at engine level."""
from __future__ import annotations

import numpy as np
import pytest

from gradwire.engine import GraphError, Node, evaluate, gradient, jacobian
from graphs import G, close, extend

X4 = np.arange(4.0, dtype=np.float32)  # torch.arange(4.0)


def test_two_x_dot_x_is_28_with_gradient_4x():
    g = G()
    x = g.ph("x")
    y = g.op("mul", g.const(2.0, np.float32), g.op("dot", x, x))
    r = gradient(g.graph, {"x": X4}, [y], [x])
    assert r.values[0] == 28.0 and r.values[0].dtype == np.float32
    np.testing.assert_array_equal(r.gradients[0], 4 * X4)
    assert r.gradients[0].dtype == np.float32 and r.unused == [False]


def test_sum_gives_ones():
    g = G()
    x = g.ph("x")
    y = g.op("sum", x)
    r = gradient(g.graph, {"x": X4}, [y], [x])
    np.testing.assert_array_equal(r.gradients[0], np.ones(4, np.float32))


def test_x_times_x_with_ones_seed_is_2x_and_needs_a_seed():
    g = G()
    x = g.ph("x")
    y = g.op("mul", x, x)
    ones = g.op("ones_like", y)
    r = gradient(g.graph, {"x": X4}, [y], [x], seeds=[ones])
    np.testing.assert_array_equal(r.gradients[0], 2 * X4)
    total = g.op("sum", y)
    r = gradient(g.graph, {"x": X4}, [total], [x])  # y.sum().backward()
    np.testing.assert_array_equal(r.gradients[0], 2 * X4)
    with pytest.raises(GraphError, match="grad can be implicitly created only for scalar outputs") as e:
        gradient(g.graph, {"x": X4}, [y], [x])
    assert e.value.node == y and e.value.code == "INVALID_ARGUMENT"


def test_detach_treats_u_as_a_constant():
    g = G()
    x = g.ph("x")
    y = g.op("mul", x, x)
    u = g.op("stop_gradient", y)
    z = g.op("sum", g.op("mul", u, x))
    r = gradient(g.graph, {"x": X4}, [z], [x], extra=[u])
    np.testing.assert_array_equal(r.gradients[0], X4 * X4)  # x.grad == u
    np.testing.assert_array_equal(r.extra[0], X4 * X4)
    # y itself is still differentiable: y.sum().backward() -> 2x
    total = g.op("sum", y)
    r = gradient(g.graph, {"x": X4}, [total], [x])
    np.testing.assert_array_equal(r.gradients[0], 2 * X4)


def control_flow_graph(a: float):
    """f(a) from the notes, recorded as the graph PyTorch would record for this a:
    b = 2a; while ||b|| < 1000: b = 2b; c = b if sum(b) > 0 else 100 b."""
    g = G()
    ai = g.ph("a")
    two = g.const(2.0, np.float32)
    b, bv = g.op("mul", ai, two), np.float32(a) * 2
    while np.linalg.norm(bv) < 1000:  # the Python loop decides how far to unroll
        b, bv = g.op("mul", two, b), bv * 2
    if bv.sum() > 0:
        c = b
    else:
        c = g.op("mul", g.const(100.0, np.float32), b)
    return g.graph, ai, c


@pytest.mark.parametrize("a", [0.3, -1.7, 2.5e-3, -800.0, 1500.0])
def test_control_flow_gradient_is_d_over_a(a):
    graph, ai, c = control_flow_graph(a)
    av = np.array(a, np.float32)
    r = gradient(graph, {"a": av}, [c], [ai])
    d = r.values[0]
    assert r.gradients[0] == d / av  # a.grad == d / a, exactly (powers of two and 100)


def test_sin_gradient_is_cos_on_linspace():
    x = np.linspace(-2 * np.pi, 2 * np.pi, 200).astype(np.float32)
    g = G()
    xi = g.ph("x")
    y = g.op("sin", xi)
    ones = g.op("ones_like", y)
    r = gradient(g.graph, {"x": x}, [y], [xi], seeds=[ones])  # y.backward(torch.ones_like(x))
    close(r.values[0], np.sin(x.astype(np.float64)), rtol=1e-6, atol=1e-6)
    close(r.gradients[0], np.cos(x.astype(np.float64)), rtol=1e-6, atol=1e-6)


def test_linear_plus_square_partials():
    g = G()
    x1, x2, x3 = g.ph("x1"), g.ph("x2"), g.ph("x3")
    y = g.op("add", g.op("add", g.op("mul", g.const(2.0), x1), g.op("mul", g.const(5.0), x2)),
             g.op("pow_scalar", x3, exponent=2.0))
    feeds = {"x1": np.array(3.0), "x2": np.array(4.0), "x3": np.array(2.0)}
    r = gradient(g.graph, feeds, [y], [x1, x2, x3])
    assert r.values[0] == 2 * 3 + 5 * 4 + 2 ** 2
    assert [float(v) for v in r.gradients] == [2.0, 5.0, 4.0]


A = np.random.default_rng(1).standard_normal((3, 4))
XV = np.random.default_rng(2).standard_normal(4)


def test_jacobian_of_ax_is_a():
    g = G()
    x = g.ph("x")
    y = g.op("matmul", g.const(A), x)
    _, (j,) = jacobian(g.graph, {"x": XV}, y, [x])
    close(j, A)


def test_gradient_of_xt_a_is_a_transposed():
    g = G()
    x = g.ph("x")  # x in R^3, x^T A in R^4: the Jacobian (4 x 3) is A^T
    y = g.op("matmul", x, g.const(A))
    _, (j,) = jacobian(g.graph, {"x": np.ones(3)}, y, [x], mode="forward")
    close(j, A.T)


def test_gradient_of_quadratic_form_is_a_plus_at_x():
    sq = np.random.default_rng(3).standard_normal((4, 4))
    g = G()
    x = g.ph("x")
    y = g.op("dot", x, g.op("matmul", g.const(sq), x))
    r = gradient(g.graph, {"x": XV}, [y], [x])
    close(r.gradients[0], (sq + sq.T) @ XV)


def test_gradient_of_squared_norm_is_2x():
    g = G()
    x = g.ph("x")
    y = g.op("pow_scalar", g.op("norm", x), exponent=2.0)
    r = gradient(g.graph, {"x": XV}, [y], [x])
    close(r.gradients[0], 2 * XV)
    y = g.op("dot", x, x)
    r = gradient(g.graph, {"x": XV}, [y], [x])
    close(r.gradients[0], 2 * XV)


def test_a_node_used_several_times_sums_its_gradients():
    g = G()
    x = g.ph("x")
    s = g.op("sin", x)
    y = g.op("sum", g.op("add", g.op("mul", s, s), g.op("mul", s, x)))  # s used three times
    xv = np.array([0.3, -1.2, 2.0])
    r = gradient(g.graph, {"x": xv}, [y], [x])
    close(r.gradients[0], 2 * np.sin(xv) * np.cos(xv) + np.cos(xv) * xv + np.sin(xv))
    # and several outputs with seeds: their contributions add up
    seeds = [g.op("ones_like", s), g.op("ones_like", s)]
    r = gradient(g.graph, {"x": xv}, [s, s], [x], seeds=seeds)
    close(r.gradients[0], 2 * np.cos(xv))


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_int_and_bool_paths_carry_no_gradient(dtype):
    g = G()
    x = g.ph("x")
    n = g.ph("n")
    through_int = g.op("cast", g.op("cast", x, dtype=dtype), dtype="float64")
    y = g.op("sum", g.op("add", g.op("mul", through_int, x), g.op("cast", n, dtype="float64")))
    xv, nv = np.array([1.5, 2.5]), np.array([1, 0]).astype(dtype)
    r = gradient(g.graph, {"x": xv, "n": nv}, [y], [x, n])
    close(r.gradients[0], xv.astype(dtype).astype(np.float64))  # only the direct use of x
    assert r.gradients[1].dtype == np.dtype(dtype) and r.gradients[1].shape == (2,)
    np.testing.assert_array_equal(r.gradients[1], np.zeros(2, dtype))
    assert r.unused == [False, True]


def test_int_wrt_gets_no_gradient_through_float_ops():
    """An int tensor cannot require grad in PyTorch: mixing it into float math gives it no gradient."""
    g = G()
    n = g.ph("n")
    y = g.op("sum", g.op("mul", n, g.const(np.array([0.5, 2.5]))))
    r = gradient(g.graph, {"n": np.array([3, 4], np.int64)}, [y], [n])
    assert r.unused == [True]
    np.testing.assert_array_equal(r.gradients[0], np.zeros(2, np.int64))


def test_unused_wrt_gets_zeros_and_the_flag():
    g = G()
    x, w = g.ph("x"), g.ph("w")
    y = g.op("sum", g.op("exp", x))
    r = gradient(g.graph, {"x": np.zeros(2), "w": np.ones((2, 3), np.float32)}, [y], [w, x])
    assert r.unused == [True, False]
    assert r.gradients[0].shape == (2, 3) and r.gradients[0].dtype == np.float32
    np.testing.assert_array_equal(r.gradients[0], 0)
    close(r.gradients[1], np.ones(2))


def test_gradient_returns_a_graph_that_can_be_differentiated_again():
    g = G()
    x = g.ph("x")
    y = g.op("mul", g.const(2.0, np.float32), g.op("dot", x, x))
    r = gradient(g.graph, {"x": X4}, [y], [x], create_graph=True)
    g2, (s,) = extend(r.grad_graph, Node("sum", (r.gradient_nodes[0],), {}))
    np.testing.assert_array_equal(evaluate(r.grad_graph, {"x": X4}, r.gradient_nodes).values[0], 4 * X4)
    r2 = gradient(g2, {"x": X4}, [s], [x])
    np.testing.assert_array_equal(r2.gradients[0], np.full(4, 4.0, np.float32))  # d/dx sum(4x) = 4


def test_int_primal_has_no_tangent():
    from gradwire.engine import jvp
    g = G()
    n, x = g.ph("n"), g.ph("x")
    y = g.op("mul", n, x)
    r = jvp(g.graph, {"n": np.array([2, 3]), "x": np.array([1.0, 2.0])}, [y], [n, x],
            [np.array([1, 1]), np.array([1.0, 1.0])])
    close(r.tangents[0], [2.0, 3.0])  # only x's tangent moves y
