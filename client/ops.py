"""Operations: each appends a node naming an engine op; nothing is computed until a value is needed."""
from __future__ import annotations

import numbers

import numpy as np

import math
import weakref

from gradwire import dtypes
from gradwire._grad_mode import is_grad_enabled
from gradwire._torch_names import NO_HISTORY, SAVES, saved_inputs, saves_output
from gradwire._views import Step, view_strides
from gradwire._wire import AttrBytes
from gradwire.core import shapes, signature
from gradwire.core.dtypes import FLOATS, INTS, result_type
from gradwire.core.hashing import MIN_RESIDENT_BYTES
from gradwire.core.signature import Aval
from gradwire.core.structural import BIG as _BIG
from gradwire.graph import Node
from gradwire.session import current_session
from gradwire.tensor import Tensor, leaf_from_data


def session_of(args):
    session = None
    for a in args:
        if isinstance(a, Tensor):
            if session is None:
                session = a._node.session
            elif a._node.session is not session:
                raise RuntimeError(_TWO_SESSIONS)
    return session or current_session()


_TWO_SESSIONS = "Expected all tensors to be on the same gradwire session, but found at least two sessions"


def _is_scalar(x) -> bool:
    t = type(x)
    if t is float or t is int or t is bool:
        return True
    return isinstance(x, (numbers.Number, np.bool_)) or (isinstance(x, np.ndarray) and x.ndim == 0
                                                         and x.dtype.kind in "biuf")


def _operand(x):
    """(dtype, ndim, is a Python scalar) for torch.result_type."""
    if isinstance(x, Tensor):
        node = x._node
        return node.dtype, node.ndim, False
    if _is_scalar(x):
        x = x.item() if isinstance(x, (np.ndarray, np.generic)) else x
        return dtypes.scalar_dtype(x).name, 0, True
    arr = np.asarray(x)
    return dtypes.as_dtype(arr.dtype).name if arr.dtype.kind != "f" else "float32", arr.ndim, False


def _as_node(x, session, dtype) -> Node:
    """A Python scalar becomes a constant of the operation's result dtype (PyTorch computes with the
    scalar in that type); other data becomes a leaf."""
    if isinstance(x, Tensor):
        return x._node
    if _is_scalar(x):
        value = x.item() if isinstance(x, (np.ndarray, np.generic)) else x
        if dtype == "float16-opmath":
            arr = np.array(value, dtype=np.float32)   # kept in PyTorch's float32 opmath; the engine rounds results
        elif dtype in INTS and isinstance(value, numbers.Integral) and -2**63 <= value < 2**63:
            arr = np.array(value, dtype=np.int64).astype(dtype)     # PyTorch wraps: uint8 tensor + 300 adds 44
        elif dtype in _WIDE_FLOATS and type(value) in (float, int) and -3e38 < value < 3e38:
            arr = np.array(value, dtype=dtype)        # no overflow possible: skip errstate (~1 µs)
        else:
            with np.errstate(over="ignore"):          # 1e6 as float16 is inf, as in PyTorch
                arr = np.array(value, dtype=dtype)
        return Node(session, "constant", attrs={"value": arr}, value=arr)
    return leaf_from_data(session, x)._node


_WIDE_FLOATS = ("float32", "float64")


def _saved(op: str, nodes, args, out: Tensor):
    """What PyTorch's backward node for op saves, checked when a backward reaches this node: per saved
    tensor (version counter, version, weakref to the tensor, dtype, shape, the node that made it if it
    is the op's own result, storage, storage generation)."""
    if op not in SAVES:                 # most ops save nothing PyTorch would check
        return ()
    saved = []
    for j in saved_inputs(op, [n.requires_grad for n in nodes]):
        a = args[j] if j < len(args) else None
        if isinstance(a, Tensor):
            saved.append((a._vc, a._vc.value, weakref.ref(a), nodes[j].dtype, nodes[j].shape, None,
                          a._storage, a._storage.generation))
    if saves_output(op):
        node = out._node
        saved.append((out._vc, 0, None, node.dtype, node.shape, node, out._storage, 0))
    return tuple(saved)


def _key(v):
    """A hashable stand-in for an attribute value that tells apart every value the signature rules do (an
    int from a float or a bool, 0.0 from -0.0), or None for a value not worth a key (an array, a NumPy scalar)."""
    t = type(v)
    if t is int or t is bool or t is str or v is None:
        return v if t is str or v is None else (t, v)
    if t is float:
        return (t, v.hex())
    if t is tuple or t is list:
        out = []
        for x in v:
            k = _key(x)
            if k is None and x is not None:
                return None
            out.append(k)
        return (t, tuple(out))
    return None


# The signature rules are pure functions of (op, input shapes and dtypes, attributes), and a program records
# the same few calls over and over: their results are kept, keyed by exactly those, with the attributes'
# encoding for the wire computed once per entry. Only calls that succeed are kept; a bad one raises every time.
_INFERRED: dict[tuple, tuple] = {}
_INFERRED_LIMIT = 1 << 14


def _infer(op: str, nodes, attrs: dict):
    """(normalized attrs, shape, dtype, shared attribute bytes or None) of op on nodes."""
    items = []
    for k, v in attrs.items():
        kv = _key(v)
        if kv is None and v is not None:
            items = None
            break
        items.append((k, kv))
    key = None
    if items is not None:
        key = (op, tuple([(n.shape, n.dtype) for n in nodes]), tuple(items))
        hit = _INFERRED.get(key)
        if hit is not None:
            return dict(hit[0]), hit[1], hit[2], hit[3]
    normalized, aval = signature.infer(op, [Aval(n.shape, n.dtype) for n in nodes], attrs)
    shape = tuple(aval.shape)
    if key is None or builtins_any(type(v) is np.ndarray for v in normalized.values()):
        return normalized, shape, aval.dtype, None
    if len(_INFERRED) >= _INFERRED_LIMIT:
        _INFERRED.clear()
    shared = AttrBytes()
    _INFERRED[key] = (dict(normalized), shape, aval.dtype, shared)
    return normalized, shape, aval.dtype, shared


def node_op(op: str, *nodes: Node, attrs: dict | None = None, label: str | None = None,
            requires_grad: bool | None = None) -> Node:
    """A node for op on nodes, with its shape and dtype from the op's signature: a bad call raises here,
    with PyTorch's exception type and message."""
    attrs, shape, dtype, shared = _infer(op, nodes, attrs or {})
    if requires_grad is None:
        # Only floating-point results carry history in PyTorch (x.to(int32) has no grad_fn).
        requires_grad = False
        if dtype in FLOATS and op not in NO_HISTORY and is_grad_enabled():
            for n in nodes:
                if n.requires_grad:
                    requires_grad = True
                    break
    node = Node(nodes[0].session if nodes else current_session(), op, nodes, attrs,
                requires_grad=requires_grad, shape=shape, dtype=dtype, label=label)
    node.encoded = shared
    view = _HELD_VIEWS.get(op)
    if view is not None and not requires_grad and len(nodes) == 1 and nodes[0].value is not None and \
            node.nbytes < MIN_RESIDENT_BYTES:
        node.value = np.array(view(nodes[0].value, node), copy=True, order="C")
    return node


# Data movement without history on a small value the client holds (a minibatch sliced from a dataset, reshaped)
# is done here: the value is a few bytes, and a training step's graph then has the same structure every step,
# so it travels by hash and the server reuses its plan instead of checking and planning a new graph each step
# (the slice bounds are attributes). The node keeps its op and inputs; only its value is known sooner. Each entry
# is the engine op's NumPy definition.
_HELD_VIEWS = {
    "slice": lambda v, node: v[tuple(slice(a, b, s) for a, b, s in zip(
        node.attrs["starts"], node.attrs["stops"], node.attrs["steps"]))],
    "reshape": lambda v, node: v.reshape(node.shape),
    "squeeze": lambda v, node: v.reshape(node.shape),
    "unsqueeze": lambda v, node: v.reshape(node.shape),
    "transpose": lambda v, node: np.transpose(v, node.attrs["perm"]),
}


_OPMATH_SCALARS = frozenset({"mul", "div", "lerp"})


def apply(op: str, *args, attrs: dict | None = None, label: str | None = None, ref_args=None) -> Tensor:
    """Record `op(*args)`; Python scalars become constants of the result type and arrays become leaves.
    ref_args: the arguments whose types decide the result type (default: all)."""
    nodes = []
    for a in args:                     # the common case first: every argument a tensor (read each node once)
        if not isinstance(a, Tensor):
            nodes = None
            break
        nodes.append(a._node)
    if nodes and ref_args is None:
        session = nodes[0].session
        for n in nodes:
            if n.session is not session:
                raise RuntimeError(_TWO_SESSIONS)
    else:
        session = session_of(args)
        refs = [_operand(a) for a in (args if ref_args is None else ref_args)]
        dtype = result_type(*refs) if refs else None
        # PyTorch multiplies and divides a float16 tensor by a Python scalar in float32 (half_tensor * 1e6 is not
        # inf * x; add, sub, pow and comparisons round the scalar to float16 first): the scalar stays float32
        # where a float32 0-d input cannot change the result type (every tensor has dims).
        if dtype == "float16" and op in _OPMATH_SCALARS and builtins_all(
                a.ndim for a in args if isinstance(a, Tensor)):
            dtype = "float16-opmath"
        nodes = [_as_node(a, session, dtype) for a in args]
    node = node_op(op, *nodes, attrs=attrs, label=label)
    out = Tensor._wrap(node)
    if node.requires_grad:
        node.saved = _saved(op, nodes, args, out)
    return out


def fit(node: Node, shape, dtype: str, label: str | None = None) -> Node:
    """node broadcast to shape and cast to dtype, as copy_ and setitem take their source."""
    if node.shape != tuple(shape):
        node = node_op("broadcast_to", node, attrs={"shape": tuple(shape)}, label=label)
    if node.dtype != dtype:
        node = node_op("cast", node, attrs={"dtype": dtype}, label=label)
    return node


def view_op(x: Tensor, op: str, attrs: dict, label: str | None = None) -> Tensor:
    """A view of x: the op's result shares x's storage, so writes through either reach the other."""
    node = node_op(op, x._node, attrs=attrs, label=label)
    return x._alias(node, Step(op, node.attrs))


def _axes(dim):
    if dim is None:
        return None
    return (int(dim),) if isinstance(dim, numbers.Integral) else tuple(int(d) for d in dim)


# -- reductions -------------------------------------------------------------------------------
def sum(input, dim=None, keepdim=False):
    return apply("sum", input, attrs={"axes": _axes(dim), "keepdims": bool(keepdim)},
                 label="SumBackward0" if dim is None else "SumBackward1")


def mean(input, dim=None, keepdim=False):
    return apply("mean", input, attrs={"axes": _axes(dim), "keepdims": bool(keepdim)},
                 label="MeanBackward0" if dim is None else "MeanBackward1")


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
    """Mean squared deviation, divided by max(0, n - correction) (correction 1 by default, like PyTorch's
    unbiased var): with no degrees of freedom left the result is inf or nan, as in PyTorch."""
    correction = (1 if unbiased else 0) if correction is None else correction
    axes = _axes(dim)
    shape = tuple(input.shape)
    n = 1
    for a in (range(len(shape)) if axes is None else axes):
        n *= shape[a]
    centered = input - mean(input, dim, keepdim=True)
    total = apply("sum", centered * centered, attrs={"axes": axes, "keepdims": bool(keepdim)})
    return apply("div", total, float(builtins_max(0, n - correction)), label="VarBackward0")


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
    if not len(tensors):
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    return apply("concat", *tensors, attrs={"axis": int(dim)})


def stack(tensors, dim=0):
    if not len(tensors):
        raise RuntimeError("stack expects a non-empty TensorList")
    return apply("stack", *tensors, attrs={"axis": int(dim)})


def reshape(input, shape):
    """A view where PyTorch's strides allow one (contiguous inputs), else a copy (as PyTorch's reshape)."""
    target = shapes.reshape(input.shape, tuple(int(s) for s in shape))
    if view_strides(input.shape, input._strides, target) is not None:
        return view_op(input, "reshape", {"shape": target})
    return apply("reshape", input, attrs={"shape": target}, label="UnsafeViewBackward0")


def view(input, shape):
    target = shapes.reshape(input.shape, tuple(int(s) for s in shape))
    if view_strides(input.shape, input._strides, target) is None:
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one "
                           "dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
    return view_op(input, "reshape", {"shape": target})


def flatten(input, start_dim=0, end_dim=-1):
    shape = tuple(input.shape)
    if not shape:
        return reshape(input, (1,))
    start, end = _dim(start_dim, len(shape)), _dim(end_dim, len(shape))
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    return reshape(input, shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:])


def permute(input, dims):
    return view_op(input, "transpose", {"perm": tuple(int(d) for d in dims)})


def transpose(input, dim0, dim1):
    n = input.ndim
    perm = list(range(n))
    a, b = _dim(dim0, n), _dim(dim1, n)
    if n:
        perm[a], perm[b] = perm[b], perm[a]
    return view_op(input, "transpose", {"perm": tuple(perm)}, "TransposeBackward0")


swapaxes = swapdims = transpose


def unsqueeze(input, dim):
    return view_op(input, "unsqueeze", {"axis": int(dim)})


def squeeze(input, dim=None):
    return view_op(input, "squeeze", {"axes": _axes(dim)}, "SqueezeBackward0" if dim is None else None)


def expand(input, sizes):
    """Broadcast to sizes (a view); -1 keeps a dimension."""
    shape = tuple(input.shape)
    lead = len(sizes) - len(shape)
    target = tuple(shape[k - lead] if d == -1 and k >= lead else int(d) for k, d in enumerate(sizes))
    return view_op(input, "broadcast_to", {"shape": target}, "ExpandBackward0")


def _dim(dim, ndim: int) -> int:
    return shapes.axis(int(dim), ndim)


def _slice_dim(input, dim: int, start: int, stop: int, step: int = 1, label=None):
    """A view of input sliced along one dim."""
    return view_op(input, "slice", {"starts": (0,) * dim + (start,), "stops": (_BIG,) * dim + (stop,),
                                    "steps": (1,) * dim + (step,)}, label)


def select(input, dim, index):
    shape = tuple(input.shape)
    if not shape:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = _dim(dim, len(shape))
    size = shape[d]
    if not -size <= int(index) < size:
        raise IndexError(f"select(): index {int(index)} out of range for tensor of size {list(shape)} at "
                         f"dimension {d}")
    i = int(index) % size
    return view_op(_slice_dim(input, d, i, i + 1), "squeeze", {"axes": (d,)}, "SelectBackward0")


def narrow(input, dim, start, length):
    shape = tuple(input.shape)
    d = _dim(dim, len(shape))
    start, length = int(start), int(length)
    if start < 0:
        start += shape[d]
    if start + length > shape[d] or start < 0 or length < 0:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({shape[d]}).")
    return _slice_dim(input, d, start, start + length)


def unbind(input, dim=0):
    d = _dim(dim, input.ndim)
    parts = []
    for i in range(input.shape[d]):
        part = _slice_dim(input, d, i, i + 1)
        parts.append(view_op(part, "squeeze", {"axes": (d,)}, "UnbindBackward0"))
        parts[-1]._multi = (i, "UnbindBackward0")
    return tuple(parts)


def split(input, split_size_or_sections, dim=0):
    d = _dim(dim, input.ndim)
    n = input.shape[d]
    if isinstance(split_size_or_sections, numbers.Integral):
        size = int(split_size_or_sections)
        if size <= 0 and n:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
        sizes = [builtins_min(size, n - k) for k in range(0, n, size)] if size else [0]
        label = "SplitBackward0"
    else:
        sizes = [int(k) for k in split_size_or_sections]
        if builtins_sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
                               f"at dimension {d}), but got split_sizes={sizes}")
        label = "SplitWithSizesBackward0"
    out, start = [], 0
    for i, size in enumerate(sizes):
        out.append(_slice_dim(input, d, start, start + size, label=label))
        out[-1]._multi = (i, label)
        start += size
    return tuple(out)


def chunk(input, chunks, dim=0):
    if int(chunks) <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(int(chunks)))
    n = input.shape[_dim(dim, input.ndim)]
    return split(input, builtins_max(-(-n // int(chunks)), 1), dim)


def diagonal(input, offset=0, dim1=0, dim2=1):
    return view_op(input, "diagonal", {"offset": int(offset), "axis1": int(dim1), "axis2": int(dim2)})


def cast(input, dtype):
    name = dtypes.as_dtype(dtype).name
    return input if input._node.dtype == name else apply("cast", input, attrs={"dtype": name})


def _is_array_index(k) -> bool:
    return not (k is None or k is Ellipsis or isinstance(k, slice) or
                (isinstance(k, (numbers.Integral, np.integer)) and not isinstance(k, bool)))


def _expand_ellipsis(x: Tensor, key) -> tuple:
    if not isinstance(key, tuple):
        key = (key,)
    at = [i for i, k in enumerate(key) if k is Ellipsis]     # `is`, never ==: keys may hold tensors
    if len(at) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if at:
        i = at[0]
        used = builtins_sum(_index_dims(k) for k in key if k is not None and k is not Ellipsis)
        key = key[:i] + (slice(None),) * builtins_max(x.ndim - used, 0) + key[i + 1:]
    return key


def _index_dims(k) -> int:
    """How many dims of the indexed tensor one index entry consumes (a bool mask: its own rank)."""
    if isinstance(k, (Tensor, np.ndarray)) and k.dtype in (np.bool_, dtypes.bool_):
        return k.ndim
    return 1


def getitem(x: Tensor, key) -> Tensor:
    """Basic indexing (integers, slices, None, ...) gives a view, as in PyTorch; one integer-array index is
    a `take`, several select pointwise (see `_pointwise`), a bool mask selects where it is True."""
    if not isinstance(key, tuple) and isinstance(key, slice) and not x.ndim:
        raise IndexError("slice() cannot be applied to a 0-dim tensor.")
    key = _masks_to_indices(_expand_ellipsis(x, key), x._node.shape)
    if builtins_sum(1 for k in key if _is_array_index(k)) > 1:
        if builtins_any(k is None or not (isinstance(k, slice) or _is_array_index(k)) for k in key):
            return _basic_first(x, key)
        return _pointwise(x, key)
    shape = x._node.shape
    if builtins_sum(1 for k in key if k is not None) > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    starts, stops, steps, ints, takes, news = [], [], [], [], [], []
    axis = out_axis = 0
    for k in key:
        if k is None:
            news.append(out_axis)
            out_axis += 1
            continue
        if isinstance(k, slice):
            starts.append(_start(k))
            stops.append(_stop(k))
            steps.append(_step(k))
            out_axis += 1
        elif isinstance(k, (numbers.Integral, np.integer)) and not isinstance(k, bool):
            k, size = int(k), shape[axis]
            if not -size <= k < size:
                raise IndexError(f"index {k} is out of bounds for dimension {axis} with size {size}")
            starts.append(k)
            stops.append(k + 1 if k != -1 else _BIG)
            steps.append(1)
            ints.append(axis)
        else:
            index = k if isinstance(k, Tensor) else leaf_from_data(x._node.session, np.asarray(k))
            if index._node.dtype in ("float32", "float64", "bool"):
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            _in_bounds(index._node.value, 0, shape[axis])
            takes.append((axis, index))
            starts.append(0)
            stops.append(_BIG)
            steps.append(1)
            out_axis += index.ndim
        axis += 1
    step = view_op if not takes else (lambda t, op, attrs, label=None: apply(op, t, attrs=attrs, label=label))
    out = x
    trimmed = len(starts)
    while trimmed and (starts[trimmed - 1], stops[trimmed - 1], steps[trimmed - 1]) == (0, _BIG, 1):
        trimmed -= 1
    if trimmed:
        out = step(out, "slice", {"starts": tuple(starts[:trimmed]), "stops": tuple(stops[:trimmed]),
                                  "steps": tuple(steps[:trimmed])})
    shift = 0
    for axis_, index in takes:
        out = apply("take", out, index, attrs={"axis": axis_ + shift})
        shift += index.ndim - 1
    if ints:
        # Integer-indexed axes sit after any take's inserted index dimensions.
        squeeze_axes = tuple(a + builtins_sum(i.ndim - 1 for ax, i in takes if ax < a) for a in ints)
        out = step(out, "squeeze", {"axes": squeeze_axes}, "IndexBackward0" if takes else "SelectBackward0")
    for position in news:
        out = step(out, "unsqueeze", {"axis": position})
    if out is x:   # x[:] or x[...]: still a new tensor (a view), as in PyTorch
        out = view_op(x, "slice", {"starts": (0,), "stops": (_BIG,), "steps": (1,)} if x.ndim else
                      {"starts": (), "stops": (), "steps": ()}, "AliasBackward0")
    return out


def _in_bounds(idx, k: int, size: int) -> None:
    """PyTorch's IndexError, at the call, for index values the client holds (None: the server checks them).
    k: which of the indexing arrays this is (PyTorch numbers the dimensions it names among those)."""
    if idx is None or not idx.size:
        return
    bad = idx[(idx < -size) | (idx >= size)]
    if bad.size:
        raise IndexError(f"index {int(bad.flat[0])} is out of bounds for dimension {k} with size {size}")


def setitem(x: Tensor, key, value) -> None:
    """x[key] = value, in place: through a view for basic indexing (so a write into a slice reaches x and
    its other views), `where` for one bool mask, and a flat `put` for integer-array indices."""
    key = _expand_ellipsis(x, key)
    if not builtins_any(_is_array_index(k) for k in key):
        # PyTorch's indexing returns the tensor itself for slices that each cover their whole dim (x[:] = v is a
        # copy_ into x: its grad_fn, its error for a leaf), a view otherwise.
        whole = len(key) <= x.ndim and builtins_all(
            isinstance(k, slice) and k.indices(n) == (0, n, 1) for k, n in zip(key, x._node.shape))
        if whole and isinstance(value, Tensor):
            x.copy_(value)
            return
        view = x if whole else getitem(x, key)
        node = view._node
        if not isinstance(value, Tensor):
            value = leaf_from_data(node.session, np.asarray(value), node.dtype)
        view._write(fit(value._node, node.shape, node.dtype),   # value expanded to the view's shape
                    "FillBackward3" if whole else None)
        return
    node = x._node
    mask = key[0] if key and isinstance(key[0], (Tensor, np.ndarray)) and key[0].dtype in (
        np.bool_, dtypes.bool_) else None
    if mask is not None and builtins_all(isinstance(k, slice) and k == slice(None) for k in key[1:]) \
            and tuple(mask.shape) == node.shape[:mask.ndim]:
        rest = node.shape[mask.ndim:]
        src = value._node if isinstance(value, Tensor) else _as_node(value, node.session, node.dtype)
        if shapes_broadcast_to(src.shape, rest):
            m = mask if isinstance(mask, Tensor) else leaf_from_data(node.session, mask)
            m = m.reshape(tuple(mask.shape) + (1,) * len(rest))
            x._write(node_op("where", m._node, fit(src, rest, node.dtype), node, label="IndexPutBackward0"))
            return
    axis = arrays = 0
    for k in key:
        if k is None:
            continue
        if _is_array_index(k):
            v = k._node.value if isinstance(k, Tensor) else np.asarray(k)
            if v is not None and v.dtype != np.bool_:
                _in_bounds(v, arrays, node.shape[axis])
                arrays += 1
            axis += v.ndim if v is not None and v.dtype == np.bool_ else 1
        else:
            axis += 1
    positions = _torch_order(np.arange(math.prod(node.shape), dtype=np.int64).reshape(node.shape), _numpy_key(key))
    src = value._node if isinstance(value, Tensor) else _as_node(value, node.session, node.dtype)
    if not shapes_broadcast_to(src.shape, positions.shape):
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(src.shape)} cannot be broadcast to "
                           f"indexing result of shape {list(positions.shape)}")
    flat = node_op("reshape", fit(src, positions.shape, node.dtype), attrs={"shape": (positions.size,)})
    index = leaf_from_data(node.session, positions.reshape(-1))._node
    x._write(node_op("put", node, index, flat, label="IndexPutBackward0"))


def _torch_order(positions: np.ndarray, key: tuple) -> np.ndarray:
    """positions[key] with PyTorch's layout: beside index arrays, integers apply first (a select, as reads do),
    where NumPy would treat them as index arrays too and move the result's dims."""
    if builtins_any(_is_array_index(k) for k in key) and builtins_any(
            k is not None and not isinstance(k, slice) and not _is_array_index(k) for k in key):
        basic = tuple(k if k is None or isinstance(k, slice) or not _is_array_index(k) else slice(None) for k in key)
        rest = tuple(slice(None) if k is None or isinstance(k, slice) else k for k in key if
                     k is None or isinstance(k, slice) or _is_array_index(k))
        return positions[basic][rest]
    return positions[key]


def shapes_broadcast_to(shape, target) -> bool:
    if len(shape) > len(target):
        return False
    return builtins_all(d in (1, t) for d, t in zip(reversed(shape), reversed(target)))


def _numpy_key(key: tuple) -> tuple:
    """The index with every tensor and list as a NumPy array (their values are needed: one request for
    pending ones), for NumPy to resolve which elements it names."""
    out = []
    for k in key:
        if isinstance(k, Tensor):
            k = k._value()
        elif isinstance(k, (list, tuple)):
            k = np.asarray(k)
        if isinstance(k, np.ndarray) and k.dtype.kind not in "biu":
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        out.append(k)
    return tuple(out)


def _masks_to_indices(key: tuple, shape: tuple) -> tuple:
    """A bool mask over k dimensions selects where it is True: the same as the k integer arrays of its
    nonzero positions (NumPy's and PyTorch's rule), once its shape is checked against the dims it covers.
    The mask's value is needed for that: one request if the client does not hold it yet."""
    out, view, at = [], _after_basic(key, shape), 0
    for k in key:
        if k is not None and not isinstance(k, slice) and not _is_array_index(k):
            out.append(k)               # an integer: its dim is gone before the masks apply
            continue
        at += 1
        if isinstance(k, Tensor) and k._node.dtype != "bool":
            out.append(k)               # an index tensor: its dtype says so, its value is not needed here
            continue
        if isinstance(k, (Tensor, np.ndarray, list)) and not isinstance(k, bool):
            value = k._value() if isinstance(k, Tensor) else np.asarray(k)
            if value.dtype == np.bool_:
                if not value.ndim:
                    raise IndexError("gradwire does not index with a 0-d bool mask")
                _check_mask(value.shape, view, at - 1)
                at += value.ndim - 1
                out.extend(value.nonzero())
                continue
        out.append(k)
    return tuple(out)


def _after_basic(key: tuple, shape: tuple) -> list:
    """The shape PyTorch checks masks against: the indexed tensor's once integers have selected (their dims
    gone) and None has inserted its dims (before the masks and index tensors apply)."""
    view, axis = [], 0
    for k in key:
        if k is None:
            view.append(1)
            continue
        n = _index_dims(k) if isinstance(k, (Tensor, np.ndarray)) else (
            np.ndim(k) if isinstance(k, list) and np.asarray(k).dtype == np.bool_ else 1)
        if _is_array_index(k) or isinstance(k, slice):
            view.extend(shape[axis:axis + n])
        axis += n
    return view + list(shape[axis:])


def _check_mask(mask_shape: tuple, view: list, at: int) -> None:
    """PyTorch's IndexError for a bool mask whose shape differs from the dims it covers (at: its first dim's
    position in `view`)."""
    for j, n in enumerate(mask_shape):
        if at + j < len(view) and n != view[at + j]:
            raise IndexError(f"The shape of the mask {list(mask_shape)} at index {j} does not match the shape of "
                             f"the indexed tensor {view} at index {at + j}")


def _index_array(k) -> np.ndarray:
    value = k._value() if isinstance(k, Tensor) else np.asarray(k)
    if value.dtype.kind not in "iu":
        raise IndexError("tensors used as indices must be long, int or bool tensors; "
                         "gradwire supports integer-array indices only")
    return value.astype(np.int64)


def _basic_first(x: Tensor, key: tuple) -> Tensor:
    """Integers and None beside several index tensors: PyTorch applies them first (select, unsqueeze: a view),
    then the tensors index what is left, where a None's new dim separates them like a slice."""
    basic, rest = [], []
    for k in key:
        if k is None or isinstance(k, slice):
            basic.append(k)
            rest.append(slice(None))
        elif _is_array_index(k):
            basic.append(slice(None))
            rest.append(k)
        else:
            basic.append(k)
    return getitem(getitem(x, tuple(basic)), tuple(rest))


def _pointwise(x: Tensor, key: tuple) -> Tensor:
    """x[i, j] with several integer arrays (and slices; see `_basic_first`): the arrays broadcast together
    and pick elements pointwise. Built from differentiable ops: slice the other axes, move the indexed
    axes to the front, merge them, and take the raveled indices; the result's index dimensions go where
    NumPy puts them (in place when the indexed axes are adjacent, first otherwise)."""
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
    for k, (a, idx) in enumerate(zip(adv, arrays)):
        _in_bounds(idx, k, shape[a])
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
    if step == 0:
        raise ValueError("slice step cannot be zero")
    if step < 0:
        raise ValueError("step must be greater than zero")
    return step


def _start(k: slice) -> int:
    return 0 if k.start is None else int(k.start)


def _stop(k: slice) -> int:
    return _BIG if k.stop is None else int(k.stop)


import builtins as _builtins  # noqa: E402  (the module shadows sum/any/all/abs/pow)

builtins_any, builtins_all, builtins_sum = _builtins.any, _builtins.all, _builtins.sum
builtins_max, builtins_min = _builtins.max, _builtins.min
