"""Every validation error (class, status code, node, reason), limits, long chains, and NaN/Inf as values."""
from __future__ import annotations

import time

import numpy as np
import pytest

from gradwire.engine import Graph, GraphError, LimitError, Limits, Node, UnknownOpError, evaluate, gradient, jvp

F = np.float32


def ph(name):
    return Node("placeholder", (), {"name": name})


def const(v, dtype=F):
    return Node("constant", (), {"value": np.asarray(v, dtype)})


X3 = {"x": np.ones(3, F)}
M23 = {"x": np.ones((2, 3), F)}

# name: (nodes, feeds, error class, code, node, words of the reason)
BAD_GRAPHS = {
    "self reference": ([ph("x"), Node("add", (0, 1))], X3, GraphError, "INVALID_ARGUMENT", 1, "itself"),
    "forward reference": ([ph("x"), Node("neg", (2,)), Node("neg", (0,))], X3, GraphError, "INVALID_ARGUMENT", 1,
                          "later node"),
    "cycle": ([ph("x"), Node("add", (0, 2)), Node("neg", (1,))], X3, GraphError, "INVALID_ARGUMENT", 1, "cycle"),
    "dangling id": ([ph("x"), Node("neg", (7,))], X3, GraphError, "INVALID_ARGUMENT", 1, "not a node"),
    "negative id": ([ph("x"), Node("neg", (-1,))], X3, GraphError, "INVALID_ARGUMENT", 1, "negative"),
    "unknown op": ([ph("x"), Node("frobnicate", (0,))], X3, UnknownOpError, "UNIMPLEMENTED", 1,
                   "unknown op 'frobnicate'"),
    "too few inputs": ([ph("x"), Node("add", (0,))], X3, GraphError, "INVALID_ARGUMENT", 1, "takes 2 inputs, got 1"),
    "too many inputs": ([ph("x"), Node("neg", (0, 0))], X3, GraphError, "INVALID_ARGUMENT", 1, "takes 1 inputs, got 2"),
    "variadic with none": ([ph("x"), Node("concat", ())], X3, GraphError, "INVALID_ARGUMENT", 1, "at least 1"),
    "unknown attribute": ([ph("x"), Node("sum", (0,), {"axis": 0})], X3, GraphError, "INVALID_ARGUMENT", 1,
                          "unknown attribute 'axis'"),
    "missing attribute": ([ph("x"), Node("reshape", (0,))], X3, GraphError, "INVALID_ARGUMENT", 1,
                          "missing required attribute 'shape'"),
    "mistyped int attribute": ([ph("x"), Node("unsqueeze", (0,), {"axis": 1.5})], X3, GraphError,
                               "INVALID_ARGUMENT", 1, "attribute 'axis' must be an int"),
    "bool is not an int": ([ph("x"), Node("unsqueeze", (0,), {"axis": True})], X3, GraphError, "INVALID_ARGUMENT",
                           1, "attribute 'axis' must be an int"),
    "mistyped ints attribute": ([ph("x"), Node("reshape", (0,), {"shape": (3.0,)})], X3, GraphError,
                                "INVALID_ARGUMENT", 1, "attribute 'shape' must be a list of ints"),
    "mistyped bool attribute": ([ph("x"), Node("sum", (0,), {"keepdims": 1})], X3, GraphError, "INVALID_ARGUMENT",
                                1, "attribute 'keepdims' must be a bool"),
    "mistyped string attribute": ([ph("x"), Node("cast", (0,), {"dtype": 3})], X3, GraphError, "INVALID_ARGUMENT",
                                  1, "attribute 'dtype' must be a string"),
    "mistyped float attribute": ([ph("x"), Node("pow_scalar", (0,), {"exponent": "2"})], X3, GraphError,
                                 "INVALID_ARGUMENT", 1, "attribute 'exponent' must be a number"),
    "constant not a tensor": ([Node("constant", (), {"value": [1.0]})], {}, GraphError, "INVALID_ARGUMENT", 0,
                              "attribute 'value' must be a tensor"),
    "unknown cast dtype": ([ph("x"), Node("cast", (0,), {"dtype": "bfloat16"})], X3, GraphError, "INVALID_ARGUMENT",
                           1, "unknown dtype 'bfloat16'"),
    "op dtype": ([ph("x"), Node("gt", (0, 0)), Node("neg", (1,))], X3, GraphError, "INVALID_ARGUMENT", 2,
                 "Negation, the `-` operator, on a bool tensor is not supported"),
    "matmul inner dims": ([ph("x"), Node("matmul", (0, 0))], M23, GraphError, "INVALID_ARGUMENT", 1,
                          "mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)"),
    "matmul 0-d": ([ph("x"), const(1.0), Node("matmul", (0, 1))], X3, GraphError, "INVALID_ARGUMENT", 2,
                   "both arguments to matmul need to be at least 1D"),
    "dot lengths": ([ph("x"), const([1.0, 2.0]), Node("dot", (0, 1))], X3, GraphError, "INVALID_ARGUMENT", 2,
                    "inconsistent tensor size"),
    "dot 2-d": ([ph("x"), Node("dot", (0, 0))], M23, GraphError, "INVALID_ARGUMENT", 1, "1D tensors expected"),
    "broadcast": ([ph("x"), const([1.0, 2.0]), Node("add", (0, 1))], X3, GraphError, "INVALID_ARGUMENT", 2,
                  "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 0"),
    "broadcast_to": ([ph("x"), Node("broadcast_to", (0,), {"shape": (2, 2)})], X3, GraphError,
                     "INVALID_ARGUMENT", 1, "The expanded size of the tensor (2) must match the existing size (3)"),
    "reshape size": ([ph("x"), Node("reshape", (0,), {"shape": (2, 2)})], X3, GraphError, "INVALID_ARGUMENT", 1,
                     "shape '[2, 2]' is invalid for input of size 3"),
    "reshape two -1": ([ph("x"), Node("reshape", (0,), {"shape": (-1, -1)})], X3, GraphError, "INVALID_ARGUMENT",
                       1, "only one dimension can be inferred"),
    "concat mismatch": ([ph("x"), const(np.ones((3, 3))), Node("concat", (0, 1), {"axis": 1})], M23, GraphError,
                        "INVALID_ARGUMENT", 2, "Sizes of tensors must match except in dimension 1. Expected size 2 but got size 3"),
    "concat 0-d": ([ph("x"), Node("concat", (0,))], {"x": np.ones((), F)}, GraphError, "INVALID_ARGUMENT", 1,
                   "zero-dimensional"),
    "stack shapes": ([ph("x"), const([1.0]), Node("stack", (0, 1))], X3, GraphError, "INVALID_ARGUMENT", 2,
                     "stack expects each tensor to be equal size"),
    "where cond dtype": ([ph("x"), Node("where", (0, 0, 0))], X3, GraphError, "INVALID_ARGUMENT", 1,
                         "where expected condition to be a boolean tensor"),
    "axis out of range": ([ph("x"), Node("sum", (0,), {"axes": (1,)})], X3, GraphError, "INVALID_ARGUMENT", 1,
                          "Dimension out of range (expected to be in range of [-1, 0], but got 1)"),
    "dim 0 appears multiple times": ([ph("x"), Node("sum", (0,), {"axes": (0, -2)})], M23, GraphError, "INVALID_ARGUMENT", 1,
                      "dim 0 appears multiple times"),
    "max of empty": ([ph("x"), Node("max", (0,))], {"x": np.ones(0, F)}, GraphError, "INVALID_ARGUMENT", 1,
                     "Expected reduction dim to be specified for input.numel() == 0"),
    "mean of ints": ([ph("x"), Node("mean", (0,))], {"x": np.ones(3, np.int32)}, GraphError, "INVALID_ARGUMENT",
                     1, "mean(): could not infer output dtype"),
    "transpose perm": ([ph("x"), Node("transpose", (0,), {"perm": (0, 0)})], M23, GraphError, "INVALID_ARGUMENT",
                       1, "duplicate dims are not allowed"),
    "slice step 0": ([ph("x"), Node("slice", (0,), {"starts": (0,), "stops": (3,), "steps": (0,)})], X3,
                     GraphError, "INVALID_ARGUMENT", 1, "step cannot be zero"),
    "take float indices": ([ph("x"), Node("take", (0, 0))], X3, GraphError, "INVALID_ARGUMENT", 1,
                           "tensors used as indices must be long, int"),
    "take from 0-d": ([ph("x"), const(0, np.int64), Node("take", (0, 1))], {"x": np.ones((), F)}, GraphError,
                      "INVALID_ARGUMENT", 2, "invalid index of a 0-dim tensor"),
    "gather ranks": ([ph("x"), const([0], np.int64), Node("gather", (0, 1), {"axis": 0})], M23, GraphError,
                     "INVALID_ARGUMENT", 2, "Index tensor must have the same number of dimensions as input tensor"),
    "gather from 0-d": ([ph("x"), const(0, np.int64), Node("gather", (0, 1), {"axis": 0})], {"x": np.ones((), F)},
                        GraphError, "INVALID_ARGUMENT", 2, "0-d"),
    "sum_to": ([ph("x"), Node("sum_to", (0,), {"shape": (2,)})], X3, GraphError, "INVALID_ARGUMENT", 1,
               "cannot sum [3] down to [2]"),
    "missing feed": ([ph("x"), ph("y"), Node("add", (0, 1))], X3, GraphError, "INVALID_ARGUMENT", 1,
                     "no value was fed for placeholder 'y'"),
    "duplicate placeholder": ([ph("x"), ph("x")], X3, GraphError, "INVALID_ARGUMENT", 1,
                              "placeholder name 'x' is also used by node 0"),
    "feed without placeholder": ([ph("x")], {**X3, "z": np.ones(1, F)}, GraphError, "INVALID_ARGUMENT", None,
                                 "input 'z' was fed, but no placeholder has that name"),
    "feed dtype": ([ph("x")], {"x": np.ones(3, np.complex64)}, GraphError, "INVALID_ARGUMENT", None,
                   "has dtype complex64"),
}


@pytest.mark.parametrize("case", sorted(BAD_GRAPHS))
def test_bad_graph(case):
    nodes, feeds, cls, code, node, reason = BAD_GRAPHS[case]
    graph = Graph(nodes)
    with pytest.raises(cls) as e:
        evaluate(graph, feeds, [len(nodes) - 1])
    err = e.value
    assert type(err) is cls and err.code == code and err.node == node, (type(err), err.code, err.node, str(err))
    assert reason in err.reason, f"{reason!r} not in {err.reason!r}"
    if node is not None:
        assert str(err).startswith(f"node {node} ({nodes[node].op}): ")


def test_every_attribute_kind_has_a_mistyped_case():
    from gradwire.engine.registry import ATTR_KINDS, OPS
    used = {a.kind for op in OPS.values() for a in op.attrs.values()}
    tested = {"int", "ints", "bool", "string", "float", "tensor"}
    assert used <= set(ATTR_KINDS)
    assert used - tested <= {"axes", "optfloat", "optints", "optint"}  # the optional kinds share their base's check


def test_known_value_of_the_wrong_shape():
    g = Graph([ph("x"), Node("exp", (0,))])
    with pytest.raises(GraphError) as e:
        evaluate(g, X3, [1], known={1: np.ones(4, F)})
    assert e.value.node == 1 and "known value has float32[4], but the node computes float32[3]" in e.value.reason
    with pytest.raises(GraphError, match="known value given for node 9"):
        evaluate(g, X3, [1], known={9: np.ones(3, F)})


def test_known_values_replace_computation():
    g = Graph([ph("x"), Node("exp", (0,)), Node("sum", (1,))])
    r = evaluate(g, X3, [2], known={1: np.full(3, 2.0, F)})
    assert r.values[0] == 6.0


def test_bad_output_wrt_and_seed_ids():
    g = Graph([ph("x"), Node("sum", (0,))])
    for kw, word in (({"outputs": [5], "wrt": [0]}, "output 5"), ({"outputs": [1], "wrt": [9]}, "wrt node 9"),
                     ({"outputs": [1], "wrt": [0], "seeds": [4]}, "seed 4")):
        with pytest.raises(GraphError, match=word) as e:
            gradient(g, X3, **kw)
        assert e.value.code == "INVALID_ARGUMENT"


def test_seed_of_the_wrong_shape():
    g = Graph([ph("x"), Node("exp", (0,)), const([1.0, 1.0])])
    with pytest.raises(GraphError, match=r"grad_output\[0\] has a shape of \[2\] and output\[0\] has a shape of \[3\]"):
        gradient(g, X3, [1], [0], seeds=[2])


def test_tangent_of_the_wrong_shape():
    g = Graph([ph("x"), Node("exp", (0,))])
    with pytest.raises(GraphError, match=r"tangent has shape \[2\], but the primal has \[3\]") as e:
        jvp(g, X3, [1], [0], [np.ones(2, F)])
    assert e.value.node == 0


# limits -------------------------------------------------------------------------------------------
def test_node_limit():
    nodes = [ph("x")] + [Node("neg", (i,)) for i in range(10)]
    with pytest.raises(LimitError) as e:
        evaluate(Graph(nodes), X3, [10], limits=Limits(max_nodes=10))
    assert e.value.code == "RESOURCE_EXHAUSTED" and "graph has 11 nodes; the limit is 10" in e.value.reason


def test_broadcast_to_a_huge_shape_is_refused_before_running():
    """10^6 x 10^6 = 10^12 elements: exact integer arithmetic, no overflow, no allocation."""
    g = Graph([ph("x"), Node("broadcast_to", (0,), {"shape": (10**6, 10**6)})])
    with pytest.raises(LimitError) as e:
        evaluate(g, {"x": np.ones(1, F)}, [1])
    assert e.value.code == "RESOURCE_EXHAUSTED" and e.value.node == 1 and e.value.op == "broadcast_to"
    assert "1000000000000 elements" in e.value.reason
    # and shapes whose int64 product would wrap around to something small
    g = Graph([ph("x"), Node("broadcast_to", (0,), {"shape": (2**32, 2**32, 2)})])
    with pytest.raises(LimitError, match=str(2**65)):
        evaluate(g, {"x": np.ones(1, F)}, [1])


def test_broadcasting_binary_op_is_sized_after_broadcasting():
    g = Graph([ph("a"), ph("b"), Node("mul", (0, 1))])
    feeds = {"a": np.ones((3000, 1), F), "b": np.ones((1, 3000), F)}
    with pytest.raises(LimitError) as e:
        evaluate(g, feeds, [2], limits=Limits(max_intermediate_elements=10**6))
    assert e.value.node == 2 and "9000000 elements" in e.value.reason


def test_total_and_input_limits():
    # A chain keeps two values alive at once (the newest and its input, freed right after): the limit is on
    # that peak, not on the sum over every node, so long chains of large values still run.
    g = Graph([ph("x")] + [Node("exp", (i,)) for i in range(4)])
    with pytest.raises(LimitError, match="200 computed elements at once"):
        evaluate(g, {"x": np.ones(100, F)}, [4], limits=Limits(max_total_elements=199))
    evaluate(g, {"x": np.ones(100, F)}, [4], limits=Limits(max_total_elements=200))
    long = Graph([ph("x")] + [Node("exp", (i,)) for i in range(1000)])
    evaluate(long, {"x": np.ones(100, F)}, [1000], limits=Limits(max_total_elements=200))
    with pytest.raises(LimitError, match="input 'x' has 100 elements"):
        evaluate(g, {"x": np.ones(100, F)}, [4], limits=Limits(max_tensor_elements=99))


def test_constant_is_an_input_for_the_tensor_limit():
    g = Graph([const(np.ones(100))])
    with pytest.raises(LimitError, match="constant has 100 elements") as e:
        evaluate(g, {}, [0], limits=Limits(max_tensor_elements=99))
    assert e.value.node == 0


def test_derivative_graph_is_sized_too():
    g = Graph([ph("x"), Node("sum", (0,))])
    with pytest.raises(LimitError) as e:
        gradient(g, {"x": np.ones(1000, F)}, [1], [0], limits=Limits(max_total_elements=999))
    assert e.value.code == "RESOURCE_EXHAUSTED" and "derivative" in e.value.reason
    gradient(g, {"x": np.ones(1000, F)}, [1], [0], limits=Limits(max_total_elements=1001))  # fits


@pytest.mark.parametrize("op", ["take", "gather"])
def test_out_of_range_indices_fail_at_run_time(op):
    idx = np.array([0, 5], np.int64)
    g = Graph([ph("x"), ph("i"), Node(op, (0, 1), {"axis": 0})])
    with pytest.raises(GraphError) as e:
        evaluate(g, {"x": np.ones(3, F), "i": idx}, [2])
    assert e.value.code == "INVALID_ARGUMENT" and e.value.node == 2 and e.value.op == op
    assert "index 5 is out of bounds for axis with size 3" in e.value.reason
    with pytest.raises(GraphError, match="index -4 is out of bounds"):
        evaluate(g, {"x": np.ones(3, F), "i": np.array([-4], np.int64)}, [2])


# long chains (no recursion) -------------------------------------------------------------------------
def test_100k_node_chain_evaluates_and_differentiates():
    n = 100_000
    nodes = [ph("x"), const(1.0001, np.float64), Node("mul", (0, 1))]
    while len(nodes) < n:
        nodes.append(Node("mul", (len(nodes) - 1, 1)))
    g = Graph(nodes)
    x = np.array(1.0)
    t0 = time.perf_counter()
    r = evaluate(g, {"x": x}, [n - 1])
    np.testing.assert_allclose(r.values[0], 1.0001 ** (n - 2), rtol=1e-9)
    r = gradient(g, {"x": x}, [n - 1], [0])
    np.testing.assert_allclose(r.gradients[0], 1.0001 ** (n - 2), rtol=1e-9)
    assert time.perf_counter() - t0 < 60


# NaN and Inf are values --------------------------------------------------------------------------------
def test_nan_and_inf_propagate_as_values():
    g = Graph([ph("x"), Node("log", (0,)), Node("div", (0, 0)), Node("add", (1, 2))])
    r = evaluate(g, {"x": np.array([0.0, 1.0])}, [1, 2, 3])
    assert r.values[0][0] == -np.inf and np.isnan(r.values[1][0]) and np.isnan(r.values[2][0])
    assert r.values[0][1] == 0.0 and r.values[1][1] == 1.0
    assert r.anomaly is None  # only reported when asked


def test_anomaly_names_the_first_forward_node():
    g = Graph([ph("x"), Node("exp", (0,)), Node("log", (0,)), Node("div", (0, 0)), Node("add", (2, 3)),
               Node("sum", (4,))])
    r = evaluate(g, {"x": np.array([0.0, 1.0])}, [5], anomaly=True)
    a = r.anomaly
    assert (a.node, a.op, a.phase) == (2, "log", "forward") and "Inf" in a.message and "node 2 (log)" in a.message


def test_anomaly_names_the_first_backward_node():
    # sqrt(x) at 0 is finite, its gradient 1 / (2 sqrt(0)) is Inf: found in the backward pass.
    g = Graph([ph("x"), Node("sqrt", (0,)), Node("sum", (1,))])
    r = gradient(g, {"x": np.array([0.0, 4.0])}, [2], [0], anomaly=True)
    assert r.gradients[0][0] == np.inf and r.gradients[0][1] == 0.25
    a = r.anomaly
    assert a.phase == "backward" and a.node >= 3 and "backward" in a.message
    clean = gradient(g, {"x": np.array([1.0, 4.0])}, [2], [0], anomaly=True)
    assert clean.anomaly is None
