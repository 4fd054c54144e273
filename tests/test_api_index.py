"""The declared indexing functions against torch (gather, scatter*, index_*, masked_*, take*, nonzero) and
indexing with several index tensors and None: values, dtypes, gradients, grad_fn names, in-place forms, errors."""
from __future__ import annotations

import numpy as np
import pytest

from client_fixtures import counter, session  # noqa: F401
from test_api_shape import arr, grad_fn
from torch_diff import outcomes, same_as_torch

pytestmark = pytest.mark.usefixtures("session")
I64 = np.int64


# -- gather, scatter, scatter_add, scatter_reduce ----------------------------------------------------------
@pytest.mark.parametrize("dim,index", [(0, [[0, 1], [2, 0]]), (1, [[3], [0], [1]]), (-1, [[0, 1, 2, 3, 3]]),
                                       (0, [[0, 1, 2, 0, 1]]), (1, [[0, 1], [0, 1], [0, 1], [1, 1]]), (0, [[5]]),
                                       (0, [[-1]]), (0, [0]), (0, np.zeros((0, 4), I64)), (2, [[0]])])
@pytest.mark.parametrize("idtype", ["int64", "int32", "float32"])
def test_gather(dim, index, idtype):
    if idtype == "float32" and not np.size(index):
        return      # PyTorch does not check the dtype of an empty index
    same_as_torch(lambda lib, x, i: (lib.gather(x, dim, i), x.gather(dim, i), grad_fn(x.gather(dim, i))),
                  arr(1, (3, 4)), np.asarray(index).astype(idtype), second_order=True)


def test_gather_0d_and_ints():
    same_as_torch(lambda lib, x, i: x.gather(0, i), arr(1, ()), np.array(0))
    same_as_torch(lambda lib, x, i: x.gather(1, i), arr(1, (2, 3), "int64"), np.array([[2, 2], [0, 1]]))


SCATTER_INDEX = [(0, [[0, 1], [2, 0]]), (1, [[3], [0], [1]]), (0, [[0, 1, 2, 0]]), (0, [[0], [1], [2], [0], [1]]),
                 (0, [[9]]), (0, [[-1]]), (0, [0, 1]), (-1, np.zeros((2, 0), I64)), (1, [[0, 1, 2, 3]])]


def _src(seed, index, dtype="float64"):
    """src of the index's shape where it fits (PyTorch's backward fails for a larger src), else a larger one."""
    shape = index.shape if index.ndim == 2 and index.shape[0] <= 3 and index.shape[1] <= 3 else (3, 3)
    return arr(seed, shape, dtype)


@pytest.mark.parametrize("dim,index", SCATTER_INDEX)
@pytest.mark.parametrize("src", ["tensor", "value", "double"])
def test_scatter(dim, index, src):
    index = np.asarray(index, I64)
    base = arr(2, (3, 4))
    if src == "value":
        same_as_torch(lambda lib, x, i: (lib.scatter(x, dim, i, 1.5), x.scatter(dim, i, value=-2.0),
                                         grad_fn(x.scatter(dim, i, 1.5))), base, index, second_order=True)
        return
    # (no index repeats a position: with repeated indices PyTorch's pick is unspecified)
    s = _src(3, index, "float64" if src == "tensor" else "float32")
    same_as_torch(lambda lib, x, i, s: (lib.scatter(x, dim, i, s), x.scatter(dim, i, s),
                                        grad_fn(x.scatter(dim, i, s))), base, index, s, second_order=True)


@pytest.mark.parametrize("dim,index", SCATTER_INDEX)
@pytest.mark.parametrize("dtype", ["float64", "int64"])
def test_scatter_add(dim, index, dtype):
    same_as_torch(lambda lib, x, i, s: (lib.scatter_add(x, dim, i, s), x.scatter_add(dim, i, s),
                                        grad_fn(x.scatter_add(dim, i, s))),
                  arr(4, (3, 4), dtype), np.asarray(index, I64), _src(5, np.asarray(index), dtype), second_order=True)


@pytest.mark.parametrize("call", [lambda x, i, s: x.scatter(0, i, s), lambda x, i, s: x.scatter_add(0, i, s),
                                  lambda x, i, s: x.scatter_reduce(0, i, s, "sum")])
def test_scatter_family_dtype_errors_name_scatter(call):
    """PyTorch's scatter_add and scatter_reduce run scatter's checks, whose messages say scatter()."""
    same_as_torch(lambda lib, x, i, s: call(x, i, s), arr(4, (3, 4), "float32"), np.zeros((3, 4), I64), arr(5, (3, 4)))
    same_as_torch(lambda lib, x, i, s: call(x, i, s), arr(4, (3, 4)), np.zeros((3, 4)), arr(5, (3, 4)))


def test_scatter_larger_src_forward():
    same_as_torch(lambda lib, x, i, s: (x.scatter(0, i, s), x.scatter_add(0, i, s), x.scatter_reduce(1, i, s, "amin")),
                  arr(4, (3, 4)), np.array([[0, 1], [2, 0]]), arr(5, (3, 3)), requires_grad=False)


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin", "foo"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dim,index", [(0, [[0, 1, 1, 2], [0, 0, 2, 2]]), (1, [[3, 3], [0, 0], [1, 3]]),
                                       (0, [[0, 1], [0, 1], [0, 1]])])
def test_scatter_reduce(reduce, include_self, dim, index):
    base, src = arr(6, (3, 4)), arr(7, np.shape(index))

    def prog(lib, x, i, s):
        out = lib.scatter_reduce(x, dim, i, s, reduce, include_self=include_self)
        return out, x.scatter_reduce(dim, i, s, reduce=reduce, include_self=include_self), grad_fn(out)
    same_as_torch(prog, base, np.asarray(index, I64), src, second_order=True)


@pytest.mark.parametrize("reduce", ["prod", "amax", "mean"])
def test_scatter_reduce_ties_zeros_and_ints(reduce):
    base = np.array([[0.0, 1.0, 2.0], [3.0, 0.0, 1.0]])
    src = np.array([[1.0, 0.0, 2.0], [1.0, 0.0, 2.0]])
    index = np.array([[0, 0, 1], [1, 1, 1]])
    for inc in (True, False):
        same_as_torch(lambda lib, x, i, s: x.scatter_reduce(0, i, s, reduce, include_self=inc), base, index, src)
    same_as_torch(lambda lib, x, i, s: x.scatter_reduce(1, i, s, reduce), base.astype(I64) * 3 + 1, index,
                  src.astype(I64) * 5 - 2)


def test_scatter_reduce_deprecated_and_in_place():
    base, src, index = arr(8, (3, 4)), arr(9, (3, 4)), np.array([[0, 1, 2, 0]])
    same_as_torch(lambda lib, x, i, s: (x.detach().scatter(0, i, s.detach(), reduce="add"),
                                        x.detach().scatter(0, i, 2.0, reduce="multiply")), base, index, src)
    same_as_torch(lambda lib, x, i, s: x.detach().scatter(0, i, s.detach(), reduce="foo"), base, index, src)

    def in_place(lib, x, i, s):
        y = x * 1.0
        y.scatter_(0, i, s[:1])
        z = x * 1.0
        z.scatter_add_(0, i, s[:1])
        w = x * 1.0
        w[1:].scatter_reduce_(1, i[:, :2], s[1:2, :2], "amax")
        v = x * 1.0
        v.scatter_(1, i[:, :1], 3.0)
        return y, z, w, v, [grad_fn(t) for t in (y, z, w, v)]
    same_as_torch(in_place, base, index, src, second_order=True)


# -- index_select, index_add, index_copy, index_fill --------------------------------------------------
INDEX = [[0, 2, 2], [1], 1, [[1]], [1.0], [5], [-1], [], [0, 2]]


@pytest.mark.parametrize("index", INDEX)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_select(index, dim):
    idx = np.asarray(index, np.float32 if isinstance(index, list) and index and isinstance(index[0], float) else I64)
    same_as_torch(lambda lib, x, i: (lib.index_select(x, dim, i), x.index_select(dim, i),
                                     grad_fn(x.index_select(dim, i))), arr(10, (3, 4)), idx, second_order=True)
    same_as_torch(lambda lib, x, i: x.index_select(dim, i.int()), arr(10, (3, 4)), np.array([0, 1]))


@pytest.mark.parametrize("index,source_shape", [([0, 2], (2, 4)), ([0, 0], (2, 4)), ([0, 2], (3, 4)),
                                                 ([0, 2], (2, 3)), ([[0, 2]], (2, 4)), ([0, 5], (2, 4)),
                                                 ([0, -1], (2, 4)), (1, (1, 4)), ([], (0, 4))])
@pytest.mark.parametrize("fn", ["index_add", "index_copy"])
def test_index_add_copy(index, source_shape, fn):
    idx = np.asarray(index, I64)

    def prog(lib, x, i, s):
        out = getattr(lib, fn)(x, 0, i, s)
        return out, getattr(x, fn)(0, i, s), grad_fn(out)
    if fn == "index_copy" and len(np.unique(idx)) < idx.size:
        return      # repeated indices: PyTorch's pick is unspecified
    same_as_torch(prog, arr(11, (3, 4)), idx, arr(12, source_shape), second_order=True)


def test_index_add_copy_options_and_errors():
    x, s, i = arr(11, (3, 4)), arr(12, (3, 2)), np.array([3, 0])
    same_as_torch(lambda lib, x, i, s: (x.index_add(1, i, s, alpha=2), lib.index_add(x, -1, i, s, alpha=-0.5)),
                  x, i, s, second_order=True)
    for fn in ("index_add", "index_copy"):
        same_as_torch(lambda lib, x, i, s: getattr(x, fn)(1, i, s.double()), x.astype(np.float32), i, s)
        same_as_torch(lambda lib, x, i, s: getattr(x, fn)(1, i.int(), s), x, i, s)
        same_as_torch(lambda lib, x, i, s: getattr(x, fn)(1, i.float(), s), x, i, s)
    same_as_torch(lambda lib, x, i, s: lib.index_add(x, 1, i, s), x.astype(I64), i, s.astype(I64))


@pytest.mark.parametrize("index", [[0, 2], [0, 0], 1, [-1], [5], [[0, 2]], []])
@pytest.mark.parametrize("value", [2.5, "tensor", "1-d", "int"])
def test_index_fill(index, value):
    idx = np.asarray(index, I64)
    if value == "tensor":
        if index == [-1]:      # PyTorch's backward fails for negative indices
            return
        same_as_torch(lambda lib, x, i, v: (lib.index_fill(x, 1, i, v), x.index_fill(1, i, v),
                                            grad_fn(x.index_fill(1, i, v))), arr(13, (3, 4)), idx, np.array(2.0),
                      second_order=True)
    elif value == "1-d":
        same_as_torch(lambda lib, x, i, v: x.index_fill(1, i, v), arr(13, (3, 4)), idx, np.array([2.0]))
    elif value == "int":
        same_as_torch(lambda lib, x, i: x.index_fill(1, i, 7), arr(13, (3, 4), "int64"), idx)
    else:
        same_as_torch(lambda lib, x, i: (lib.index_fill(x, 1, i, value), grad_fn(x.index_fill(1, i, value))),
                      arr(13, (3, 4)), idx, second_order=True)
    same_as_torch(lambda lib, x, i: x.index_fill(1, i.int(), 1.0), arr(13, (3, 4)), np.array([0]))


def test_index_in_place_forms():
    def prog(lib, x, i, s):
        a, b, c = x * 1.0, x * 1.0, x * 1.0
        a.index_add_(0, i, s)
        b.index_copy_(0, i, s)
        c.index_fill_(1, i, -1.0)
        d = x * 1.0
        d[:, 1:].index_fill_(1, i, 9.0)
        return a, b, c, d, [grad_fn(t) for t in (a, b, c, d)]
    same_as_torch(prog, arr(14, (3, 4)), np.array([2, 0]), arr(15, (2, 4)), second_order=True)


# -- masked_fill, masked_select, masked_scatter ----------------------------------------------------------
@pytest.mark.parametrize("mask_shape", [(3, 4), (4,), (3, 1), (2, 3, 4), ()])
@pytest.mark.parametrize("value", [0.5, -2, "tensor", "1-d", "float64"])
def test_masked_fill(mask_shape, value):
    x, m = arr(16, (3, 4)), arr(17, mask_shape, "bool")
    if value == "tensor":
        same_as_torch(lambda lib, x, m, v: (x.masked_fill(m, v), grad_fn(x.masked_fill(m, v))), x, m,
                      np.array(1.5), second_order=True)
    elif value == "1-d":
        same_as_torch(lambda lib, x, m, v: x.masked_fill(m, v), x, m, np.array([1.5]))
    elif value == "float64":
        same_as_torch(lambda lib, x, m, v: x.masked_fill(m, v), x.astype(np.float32), m, np.array(1.5))
    else:
        same_as_torch(lambda lib, x, m: (lib.masked_fill(x, m, value), x.masked_fill(m, value),
                                         grad_fn(x.masked_fill(m, value))), x, m, second_order=True)


def test_masked_fill_dtypes_errors_in_place():
    same_as_torch(lambda lib, x, m: x.masked_fill(m, 2.5), arr(1, (3,), "int64"), np.array([True, False, True]))
    same_as_torch(lambda lib, x, m: x.masked_fill(m, 1), arr(1, (3,)), arr(2, (3,)))
    same_as_torch(lambda lib, x, m: x.masked_fill(m, True), arr(1, (3,), "bool"), arr(2, (3,), "bool"))

    def in_place(lib, x, m):
        y = x * 1.0
        y.masked_fill_(m, 0.0)
        z = x * 1.0
        z[1].masked_fill_(m[0], -1.0)
        return y, z, grad_fn(y)
    same_as_torch(in_place, arr(3, (3, 4)), arr(4, (3, 4), "bool"), second_order=True)
    same_as_torch(lambda lib, x, m: x.detach().masked_fill_(m, 0.0), arr(3, (3, 1)), arr(4, (3, 4), "bool"))


@pytest.mark.parametrize("xs,ms", [((3, 4), (3, 4)), ((3, 1), (3, 4)), ((4,), (3, 4)), ((3, 4), (2, 4)), ((), ()),
                                   ((0, 2), (0, 2))])
def test_masked_select(xs, ms):
    same_as_torch(lambda lib, x, m: (lib.masked_select(x, m), x.masked_select(m), grad_fn(x.masked_select(m))),
                  arr(18, xs), arr(19, ms, "bool"), second_order=True)
    same_as_torch(lambda lib, x, m: x.masked_select(m), arr(18, xs), arr(19, ms))


@pytest.mark.parametrize("ms,n", [((3, 4), 12), ((3, 4), 20), ((4,), 12), ((3, 4), 2), ((), 1)])
def test_masked_scatter(ms, n):
    def prog(lib, x, m, s):
        y = x * 1.0
        y.masked_scatter_(m, s)
        return lib.masked_scatter(x, m, s), x.masked_scatter(m, s), y, grad_fn(y)
    same_as_torch(prog, arr(20, (3, 4)), arr(21, ms, "bool"), arr(22, (n,)), second_order=True)


def test_masked_scatter_errors():
    same_as_torch(lambda lib, x, m, s: x.masked_scatter(m, s), arr(20, (3,), "float32"), arr(21, (3,), "bool"),
                  arr(22, (3,)))
    same_as_torch(lambda lib, x, m, s: x.masked_scatter(m, s), arr(20, (3,)), arr(21, (3,)), arr(22, (3,)))


# -- take, take_along_dim ----------------------------------------------------------------------------------
@pytest.mark.parametrize("index", [[[0, 11]], [12], [-12], [-13], 3, [], [[1, 1], [2, 2]]])
def test_take(index):
    same_as_torch(lambda lib, x, i: (lib.take(x, i), x.take(i), grad_fn(x.take(i))), arr(23, (3, 4)),
                  np.asarray(index, I64), second_order=True)
    same_as_torch(lambda lib, x, i: x.take(i.int()), arr(23, (3, 4)), np.array([0]))
    same_as_torch(lambda lib, x, i: lib.take(x, i), arr(23, ()), np.array([0, 0]))


@pytest.mark.parametrize("dim,index", [(None, [0, 5]), (1, [[0]]), (0, [[0, 1]]), (1, [0]),
                                       (1, [[[0]]]), (-1, [[2, 1], [0, 0], [3, 3]]), (0, [[1], [0]])])
def test_take_along_dim(dim, index):
    same_as_torch(lambda lib, x, i: (lib.take_along_dim(x, i, dim), x.take_along_dim(i, dim=dim)), arr(24, (3, 4)),
                  np.asarray(index, I64), second_order=True)
    same_as_torch(lambda lib, x, i: lib.take_along_dim(x, i.int(), 1), arr(24, (3, 4)), np.array([[0]]))


# -- nonzero, argwhere, where(cond) ------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3, 4), (5,), (), (0, 3), (2, 1, 3)])
@pytest.mark.parametrize("dtype", ["float64", "int64", "bool"])
def test_nonzero(shape, dtype):
    a = arr(25, shape, dtype)
    if dtype != "bool":
        a = a * (np.random.default_rng(0).random(shape) > 0.5)
    same_as_torch(lambda lib, x: (lib.nonzero(x), x.nonzero(), lib.nonzero(x, as_tuple=True), lib.argwhere(x),
                                  x.argwhere(), lib.where(x != 0), x.nonzero().requires_grad), a)
    for v in (0.0, 2.0):
        same_as_torch(lambda lib, x: (x.nonzero(), x.nonzero(as_tuple=True)), np.array(v))


# -- mixed advanced indexing with None -------------------------------------------------------------------
@pytest.mark.parametrize("key", ["None, i, :, j", "i, None, j", ":, i, j, None", "None, i, j", "i, :, j",
                                 "None, :, i, j", "i, j, None, :", "None, i, None, j", "..., None, i, j",
                                 "i, None, :, j", "None, None, i", "j, i, None", "0, :, j", "None, 0, :, j",
                                 "i, None, 0", "1, i, j", "i, 2, j", ":, 0, j"])
def test_index_with_none_and_tensors(key):
    def prog(lib, x, i, j):
        return eval(f"x[{key}]", {"x": x, "i": i, "j": j})
    same_as_torch(prog, arr(26, (3, 4, 5)), np.array([[0, 2], [1, 1]]), np.array([1, -1]), second_order=True)


@pytest.mark.parametrize("key", ["0, :, j", "None, i, :, j", "i, None, 0", "1, i, j", ":, 0, j", "i, :, j"])
def test_setitem_with_none_ints_and_tensors(key):
    def prog(lib, x, i, j):
        y = x * 1.0
        target = eval(f"y[{key}]", {"y": y, "i": i, "j": j})
        value = lib.arange(float(target.numel()), dtype=x.dtype).reshape(target.shape)
        exec(f"y[{key}] = value", {"y": y, "i": i, "j": j, "value": value})
        return y
    same_as_torch(prog, arr(27, (3, 4, 4)), np.array([[0, 2], [1, 1]]), np.array([1, 3]), second_order=True)


@pytest.mark.parametrize("fn", ["scatter", "scatter_reduce"])
def test_saved_tensors_modified_in_place(fn):
    def prog(lib, x, s):
        b = x * 1.0
        i = lib.tensor([0, 2])
        y = b.scatter(0, i, s) if fn == "scatter" else b.scatter_reduce(0, i, s, "prod")
        b.mul_(2)
        y.sum().backward()
        return s.grad
    same_as_torch(prog, arr(1, (3,)), arr(2, (2,)))


@pytest.mark.filterwarnings("ignore:index_reduce")
@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin", "sum"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dim,index", [(0, [0, 2]), (0, [1, 1]), (1, [3, 0, 3, 1]), (0, [0, 5]), (0, [0, 1, 2])])
def test_index_reduce(reduce, include_self, dim, index):
    source = arr(40, (2, 4) if dim == 0 else (3, 4))

    def prog(lib, x, i, s):
        out = x.index_reduce(dim, i, s, reduce, include_self=include_self)
        return out, lib.index_reduce(x, dim, i, s, reduce, include_self=include_self), grad_fn(out)
    same_as_torch(prog, arr(41, (3, 4)), np.asarray(index, I64), source, second_order=True)


@pytest.mark.filterwarnings("ignore:index_reduce")
def test_index_reduce_errors_and_in_place():
    x, s, i = arr(41, (3, 4)), arr(40, (2, 4)), np.array([0, 2])
    same_as_torch(lambda lib, x, i, s: x.index_reduce(0, i.float(), s, "mean"), x, i, s)
    same_as_torch(lambda lib, x, i, s: x.index_reduce(0, i[None], s, "mean"), x, i, s)
    same_as_torch(lambda lib, x, i, s: x.index_reduce(0, i, s.float(), "mean"), x, i, s)
    same_as_torch(lambda lib, x, i, s: (x * 1.0).index_reduce_(0, i, s, "amax"), x, i, s, second_order=True)


@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("key,value_shape", [("i,", (4,)), ("i, i", ()), ("i,", (2, 4)), ("i,", (3,)),
                                             ("j, i", (2,)), ("m,", ())])
def test_index_put(accumulate, key, value_shape):
    def prog(lib, x, i, j, m, v):
        indices = eval(f"({key})", {"i": i, "j": j, "m": m})
        out = lib.index_put(x, indices, v, accumulate=accumulate)
        y = x * 1.0
        y.index_put_(indices, v, accumulate=accumulate)
        return out, x.index_put(indices, v, accumulate), y, grad_fn(out), grad_fn(y)
    same_as_torch(prog, arr(42, (3, 4)), np.array([0, 2]), np.array([1, 1]), arr(43, (3, 4), "bool"),
                  arr(44, value_shape), second_order=True)
    same_as_torch(lambda lib, x, i, v: x.index_put((i,), v), arr(42, (3, 4)), np.array([0, 2]),
                  arr(44, (4,), "float32"))


def test_indices_out_of_range_are_refused_at_the_call_with_torchs_words():
    """Index values the client holds are checked where PyTorch checks them (reads and writes), naming the
    dimension as PyTorch does: among the indexing arrays, not the tensor's axes."""
    import torch

    import gradwire as gw

    def program(lib):
        x, y = lib.arange(24).reshape(2, 3, 4), lib.arange(12).reshape(3, 4)

        def write_one():
            y[lib.tensor([3])] = 1

        def write_pointwise():
            y[lib.tensor([0, 1]), lib.tensor([4, 0])] = 1
        return outcomes((lambda: x[:, :, lib.tensor([9])], lambda: x[:, lib.tensor([[0], [5]])], lambda: x[None, :, lib.tensor([5])],
                         lambda: x[0, lib.tensor([5])], lambda: x[:, lib.tensor([0]), lib.tensor([7])],
                         lambda: x[..., lib.tensor([-5])], lambda: y[[0, 3]], lambda: y[lib.tensor([-1, 2])].tolist(),
                         lambda: y[lib.tensor([0, 1]), lib.tensor([4, 0])], write_one, write_pointwise))
    assert program(gw) == program(torch)
