"""Operations: each appends a node naming an engine op; nothing is computed until a value is needed."""
from __future__ import annotations

import numbers

import numpy as np

from gradwire import dtypes
from gradwire._grad_mode import is_grad_enabled
from gradwire._torch_names import records_history
from gradwire.graph import Node
from gradwire.session import current_session
from gradwire.tensor import Tensor, leaf_from_data

# Slice bounds the engine reads as "to the end" (see the op catalogue's `slice` row).
_BIG = 2 ** 62


def session_of(args):
    session = None
    for a in args:
        if isinstance(a, Tensor):
            if session is None:
                session = a._node.session
            elif a._node.session is not session:
                raise RuntimeError("Expected all tensors to be on the same gradwire session, "
                                   "but found at least two sessions")
    return session or current_session()


def _is_scalar(x) -> bool:
    return isinstance(x, (numbers.Number, np.bool_)) or (isinstance(x, np.ndarray) and x.ndim == 0
                                                         and x.dtype.kind in "biuf")


def _scalar_node(session, value, ref: str | None) -> Node:
    """A Python scalar as PyTorch treats it: it takes its tensor partner's dtype, except that a
    float with an integer tensor gives the default float and an int with a bool tensor int64."""
    value = value.item() if isinstance(value, (np.ndarray, np.generic)) else value
    own = dtypes.scalar_dtype(value).name
    if ref is None or (own == "float32" and ref not in ("float32", "float64")) \
            or (own == "int64" and ref == "bool"):
        dtype = own
    else:
        dtype = ref
    arr = np.array(value, dtype=dtype)
    return Node(session, "constant", attrs={"value": arr}, value=arr)


def _as_node(x, session, ref) -> Node:
    if isinstance(x, Tensor):
        return x._node
    if _is_scalar(x):
        return _scalar_node(session, x, ref)
    return leaf_from_data(session, x)._node


def apply(op: str, *args, attrs: dict | None = None, label: str | None = None,
          ref_args=None) -> Tensor:
    """Record `op(*args)`; Python scalars and arrays among args become constants and leaves."""
    session = session_of(args)
    ref = None
    for a in (args if ref_args is None else ref_args):
        if isinstance(a, Tensor):
            ref = a._node.dtype if ref is None else dtypes.promote(ref, a._node.dtype)
    nodes = [_as_node(a, session, ref) for a in args]
    attrs = attrs or {}
    requires_grad = (is_grad_enabled() and records_history(op)
                     and builtins_any(n.requires_grad for n in nodes))
    node = Node(session, op, nodes, attrs, requires_grad=requires_grad, label=label,
                dtype_hint=dtypes.hint(op, [n.dtype for n in nodes], attrs))
    return Tensor._wrap(node)


def _axes(dim):
    if dim is None:
        return None
    return (int(dim),) if isinstance(dim, numbers.Integral) else tuple(int(d) for d in dim)


# -- elementwise ------------------------------------------------------------------------------
def _unary(op):
    def fn(input):
        return apply(op, input)
    fn.__name__ = op
    fn.__doc__ = f"Elementwise {op}, as torch.{op}."
    return fn


exp, log, sin, cos, tan, tanh = (_unary(o) for o in ("exp", "log", "sin", "cos", "tan", "tanh"))
sigmoid, relu, sqrt, abs, square, sign, neg = (_unary(o) for o in (
    "sigmoid", "relu", "sqrt", "abs", "square", "sign", "neg"))


def add(input, other):
    return apply("add", input, other)


def sub(input, other):
    # PyTorch names `2 - x` RsubBackward1; the engine op is the same sub.
    return apply("sub", input, other, label=None if isinstance(input, Tensor) else "RsubBackward1")


def mul(input, other):
    return apply("mul", input, other)


def div(input, other):
    return apply("div", input, other)


def pow(input, exponent):
    if isinstance(input, Tensor) and _is_scalar(exponent):
        return apply("pow_scalar", input, attrs={"exponent": float(exponent)})
    return apply("pow", input, exponent)


def maximum(input, other):
    return apply("maximum", input, other)


def minimum(input, other):
    return apply("minimum", input, other)


def clamp(input, min=None, max=None):
    return apply("clamp", input, attrs={"min": None if min is None else float(min),
                                        "max": None if max is None else float(max)})


def where(condition, input, other):
    return apply("where", condition, input, other, ref_args=(input, other))


def compare(op: str, input, other):
    return apply(op, input, other)


# -- reductions -------------------------------------------------------------------------------
def sum(input, dim=None, keepdim=False):
    return apply("sum", input, attrs={"axes": _axes(dim), "keepdims": bool(keepdim)})


def mean(input, dim=None, keepdim=False):
    return apply("mean", input, attrs={"axes": _axes(dim), "keepdims": bool(keepdim)})


def prod(input, dim=None, keepdim=False):
    return apply("prod", input, attrs={"axes": _axes(dim), "keepdims": bool(keepdim)})


def amax(input, dim=None, keepdim=False):
    return apply("max", input, attrs={"axes": _axes(dim), "keepdims": bool(keepdim)})


def amin(input, dim=None, keepdim=False):
    return apply("min", input, attrs={"axes": _axes(dim), "keepdims": bool(keepdim)})


def argmax(input, dim=None, keepdim=False):
    return apply("argmax", input, attrs={"axis": None if dim is None else int(dim), "keepdims": bool(keepdim)})


def argmin(input, dim=None, keepdim=False):
    return apply("argmin", input, attrs={"axis": None if dim is None else int(dim), "keepdims": bool(keepdim)})


class _ReturnType(tuple):
    """(values, indices), printed like torch.return_types.max."""

    _kind = ""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])

    def __repr__(self) -> str:
        return f"torch.return_types.{self._kind}(\nvalues={self[0]!r},\nindices={self[1]!r})"


class _MaxResult(_ReturnType):
    _kind = "max"


class _MinResult(_ReturnType):
    _kind = "min"


def _extreme(input, dim, keepdim, other, which: str):
    """max(x) -> largest value; max(x, other) -> elementwise; max(x, dim) -> (values, indices) where the
    values' gradient goes to the returned index only, as in PyTorch."""
    if isinstance(dim, Tensor) and other is None:
        dim, other = None, dim
    if other is not None:
        return apply("maximum" if which == "max" else "minimum", input, other)
    if dim is None:
        return apply(which, input, attrs={"axes": None, "keepdims": False})
    indices = apply("arg" + which, input, attrs={"axis": int(dim), "keepdims": True})
    label = "MaxBackward0" if which == "max" else "MinBackward0"
    values = apply("gather", input, indices, attrs={"axis": int(dim)}, label=label)
    if not keepdim:
        values = apply("squeeze", values, attrs={"axes": (int(dim),)}, label=label)
        indices = apply("squeeze", indices, attrs={"axes": (int(dim),)})
    return (_MaxResult if which == "max" else _MinResult)(values, indices)


def max(input, dim=None, keepdim=False, *, other=None):
    return _extreme(input, dim, keepdim, other, "max")


def min(input, dim=None, keepdim=False, *, other=None):
    return _extreme(input, dim, keepdim, other, "min")


def var(input, dim=None, unbiased=True, keepdim=False, *, correction=None):
    """Mean squared deviation, divided by n - correction (1 by default, like PyTorch's unbiased var)."""
    correction = (1 if unbiased else 0) if correction is None else correction
    axes = _axes(dim)
    shape = tuple(input.shape)
    n = 1
    for a in (range(len(shape)) if axes is None else axes):
        n *= shape[a]
    centered = input - mean(input, dim, keepdim=True)
    total = apply("sum", centered * centered, attrs={"axes": axes, "keepdims": bool(keepdim)})
    return apply("div", total, float(n - correction), label="VarBackward0")


def std(input, dim=None, unbiased=True, keepdim=False, *, correction=None):
    return apply("sqrt", var(input, dim, unbiased, keepdim, correction=correction), label="StdBackward0")


def all(input, dim=None, keepdim=False):
    return apply("all", input, attrs={"axes": _axes(dim), "keepdims": bool(keepdim)})


def any(input, dim=None, keepdim=False):
    return apply("any", input, attrs={"axes": _axes(dim), "keepdims": bool(keepdim)})


def norm(input, p=2, dim=None, keepdim=False):
    p = 2.0 if p in (None, "fro") else float(p)
    return apply("norm", input, attrs={"p": p, "axes": _axes(dim), "keepdims": bool(keepdim)})


def logsumexp(input, dim, keepdim=False):
    return apply("logsumexp", input, attrs={"axes": _axes(dim), "keepdims": bool(keepdim)})


def softmax(input, dim):
    return apply("softmax", input, attrs={"axis": int(dim)})


def log_softmax(input, dim):
    return apply("log_softmax", input, attrs={"axis": int(dim)})


# -- linear algebra ---------------------------------------------------------------------------
def dot(input, other):
    return apply("dot", input, other)


def matmul(input, other):
    return apply("matmul", input, other)


# -- shape --------------------------------------------------------------------------------------
def cat(tensors, dim=0):
    return apply("concat", *tensors, attrs={"axis": int(dim)})


def stack(tensors, dim=0):
    return apply("stack", *tensors, attrs={"axis": int(dim)})


def reshape(input, shape):
    return apply("reshape", input, attrs={"shape": tuple(int(s) for s in shape)})


def permute(input, dims):
    return apply("transpose", input, attrs={"perm": None if dims is None else tuple(dims)})


def transpose(input, dim0, dim1):
    perm = list(range(input.ndim))
    perm[dim0], perm[dim1] = perm[dim1], perm[dim0]
    return apply("transpose", input, attrs={"perm": tuple(perm)}, label="TransposeBackward0")


def unsqueeze(input, dim):
    return apply("unsqueeze", input, attrs={"axis": int(dim)})


def squeeze(input, dim=None):
    return apply("squeeze", input, attrs={"axes": _axes(dim)})


def cast(input, dtype):
    return apply("cast", input, attrs={"dtype": dtypes.as_dtype(dtype).name})


def _is_array_index(k) -> bool:
    return not (k is None or isinstance(k, slice) or
                (isinstance(k, (numbers.Integral, np.integer)) and not isinstance(k, bool)))


def getitem(x: Tensor, key) -> Tensor:
    """Basic slicing, integers, None and one integer-array index (as a `take`); several integer-array
    indices select pointwise, as in NumPy and PyTorch (see `_pointwise`)."""
    if not isinstance(key, tuple):
        key = (key,)
    if builtins_any(k is Ellipsis for k in key):
        i = key.index(Ellipsis)
        used = builtins_sum(1 for k in key if k is not None and k is not Ellipsis)
        key = key[:i] + (slice(None),) * (x.ndim - used) + key[i + 1:]
    key = _masks_to_indices(key)
    if builtins_sum(1 for k in key if _is_array_index(k)) > 1:
        return _pointwise(x, key)
    known_shape = x._node.value.shape if x._node.value is not None else None
    starts, stops, steps, ints, takes, news = [], [], [], [], [], []
    axis = out_axis = 0
    for k in key:
        if k is None:
            news.append(out_axis)
            out_axis += 1
            continue
        if isinstance(k, slice):
            step = 1 if k.step is None else int(k.step)
            if step <= 0:
                raise ValueError("step must be greater than zero")
            starts.append(0 if k.start is None else int(k.start))
            stops.append(_BIG if k.stop is None else int(k.stop))
            steps.append(step)
            out_axis += 1
        elif isinstance(k, (numbers.Integral, np.integer)) and not isinstance(k, bool):
            k = int(k)
            if known_shape is not None:
                size = known_shape[axis] if axis < len(known_shape) else None
                if size is None:
                    raise IndexError(f"too many indices for tensor of dimension {len(known_shape)}")
                if not -size <= k < size:
                    raise IndexError(f"index {k} is out of bounds for dimension {axis} "
                                     f"with size {size}")
            starts.append(k)
            stops.append(k + 1 if k != -1 else _BIG)
            steps.append(1)
            ints.append(axis)
        else:
            index = k if isinstance(k, Tensor) else leaf_from_data(x._node.session, np.asarray(k))
            if index._node.dtype in ("float32", "float64", "bool"):
                raise IndexError("tensors used as indices must be long, int or bool tensors; "
                                 "gradwire supports integer-array indices only")
            takes.append((axis, index))
            starts.append(0)
            stops.append(_BIG)
            steps.append(1)
            out_axis += index.ndim
        axis += 1
    out = x
    trimmed = len(starts)
    while trimmed and (starts[trimmed - 1], stops[trimmed - 1], steps[trimmed - 1]) == (0, _BIG, 1):
        trimmed -= 1
    if trimmed:
        out = apply("slice", out, attrs={"starts": tuple(starts[:trimmed]),
                                         "stops": tuple(stops[:trimmed]),
                                         "steps": tuple(steps[:trimmed])})
    shift = 0
    for axis_, index in takes:
        out = apply("take", out, index, attrs={"axis": axis_ + shift})
        shift += index.ndim - 1
    if ints:
        # Integer-indexed axes sit after any take's inserted index dimensions.
        squeeze_axes = tuple(a + builtins_sum(i.ndim - 1 for ax, i in takes if ax < a) for a in ints)
        out = apply("squeeze", out, attrs={"axes": squeeze_axes},
                    label="IndexBackward0" if takes else "SelectBackward0")
    for position in news:
        out = apply("unsqueeze", out, attrs={"axis": position})
    if out is x:   # x[:] or x[...]: still a new tensor, as in PyTorch
        out = apply("slice", x, attrs={"starts": (0,), "stops": (_BIG,), "steps": (1,)})
    return out


def _masks_to_indices(key: tuple) -> tuple:
    """A bool mask over k dimensions selects where it is True: the same as the k integer arrays of its
    nonzero positions (NumPy's and PyTorch's rule). The mask's value is needed for that: one request if
    the client does not hold it yet."""
    out = []
    for k in key:
        if isinstance(k, (Tensor, np.ndarray, list)) and not isinstance(k, bool):
            value = k._value() if isinstance(k, Tensor) else np.asarray(k)
            if value.dtype == np.bool_:
                if not value.ndim:
                    raise IndexError("gradwire does not index with a 0-d bool mask")
                out.extend(value.nonzero())
                continue
        out.append(k)
    return tuple(out)


def _index_array(k) -> np.ndarray:
    value = k._value() if isinstance(k, Tensor) else np.asarray(k)
    if value.dtype.kind not in "iu":
        raise IndexError("tensors used as indices must be long, int or bool tensors; "
                         "gradwire supports integer-array indices only")
    return value.astype(np.int64)


def _pointwise(x: Tensor, key: tuple) -> Tensor:
    """x[i, j] with several integer arrays (integers count as 0-d arrays): the arrays broadcast together
    and pick elements pointwise. Built from differentiable ops: slice the other axes, move the indexed
    axes to the front, merge them, and take the raveled indices; the result's index dimensions go where
    NumPy puts them (in place when the indexed axes are adjacent, first otherwise)."""
    if builtins_any(k is None for k in key):
        raise IndexError("gradwire does not combine None with several integer-array indices")
    shape = tuple(x.shape)
    if len(key) > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    key = key + (slice(None),) * (len(shape) - len(key))
    adv = [a for a, k in enumerate(key) if not isinstance(k, slice)]
    arrays = [_index_array(key[a]) for a in adv]
    try:
        arrays = np.broadcast_arrays(*arrays)
    except ValueError:
        raise IndexError("shape mismatch: indexing tensors could not be broadcast together with shapes "
                         + ", ".join(str(list(a.shape)) for a in arrays)) from None
    for a, idx in zip(adv, arrays):
        size = shape[a]
        bad = idx[(idx < -size) | (idx >= size)]
        if bad.size:
            raise IndexError(f"index {int(bad.flat[0])} is out of bounds for dimension {a} with size {size}")
    rest = [a for a in range(len(shape)) if a not in adv]
    out = apply("slice", x, attrs={"starts": tuple(0 if a in adv else _start(key[a]) for a in range(len(shape))),
                                   "stops": tuple(_BIG if a in adv else _stop(key[a]) for a in range(len(shape))),
                                   "steps": tuple(1 if a in adv else _step(key[a]) for a in range(len(shape)))})
    out = apply("transpose", out, attrs={"perm": tuple(adv + rest)})
    rest_dims = tuple(len(range(*slice(_start(key[a]), _stop(key[a]), _step(key[a])).indices(shape[a])))
                      for a in rest)
    out = apply("reshape", out, attrs={"shape": (-1,) + rest_dims})
    flat = np.ravel_multi_index(tuple(np.where(i < 0, i + shape[a], i) for a, i in zip(adv, arrays)),
                                tuple(shape[a] for a in adv))
    out = apply("take", out, leaf_from_data(x._node.session, flat), attrs={"axis": 0}, label="IndexBackward0")
    p, n = adv[0], flat.ndim
    if adv == list(range(p, p + len(adv))) and p:
        perm = tuple(n + i for i in range(p)) + tuple(range(n)) + tuple(n + i for i in range(p, len(rest)))
        out = apply("transpose", out, attrs={"perm": perm}, label="IndexBackward0")
    return out


def _step(k: slice) -> int:
    step = 1 if k.step is None else int(k.step)
    if step <= 0:
        raise ValueError("step must be greater than zero")
    return step


def _start(k: slice) -> int:
    return 0 if k.start is None else int(k.start)


def _stop(k: slice) -> int:
    return _BIG if k.stop is None else int(k.stop)


import builtins as _builtins  # noqa: E402  (the module shadows sum/any/all/abs/pow)

builtins_any, builtins_sum = _builtins.any, _builtins.sum
