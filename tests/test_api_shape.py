"""The declared shape and indexing functions against torch: values, dtypes, shapes, gradients (first and second
order), grad_fn names, views, in-place forms and errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gradwire as gw
from client_fixtures import counter, session  # noqa: F401
from torch_diff import same_as_torch

pytestmark = pytest.mark.usefixtures("session")
DTYPES = ("float32", "float64", "int64", "bool")


def arr(seed, shape, dtype="float64"):
    a = np.random.default_rng(seed).uniform(-3, 3, shape)
    return a > 0 if dtype == "bool" else np.round(a).astype(dtype) if dtype.startswith("int") else a.astype(dtype)


def grad_fn(t):
    return None if t.grad_fn is None else t.grad_fn.name()


def names(lib, *ts):
    return [grad_fn(t) for t in ts]


# -- flip, roll, rot90 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dims", [((2, 3, 4), (0,)), ((2, 3, 4), (0, -1)), ((3,), (0,)), ((), (0,)),
                                        ((0, 2), (1,)), ((2, 3), (0, 0)), ((2, 3), (2,)), ((2, 3), ())])
def test_flip(dtype, shape, dims):
    same_as_torch(lambda lib, x: (lib.flip(x, dims), x.flip(dims)), arr(0, shape, dtype), second_order=True)


def test_flip_forms():
    a = arr(1, (2, 3))
    same_as_torch(lambda lib, x: (x.flip(0, 1), x.flip(1), lib.fliplr(x), lib.flipud(x), x.fliplr(), x.flipud(),
                                  names(lib, x.flip(0), lib.fliplr(x))), a, second_order=True)
    same_as_torch(lambda lib, x: lib.fliplr(x), arr(1, (3,)))
    same_as_torch(lambda lib, x: lib.flipud(x), arr(1, ()))


@pytest.mark.parametrize("args", [(1,), (1, 0), ((1, 2), (0, 1)), ((1, 2), (0,)), (-7, -1), ((3, -1), (1, 1)),
                                  (1, 5), ((), ()), (2, None)])
@pytest.mark.parametrize("shape", [(2, 3, 4), (0, 3, 1)])
def test_roll(args, shape):
    same_as_torch(lambda lib, x: (lib.roll(x, *args), x.roll(*args)), arr(2, shape), second_order=True)


def test_roll_0d_and_name():
    same_as_torch(lambda lib, x: (x.roll(1), names(lib, x.roll(1), x.roll(1, 0))), arr(2, (2, 2)))
    same_as_torch(lambda lib, x: x.roll(1), arr(2, ()))
    same_as_torch(lambda lib, x: x.roll(1, 0), arr(2, ()))


@pytest.mark.parametrize("k", [-5, -1, 0, 1, 2, 3, 6])
@pytest.mark.parametrize("dims", [(0, 1), (1, 0), (0, 2), (-1, 0), (0, 0), (0, -3), (0,), (0, 3)])
def test_rot90(k, dims):
    same_as_torch(lambda lib, x: (lib.rot90(x, k, dims), x.rot90(k, dims), grad_fn(x.rot90(k, dims))),
                  arr(3, (2, 3, 4)), second_order=True)


def test_rot90_small():
    same_as_torch(lambda lib, x: lib.rot90(x), arr(3, (3,)))
    same_as_torch(lambda lib, x: (lib.rot90(x), x.rot90(dims=[1, 0])), arr(3, (2, 3)))


# -- repeat, tile, repeat_interleave -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,reps", [((2, 3), (2, 1)), ((2, 3), (1, 2, 3)), ((3,), (0,)), ((), (2, 2)),
                                        ((2, 3), (2,)), ((0, 2), (3, 1)), ((2,), (-1,))])
def test_repeat_tile(dtype, shape, reps):
    a = arr(4, shape, dtype)
    same_as_torch(lambda lib, x: (x.repeat(*reps), x.repeat(reps), grad_fn(x.repeat(reps))), a, second_order=True)
    same_as_torch(lambda lib, x: (lib.tile(x, reps), x.tile(reps), x.tile(*reps)), a, second_order=True)


@pytest.mark.parametrize("dim", [None, 0, 1, -1, 2])
@pytest.mark.parametrize("repeats", [0, 2, -1, "tensor", "one", "bad"])
def test_repeat_interleave(dim, repeats):
    a = arr(5, (2, 3))
    if repeats == "tensor":
        n = 6 if dim is None else 3 if dim in (1, -1) else 2
        reps = np.arange(n) % 3
        same_as_torch(lambda lib, x, r: (lib.repeat_interleave(x, r, dim), x.repeat_interleave(r, dim=dim)), a,
                      reps, second_order=True)
    elif repeats == "one":
        same_as_torch(lambda lib, x, r: x.repeat_interleave(r, dim), a, np.array([2]))
    elif repeats == "bad":
        same_as_torch(lambda lib, x, r: x.repeat_interleave(r, dim), a, np.array([1, -1, 0]))
    else:
        same_as_torch(lambda lib, x: (lib.repeat_interleave(x, repeats, dim), x.repeat_interleave(repeats, dim)),
                      a, second_order=True)


def test_repeat_interleave_forms():
    same_as_torch(lambda lib, r: lib.repeat_interleave(r), np.array([1, 0, 3]))
    same_as_torch(lambda lib, x, r: (x.repeat_interleave(r, 0, output_size=3), grad_fn(x.repeat_interleave(2))),
                  arr(5, (2,)), np.array([1, 2]))
    same_as_torch(lambda lib, x, r: x.repeat_interleave(r, 0, output_size=4), arr(5, (2,)), np.array([1, 2]))
    same_as_torch(lambda lib, x: x.repeat_interleave(2, 0, output_size=5), arr(5, (2,)))
    same_as_torch(lambda lib, x: lib.repeat_interleave(x, 3), arr(5, ()))


# -- views: movedim, unflatten, tensor_split, broadcast_to, meshgrid, atleast_* -----------------------
@pytest.mark.parametrize("src,dst", [(0, 2), (-1, 0), ((0, 1), (2, 0)), ((0, 1), (1,)), ((0, 0), (1, 2)),
                                     ((0, 1), (1, 1)), (3, 0), (1, 1)])
def test_movedim(src, dst):
    def prog(lib, x):
        y = lib.movedim(x, src, dst)
        return y, lib.moveaxis(x, src, dst), x.movedim(src, dst), x.moveaxis(src, dst), grad_fn(y), y.is_contiguous()
    same_as_torch(prog, arr(6, (2, 3, 4)), second_order=True)


def test_movedim_is_a_view():
    same_as_torch(lambda lib, x: [x.detach().clone().movedim(0, 1).mul_(2) for _ in [0]][0], arr(6, (2, 3)))

    def prog(lib, x):
        y = x.detach().clone()
        y.movedim(0, 1)[0] = 7.0
        return y
    same_as_torch(prog, arr(6, (2, 3)))


@pytest.mark.parametrize("dim,sizes", [(1, (3, 1)), (-1, (2, -1)), (1, (2, 2)), (1, ()), (2, [2, 2]), (1, (-1, -1)),
                                       (1, (0, -1)), (0, (1, 2)), (1, (1, 3, 1))])
def test_unflatten(dim, sizes):
    same_as_torch(lambda lib, x: (lib.unflatten(x, dim, sizes), x.unflatten(dim, sizes)), arr(7, (2, 3, 4)),
                  second_order=True)


@pytest.mark.parametrize("spec", [2, 3, 5, [1, 5], [2, 1], [-1], [], 0, "tensor", "tensor0", "float", "2d"])
@pytest.mark.parametrize("dim", [0, 1, -1, 5])
def test_tensor_split(spec, dim):
    a = arr(8, (4, 3))
    if isinstance(spec, str):
        index = {"tensor": np.array([1, 2]), "tensor0": np.array(2), "float": np.array([1.0]),
                 "2d": np.array([[1]])}[spec]
        same_as_torch(lambda lib, x, i: lib.tensor_split(x, i, dim), a, index)
    else:
        same_as_torch(lambda lib, x: (lib.tensor_split(x, spec, dim), x.tensor_split(spec, dim=dim),
                                      [grad_fn(p) for p in x.tensor_split(spec, dim)]), a, second_order=True)


def test_tensor_split_keywords_and_views():
    a = arr(8, (5,))
    same_as_torch(lambda lib, x: (x.tensor_split(sections=2), x.tensor_split(indices=[1, 3])), a)
    same_as_torch(lambda lib, x: lib.tensor_split(x, 1), arr(8, ()))

    def prog(lib, x):
        y = x.detach().clone()
        y.tensor_split(2)[1].mul_(10)
        return y
    same_as_torch(prog, a)


@pytest.mark.parametrize("size", [(2, 3), (2, -1), (3,), (1, 2, 3), (2, 4), (-1, 3), (2, 1)])
def test_broadcast_to(size):
    same_as_torch(lambda lib, x: (lib.broadcast_to(x, size), x.broadcast_to(size), grad_fn(x.broadcast_to(size))),
                  arr(9, (3,)), second_order=True)


@pytest.mark.parametrize("shapes", [[(3,), (2, 3)], [(2, 1), (1, 4), ()], [(3,), (4,)], [(0, 1), (3,)], [(2,)]])
def test_broadcast_tensors(shapes):
    arrays = [arr(10 + k, s) for k, s in enumerate(shapes)]
    same_as_torch(lambda lib, *xs: (lib.broadcast_tensors(*xs), [grad_fn(t) for t in lib.broadcast_tensors(*xs)]),
                  *arrays, second_order=True)


@pytest.mark.parametrize("indexing", ["ij", "xy", "foo"])
@pytest.mark.parametrize("shapes", [[(3,), (2,)], [(3,), (), (4,)], [(2,)], [(0,), (3,)]])
def test_meshgrid(indexing, shapes):
    arrays = [arr(11 + k, s) for k, s in enumerate(shapes)]

    def prog(lib, *xs):
        grids = lib.meshgrid(*xs, indexing=indexing)
        return grids, lib.meshgrid(list(xs), indexing=indexing), [grad_fn(g) for g in grids]
    same_as_torch(prog, *arrays, second_order=True)


def test_meshgrid_errors():
    same_as_torch(lambda lib, x, y: lib.meshgrid(x, y, indexing="ij"), arr(1, (2,)), arr(1, (2,), "float32"))
    same_as_torch(lambda lib: lib.meshgrid(indexing="ij"))


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 3, 4), (2, 1, 1, 2)])
def test_atleast(shape):
    a = arr(12, shape)

    def prog(lib, x, y):
        outs = [lib.atleast_1d(x), lib.atleast_2d(x), lib.atleast_3d(x)]
        return outs, [grad_fn(o) for o in outs], lib.atleast_2d(x, y), lib.atleast_3d([x, y])
    same_as_torch(prog, a, arr(13, (2,)), second_order=True)


@pytest.mark.parametrize("fn", ["hstack", "vstack", "row_stack", "dstack", "column_stack"])
@pytest.mark.parametrize("shapes", [[(3,), (3,)], [(2, 3), (2, 3)], [(), ()], [(3,), (2, 3)], [(2, 3), (2, 1)],
                                    [(2, 3, 1), (2, 3, 2)], [(2,), ()]])
def test_stacks(fn, shapes):
    arrays = [arr(14 + k, s) for k, s in enumerate(shapes)]
    same_as_torch(lambda lib, *xs: (getattr(lib, fn)(xs), getattr(lib, fn)(list(xs))), *arrays, second_order=True)


@pytest.mark.parametrize("fn", ["hstack", "vstack", "dstack", "column_stack", "cat", "stack"])
def test_stacks_errors(fn):
    same_as_torch(lambda lib: getattr(lib, fn)([]))
    if fn not in ("cat", "stack"):
        same_as_torch(lambda lib, x: getattr(lib, fn)(x), arr(1, (2,)))
    same_as_torch(lambda lib, x, y: getattr(lib, fn)([x, y]), arr(1, (2,), "int64"), arr(1, (2,), "float32"))


# -- tril, triu, diag, diag_embed, trace -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 3), (0, 2), (3,), ()])
@pytest.mark.parametrize("k", [0, 1, -2, 5])
def test_tril_triu(dtype, shape, k):
    a = arr(15, shape, dtype)
    same_as_torch(lambda lib, x: (lib.tril(x, k), x.triu(k), lib.triu(x, diagonal=k), names(lib, x.tril(), x.triu())),
                  a, second_order=True)


def test_tril_triu_in_place():
    same_as_torch(lambda lib, x: (x.detach().clone().tril_(), x.detach().clone().triu_(1)), arr(15, (3, 3)))

    def through_a_view(lib, x):
        y = x * 1.0
        y[1:].tril_()
        return y, grad_fn(y)
    same_as_torch(through_a_view, arr(15, (3, 3)), second_order=True)


@pytest.mark.parametrize("shape", [(3,), (3, 4), (4, 3), (0,), (2, 3, 4), ()])
@pytest.mark.parametrize("k", [0, 1, -1, 4])
def test_diag(shape, k):
    same_as_torch(lambda lib, x: (lib.diag(x, k), x.diag(k), grad_fn(lib.diag(x, k))), arr(16, shape),
                  second_order=True)


@pytest.mark.parametrize("args", [(), (1,), (-1, 0, 2), (0, 2, 0), (0, 0, 0), (0, 0, 3), (2, -1, -3)])
@pytest.mark.parametrize("shape", [(3,), (2, 3), (0,), ()])
def test_diag_embed(args, shape):
    same_as_torch(lambda lib, x: (lib.diag_embed(x, *args), x.diag_embed(*args), grad_fn(x.diag_embed(*args))),
                  arr(17, shape), second_order=True)


@pytest.mark.parametrize("dtype", DTYPES + ("int32",))
@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (0, 3), (3,), (2, 2, 2)])
def test_trace(dtype, shape):
    same_as_torch(lambda lib, x: (lib.trace(x), x.trace(), grad_fn(x.trace())), arr(18, shape, dtype),
                  second_order=True)


# -- outer, kron -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dx,dy", [("float32", "float32"), ("float32", "float64"), ("int64", "float32"),
                                   ("int64", "int32"), ("bool", "bool")])
@pytest.mark.parametrize("sx,sy", [((3,), (2,)), ((0,), (2,)), ((2, 2), (2,)), ((3,), ())])
def test_outer(dx, dy, sx, sy):
    same_as_torch(lambda lib, x, y: (lib.outer(x, y), lib.ger(x, y), x.outer(y), x.ger(y)),
                  arr(19, sx, dx), arr(20, sy, dy), second_order=True)


@pytest.mark.parametrize("dx,dy", [("float64", "float64"), ("int64", "float32"), ("bool", "bool")])
@pytest.mark.parametrize("sx,sy", [((2, 3), (3,)), ((2,), (2, 3, 1)), ((), (3,)), ((2, 2), (2, 2)), ((0, 2), (2,))])
def test_kron(dx, dy, sx, sy):
    same_as_torch(lambda lib, x, y: (lib.kron(x, y), x.kron(y), grad_fn(lib.kron(x, y))),
                  arr(21, sx, dx), arr(22, sy, dy), second_order=True)


# -- unfold ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [(1, 2, 1), (2, 2, 2), (1, 3, 2), (1, 4, 1), (1, 0, 1), (1, 1, 0), (-1, 1, 3),
                                  (3, 1, 1)])
def test_unfold(args):
    same_as_torch(lambda lib, x: (x.unfold(*args), grad_fn(x.unfold(*args)), x.unfold(*args).stride()),
                  arr(23, (2, 3, 4)), second_order=True)


def test_unfold_0d_and_view():
    same_as_torch(lambda lib, x: (x.unfold(0, 1, 1), x.unfold(0, 0, 1)), arr(23, ()))

    def read_after_write(lib, x):
        y = x.detach().clone()
        w = y.unfold(0, 2, 2)
        y.mul_(3)
        return w
    same_as_torch(read_after_write, arr(23, (4,)))
    with pytest.raises(NotImplementedError, match="unfold"):
        gw.ones(4).unfold(0, 2, 1).mul_(2)


@pytest.mark.parametrize("args", [(0, 2, 3), (0, 2, 2), (1, 1, 2), (1, 2, 2), (0, 0, 1)])
def test_writes_through_disjoint_unfold_windows(args):
    def prog(lib, x):
        y = x * 1.0
        w = y.unfold(*args)
        w.mul_(10)
        if w.numel():
            w[0] = -1.0
        return y, w, grad_fn(y)
    same_as_torch(prog, arr(24, (6, 4)), second_order=True)


@pytest.mark.parametrize("call", ["x.flip()", "lib.flip(x, 0)", "x.repeat()", "x.tile()", "lib.roll(x, (1, 2))",
                                  "x.unfold(0, 1)", "lib.swapaxes(x)", "x.gather(0)", "lib.take(x)"])
def test_missing_and_mistyped_arguments(call):
    same_as_torch(lambda lib, x: eval(call, {"lib": lib, "x": x}), arr(1, (2, 3)))


def test_swapaxes_swapdims_names():
    same_as_torch(lambda lib, x: (lib.swapaxes(x, axis0=0, axis1=1), x.swapaxes(axis0=0, axis1=-1),
                                  lib.swapdims(x, dim0=0, dim1=1), x.swapdims(1, 0), grad_fn(x.swapaxes(0, 1))),
                  arr(1, (2, 3)), second_order=True)


def test_meshgrid_warns_without_indexing():
    with pytest.warns(UserWarning, match="indexing argument"):
        gw.meshgrid(gw.ones(2), gw.ones(3))


# -- ravel, t, adjoint, hsplit/vsplit/dsplit, slice/select/diagonal_scatter --------------------------------
@pytest.mark.parametrize("shape", [(2, 3), (3,), (), (2, 3, 4), (0, 2)])
def test_ravel_t_adjoint(shape):
    def prog(lib, x):
        outs = [lib.ravel(x), x.ravel(), lib.ravel(x.transpose(0, -1)) if x.ndim else x.ravel()]
        if x.ndim <= 2:
            outs.append(lib.t(x))
        outs.append(lib.adjoint(x))
        return outs, [grad_fn(o) for o in outs]
    same_as_torch(prog, arr(30, shape), second_order=True)


@pytest.mark.parametrize("fn", ["hsplit", "vsplit", "dsplit"])
@pytest.mark.parametrize("shape", [(4, 6), (6,), (2, 4, 6), ()])
@pytest.mark.parametrize("spec", [2, 3, 4, 0, [1, 3]])
def test_hsplit_vsplit_dsplit(fn, shape, spec):
    same_as_torch(lambda lib, x: (getattr(lib, fn)(x, spec), getattr(x, fn)(spec)), arr(31, shape),
                  second_order=True)


@pytest.mark.parametrize("args,src_shape", [((0, 0, 2), (2, 6)), ((), (2, 6)), ((0, 0, 3), (2, 6)),
                                            ((1, None, None, 2), (4, 3)), ((0, 2), (2, 6)), ((0, -2), (2, 6)),
                                            ((5,), (2, 6))])
@pytest.mark.parametrize("src_dtype", ["float64", "float32"])
def test_slice_scatter(args, src_shape, src_dtype):
    same_as_torch(lambda lib, x, s: (lib.slice_scatter(x, s, *args), x.slice_scatter(s, *args),
                                     grad_fn(x.slice_scatter(s, *args))),
                  arr(32, (4, 6)), arr(33, src_shape, src_dtype), second_order=True)


@pytest.mark.parametrize("dim,index,src_shape", [(0, 1, (6,)), (0, -1, (6,)), (1, 5, (4,)), (0, 9, (6,)),
                                                 (0, 1, (5,)), (2, 0, (6,))])
def test_select_scatter(dim, index, src_shape):
    same_as_torch(lambda lib, x, s: (lib.select_scatter(x, s, dim, index), x.select_scatter(s, dim, index),
                                     grad_fn(x.select_scatter(s, dim, index))),
                  arr(34, (4, 6)), arr(35, src_shape), second_order=True)


@pytest.mark.parametrize("args,src_shape", [((), (4,)), ((1,), (4,)), ((1,), (3,)), ((0, 1, 0), (4,)),
                                            ((-2,), (2,)), ((), (4, 1))])
def test_diagonal_scatter(args, src_shape):
    same_as_torch(lambda lib, x, s: (lib.diagonal_scatter(x, s, *args), x.diagonal_scatter(s, *args),
                                     grad_fn(x.diagonal_scatter(s, *args))),
                  arr(36, (4, 6)), arr(37, src_shape), second_order=True)
    same_as_torch(lambda lib, x, s: lib.diagonal_scatter(x, s), arr(36, (4,)), arr(37, (4,)))


@pytest.mark.parametrize("shapes,dtypes", [([(3,), (2,)], None), ([(3,)], None), ([(3,), (2,), (2,)], None),
                                           ([(3,), (2, 3)], None), ([(3,), (2,)], ("float64", "float32")),
                                           ([(0,), (2,)], None)])
def test_cartesian_prod(shapes, dtypes):
    arrays = [arr(50 + k, s, (dtypes or ["float64"] * 3)[k]) for k, s in enumerate(shapes)]
    same_as_torch(lambda lib, *xs: (lib.cartesian_prod(*xs), grad_fn(lib.cartesian_prod(*xs))), *arrays,
                  second_order=True)


@pytest.mark.parametrize("shapes,dtypes", [([(2, 3), (3,)], None), ([(2, 3), ()], None), ([(2, 3)], None),
                                           ([(2, 3), (2,)], ("float32", "int64")), ([(2, 2, 2)], None),
                                           ([(0, 2), (1, 0), (2, 2)], None), ([(2,), (2,)], ("int64", "bool"))])
def test_block_diag(shapes, dtypes):
    arrays = [arr(60 + k, s, (dtypes or ["float64"] * 3)[k]) for k, s in enumerate(shapes)]
    same_as_torch(lambda lib, *xs: (lib.block_diag(*xs), grad_fn(lib.block_diag(*xs))), *arrays, second_order=True)
    same_as_torch(lambda lib: lib.block_diag())
