"""Declarations of PyTorch's products (torch.f, Tensor.f, torch.linalg.f): matmul, mm, mv, bmm, the add* family,
outer, vdot, inner, tensordot, cross. Each records the engine's matmul, mul, sum and structural ops after
PyTorch's checks and messages, so gradients of any order come from those ops. einsum is in api_einsum.py;
multi_dot, matrix_power, cdist, vecdot in api_linalg_extra.py; decompositions and norms in api_linalg_decomp.py."""
from __future__ import annotations

import numbers

import numpy as np

from gradwire import ops
from gradwire.core import shapes
from gradwire.core.dtypes import INTS, LEGACY_NAMES
from gradwire.core.structural import _CPP
from gradwire.declare import declare
from gradwire.ops import apply
from gradwire.tensor import Tensor

declare("dot", doc="Inner product of two 1-d tensors, as torch.dot.")(ops.dot)


def _folds(input: Tensor, other: Tensor) -> bool:
    """Whether PyTorch's matmul folds the >= 3-d operand into a matrix for mm / mv (matmul's should_fold): when
    the smaller operand requires grad, or without a copy (the larger's leading dims contiguous; for a
    larger second operand, of its transpose, and never with a 2-d first one)."""
    larger = input.ndim >= other.ndim
    big, small = (input, other) if larger else (other, input)
    if not (big.ndim >= 3 and small.ndim <= 2):
        return False
    if small.requires_grad:
        return True
    if input.ndim == 2:
        return False
    if big.numel() == 0:
        return True
    shape, strides = list(big.shape), list(big._strides)
    if not larger:
        shape[-2:], strides[-2:] = shape[-1:-3:-1], strides[-1:-3:-1]
    return all(strides[i] == strides[i + 1] * shape[i + 1] for i in range(len(shape) - 2))


def _fold_check(input: Tensor, other: Tensor) -> None:
    """A folded matmul's errors are mm's and mv's, on the folded (for a larger second operand, transposed)
    shapes."""
    if other.ndim > input.ndim:       # (other^T input^T)^T
        t1 = tuple(other.shape[:-2]) + (other.shape[-1], other.shape[-2])
        d1, d2 = other._node.dtype, input._node.dtype
        t2 = (input.shape[1], input.shape[0]) if input.ndim == 2 else tuple(input.shape)
    else:
        t1, t2, d1, d2 = tuple(input.shape), tuple(other.shape), input._node.dtype, other._node.dtype
    rows = int(np.prod(t1[:-1]))
    if len(t2) == 1:
        if t1[-1] != t2[0]:
            raise RuntimeError(f"size mismatch, got input ({rows}), mat ({rows}x{t1[-1]}), vec ({t2[0]})")
        if d1 != d2:
            raise RuntimeError(f"addmv input tensors must have the same dtype, but got {LEGACY_NAMES[d2]}, "
                               f"{LEGACY_NAMES[d1]}, and {LEGACY_NAMES[d2]}")
        return
    if t1[-1] != t2[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{t1[-1]} and {t2[0]}x{t2[1]})")
    if d1 != d2:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {_CPP[d1]} != {_CPP[d2]}")


_MATMUL_NAMES = {(1, 1): "DotBackward0", (2, 1): "MvBackward0", (1, 2): "SqueezeBackward4", (2, 2): "MmBackward0"}


@declare(tensors=("input", "other"))
def matmul(input, other):
    """Matrix product with broadcasting batch dims, as torch.matmul (its errors and grad_fn names follow the
    path PyTorch takes: dot, mv, mm, a folded mm / mv, or a batched product)."""
    folded = _folds(input, other)
    if folded:
        _fold_check(input, other)
    if input.ndim and other.ndim:
        empty = _empty_bool_product(input, other)
        if empty is not None:
            return empty
    label = _MATMUL_NAMES.get((input.ndim, other.ndim), "UnsafeViewBackward0")
    if folded and input.ndim == 2:     # (other^T input^T)^T: a transpose, copied unless a side is 1
        label = "TransposeBackward0" if 1 in (input.shape[0], other.shape[-1]) else "CloneBackward0"
    return apply("matmul", input, other, label=label)


def _L(t) -> str:
    return LEGACY_NAMES[t._node.dtype]


def _no_bool(kernel: str, *ts) -> None:
    if ts[0]._node.dtype == "bool":
        raise NotImplementedError(f'"{kernel}" not implemented for \'Bool\'')


def _empty_bool_product(a: Tensor, b: Tensor):
    """PyTorch has no bool matrix products, except where no kernel runs (an empty result or an empty sum):
    there the all-False result; None otherwise."""
    if a._node.dtype != "bool" or b._node.dtype != "bool":
        return None
    shape = shapes.matmul(a.shape, b.shape)
    if int(np.prod(shape)) and a.shape[-1]:
        return None
    from gradwire import factories
    return factories.zeros(shape, dtype=a.dtype)


def _scaled(x: Tensor, c, label=None) -> Tensor:
    """c * x, leaving x alone when c is 1 (PyTorch's kernels skip the multiply too)."""
    return x if c == 1 else apply("mul", x, c, label=label)


def _combine(input: Tensor, prod: Tensor, beta, alpha, label: str, kind: str) -> Tensor:
    """beta * input + alpha * prod, input broadcast to prod's shape; beta = 0 ignores input's values
    (NaN there does not propagate), as PyTorch's add* kernels do, while input still gets a (zero) gradient."""
    base = ops.expand(input, prod.shape)
    if input._node.dtype in INTS + ("bool",) or prod._node.dtype in INTS + ("bool",):
        for name, v in (("beta", beta), ("alpha", alpha)):
            if kind == "addr" and isinstance(v, float) and input._node.dtype != "bool":
                raise RuntimeError(f"For integral input tensors, argument {name} must not be a floating point "
                                   f"number.")
        beta, alpha = int(beta), int(alpha)      # PyTorch casts the scalars to the integral type
    prod = _scaled(prod, alpha)
    if beta == 0:
        never = apply("eq", apply("zeros_like", base), 1)
        base = apply("where", never, base, 0, ref_args=(base,))
    else:
        base = _scaled(base, beta)
    return apply("add", base, prod, label=label)


def _matrix(t: Tensor, name: str, got: bool = False) -> None:
    if t.ndim != 2:
        raise RuntimeError(f"{name} must be a matrix" + (f", got {t.ndim}-D tensor" if got else ""))


def _mm_dtypes(a: Tensor, b: Tensor) -> None:
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {_CPP[a._node.dtype]} != "
                           f"{_CPP[b._node.dtype]}")


@declare(tensors=("input", "mat2"))
def mm(input, mat2):
    """Matrix product of two 2-d tensors, as torch.mm."""
    _matrix(input, "self")
    _matrix(mat2, "mat2")
    shapes.matmul(input.shape, mat2.shape)
    _mm_dtypes(input, mat2)
    empty = _empty_bool_product(input, mat2)
    if empty is not None:
        return empty
    _no_bool("addmm_impl_cpu_", input)
    return apply("matmul", input, mat2, label="MmBackward0")


@declare(tensors=("input", "vec"))
def mv(input, vec):
    """Matrix-vector product, as torch.mv."""
    if input.ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {input.ndim}, {vec.ndim}")
    if input.shape[1] == vec.shape[0]:
        empty = _empty_bool_product(input, vec)
        if empty is not None:
            return empty
    _no_bool("addmv_impl_cpu", input)
    return apply("matmul", input, vec, label="MvBackward0")


def _bmm_check(b1: Tensor, b2: Tensor) -> None:
    for t, name in ((b1, "batch1"), (b2, "batch2")):
        if t.ndim != 3:
            raise RuntimeError(f"{name} must be a 3D tensor")
    if b2.shape[0] != b1.shape[0] or b2.shape[1] != b1.shape[2]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{b1.shape[0]}, {b1.shape[2]}] but got: [{b2.shape[0]}, {b2.shape[1]}].")
    if b1.dtype != b2.dtype:
        raise RuntimeError(f"expected scalar type {_L(b1)} but found {_L(b2)}")


@declare(tensors=("input", "mat2"))
def bmm(input, mat2):
    """Batched matrix product of two 3-d tensors, as torch.bmm."""
    _bmm_check(input, mat2)
    empty = _empty_bool_product(input, mat2)
    if empty is not None:
        return empty
    _no_bool("bmm", input)
    return apply("matmul", input, mat2, label="BmmBackward0")


@declare(inplace=True, tensors=("input", "mat1", "mat2"))
def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta * input + alpha * (mat1 @ mat2), as torch.addmm."""
    if input.dtype != mat2.dtype:
        raise RuntimeError(f"self and mat2 must have the same dtype, but got {_L(input)} and {_L(mat2)}")
    if mat1.dtype != mat2.dtype:
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {_L(mat1)} and {_L(mat2)}")
    _matrix(mat1, "mat1", got=True)
    _matrix(mat2, "mat2", got=True)
    shapes.matmul(mat1.shape, mat2.shape)
    _no_bool("addmm_impl_cpu_", input)
    return _combine(input, apply("matmul", mat1, mat2), beta, alpha, "AddmmBackward0", "addmm")


@declare(inplace=True, tensors=("input", "mat", "vec"))
def addmv(input, mat, vec, *, beta=1, alpha=1):
    """beta * input + alpha * (mat @ vec), as torch.addmv."""
    if mat.ndim != 2 or vec.ndim != 1 or input.ndim > 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {mat.ndim}, {vec.ndim}")
    if mat.shape[1] != vec.shape[0] or (input.ndim == 1 and input.shape[0] not in (1, mat.shape[0])):
        raise RuntimeError(f"size mismatch, got input ({input.shape[0] if input.ndim else 1}), "
                           f"mat ({mat.shape[0]}x{mat.shape[1]}), vec ({vec.shape[0]})")
    if not input.dtype == mat.dtype == vec.dtype:
        raise RuntimeError(f"addmv input tensors must have the same dtype, but got {_L(input)}, {_L(mat)}, and "
                           f"{_L(vec)}")
    _no_bool("addmv_impl_cpu", input)
    return _combine(input, apply("matmul", mat, vec), beta, alpha, "AddmvBackward0", "addmv")


@declare(inplace=True, tensors=("input", "vec1", "vec2"))
def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """beta * input + alpha * outer(vec1, vec2), as torch.addr (inputs promote; on bools: or / and)."""
    for t, name in ((vec1, "vec1"), (vec2, "vec2")):
        if t.ndim != 1:
            raise RuntimeError(f"addr: Expected 1-D argument {name}, but got {t.ndim}-D")
    prod = apply("mul", ops.unsqueeze(vec1, 1), vec2)
    if prod._node.dtype == "bool" and input._node.dtype == "bool":
        base = ops.expand(input, prod.shape)
        return apply("logical_or", base if beta else apply("logical_and", base, False),
                     prod if alpha else apply("logical_and", prod, False), label="AddrBackward0")
    return _combine(input, prod, beta, alpha, "AddrBackward0", "addr")


@declare(inplace=True, tensors=("input", "batch1", "batch2"))
def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * bmm(batch1, batch2), as torch.baddbmm."""
    if batch1.ndim >= 2 and batch2.ndim >= 3:
        ops.expand(input, (batch1.shape[0], batch1.shape[1], batch2.shape[2]))
    if not input.dtype == batch1.dtype == batch2.dtype:
        raise RuntimeError(f"Input dtypes must be the same, got: input {_CPP[input._node.dtype]}, batch1: "
                           f"{_CPP[batch1._node.dtype]}, batch2: {_CPP[batch2._node.dtype]}")
    _bmm_check(batch1, batch2)
    _no_bool("baddbmm_cpu", input)
    return _combine(input, apply("matmul", batch1, batch2), beta, alpha, "BaddbmmBackward0", "baddbmm")


@declare(inplace=True, tensors=("input", "batch1", "batch2"))
def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * (sum over the batch of batch1[i] @ batch2[i]), as torch.addbmm."""
    for t in (batch1, batch2):
        if t.ndim != 3:
            raise RuntimeError(f"{'batch1' if t is batch1 else 'batch2'} must be a 3D tensor")
    if batch1.shape[0] != batch2.shape[0]:
        raise RuntimeError(f"batch1 and batch2 must have same number of batches, got {batch1.shape[0]} and "
                           f"{batch2.shape[0]}")
    if batch1.shape[2] != batch2.shape[1]:
        raise RuntimeError(f"Incompatible matrix sizes for bmm ({batch1.shape[1]}x{batch1.shape[2]} and "
                           f"{batch2.shape[1]}x{batch2.shape[2]})")
    ops.expand(input, (batch1.shape[1], batch2.shape[2]))
    if not input.dtype == batch1.dtype == batch2.dtype:
        raise RuntimeError(f"self and mat2 must have the same dtype, but got {_L(input)} and {_L(batch2)}")
    _no_bool("addbmm_impl_cpu_", input)
    prod = ops.sum(apply("matmul", batch1, batch2), 0)
    return _combine(input, prod, beta, alpha, "AddbmmBackward0", "addbmm")


@declare(tensors=("input", "vec2"))
def outer(input, vec2):
    """Outer product of two 1-d tensors (inputs promote), as torch.outer."""
    for t, name in ((input, "self"), (vec2, "vec2")):
        if t.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {t.ndim}-D")
    return apply("mul", ops.unsqueeze(input, 1), vec2)


@declare(tensors=("input", "vec2"))
def ger(input, vec2):
    """The old name of torch.outer."""
    return outer(input, vec2)


@declare(tensors=("input", "other"))
def vdot(input, other):
    """Inner product of two 1-d tensors (the first conjugated: real tensors, so dot), as torch.vdot."""
    if input.ndim == other.ndim == 1 and input.dtype != other.dtype:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found {_L(input)} and {_L(other)}")
    return apply("dot", input, other, label="VdotBackward0")


@declare(tensors=("input", "other"))
def inner(input, other):
    """Sum over the last dims of input and other (a product when one is 0-d), as torch.inner."""
    if input.ndim == 0 or other.ndim == 0:
        return apply("mul", input, other)
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but got shapes "
                           f"{list(input.shape)} and {list(other.shape)}")
    return tensordot(input, other, dims=([-1], [-1]))


def _dims_list(dims) -> list[int]:
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    return [int(d) for d in (dims if isinstance(dims, (list, tuple)) else [dims])]


@declare(tensors=("a", "b"), method=False)
def tensordot(a, b, dims=2, out=None):
    """Sum of products over the dims `dims` names (an int n: the last n of a with the first n of b; or two
    lists), as torch.tensordot: a permute and reshape of each side, one matmul, one reshape."""
    if isinstance(dims, Tensor) and dims.ndim == 0:
        dims = int(dims.item())
    if isinstance(dims, numbers.Integral):
        n = int(dims)
        if n < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={n}")
        if n > a.ndim or n > b.ndim:
            raise RuntimeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={n}")
        da, db = list(range(a.ndim - n, a.ndim)), list(range(n))
        shown = [d - a.ndim for d in da]
    else:
        da, db = _dims_list(dims[0]), _dims_list(dims[1])
        if len(da) != len(db):
            raise RuntimeError("both dimension lists should have same length")
        shown = da
    if a.dtype != b.dtype:
        raise RuntimeError("both inputs should have same dtype")
    da = [shapes.axis(d, a.ndim) for d in da]
    db = [shapes.axis(d, b.ndim) for d in db]
    for i, j, s in zip(da, db, shown):
        if a.shape[i] != b.shape[j]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {a.shape[i]} in dim {s} "
                               f"and second has size {b.shape[j]} in dim {j}")
    free_a = [d for d in range(a.ndim) if d not in da]
    free_b = [d for d in range(b.ndim) if d not in db]
    k = int(np.prod([a.shape[d] for d in da]))
    ra = ops.reshape(ops.permute(a, free_a + da), (int(np.prod([a.shape[d] for d in free_a])), k))
    rb = ops.reshape(ops.permute(b, db + free_b), (k, int(np.prod([b.shape[d] for d in free_b]))))
    out_shape = tuple(a.shape[d] for d in free_a) + tuple(b.shape[d] for d in free_b)
    return apply("reshape", apply("matmul", ra, rb), attrs={"shape": out_shape}, label="ViewBackward0")


def _cross(input, other, dim: int):
    d = shapes.axis(dim, input.ndim)
    if input.shape[d] != 3 or other.shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got {input.shape[d]} and "
                           f"{other.shape[d]}")
    shape = tuple(shapes.broadcast(input.shape, other.shape))
    if input.dtype != other.dtype:
        raise RuntimeError(f"expected scalar type {_L(input)} but found {_L(other)}")
    x, y = ops.expand(input, shape), ops.expand(other, shape)
    a = [ops.select(x, d, i) for i in range(3)]
    b = [ops.select(y, d, i) for i in range(3)]
    parts = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
    return apply("stack", *parts, attrs={"axis": shapes.axis(d, len(shape))}, label="LinalgCrossBackward0")


@declare("cross", namespace="linalg", tensors=("input", "other"))
def linalg_cross(input, other, *, dim=-1):
    """Cross product of 3-vectors along dim (inputs broadcast), as torch.linalg.cross."""
    if input.ndim != other.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    return _cross(input, other, int(dim))


@declare(tensors=("input", "other"))
def cross(input, other, dim=None):
    """Cross product along dim; dim=None: the first dim of size 3 (PyTorch's deprecated default)."""
    if dim is None:
        found = [k for k, s in enumerate(input.shape) if s == 3]
        if not found:
            raise RuntimeError("no dimension of size 3 in input")
        dim = found[0]
    if input.ndim != other.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    return _cross(input, other, int(dim))
