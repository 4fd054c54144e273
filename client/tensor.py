"""The user-facing Tensor: a handle on a graph node, realized on demand, printed like PyTorch's."""
from __future__ import annotations

import math
import numbers
import weakref

import numpy as np

from gradwire import devices, dtypes
from gradwire._format import tensor_repr
from gradwire._grad_mode import is_grad_enabled
from gradwire._torch_names import grad_fn_name
from gradwire._user_frame import warn as user_warning
from gradwire._views import (SCATTER, Step, Storage, VersionCounter, contiguous_strides, has_overlap,
                             is_contiguous, step_strides)
from gradwire.core.dtypes import DTYPES, FLOATS, INTS, LEGACY_NAMES, can_cast
from gradwire.core.shapes import broadcast
from gradwire.graph import Node


class Size(tuple):
    """A shape. Prints like PyTorch's (`torch.Size([4])`) so printed output matches."""

    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"

    __str__ = __repr__

    def numel(self) -> int:
        return math.prod(self)

    # Sums, repeats and slices of a Size are Sizes, as torch.Size's (`(1, 1) + x.shape` prints torch.Size([…])).
    def __add__(self, other):
        return Size(tuple(self) + tuple(other)) if isinstance(other, tuple) else NotImplemented

    def __radd__(self, other):
        return Size(tuple(other) + tuple(self)) if isinstance(other, tuple) else NotImplemented

    def __mul__(self, n):
        return Size(tuple(self) * n) if isinstance(n, int) else NotImplemented

    __rmul__ = __mul__

    def __getitem__(self, k):
        out = tuple.__getitem__(self, k)
        return Size(out) if isinstance(k, slice) else out


class GradFn:
    """The node that made a tensor, named as PyTorch names it (`MulBackward0`)."""

    __slots__ = ("_node",)

    def __init__(self, node: Node):
        self._node = node

    def name(self) -> str:
        # The nodes PyTorch implements in C++ outside its generated code carry their namespace in name().
        n = type(self).__name__
        return f"torch::autograd::{n}" if n in ("CopyBackwards", "CopySlices") else n

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {id(self):#x}>"

    def __eq__(self, other):
        return isinstance(other, GradFn) and other._node is self._node

    def __hash__(self):
        return hash(id(self._node))


_GRAD_FN_CLASSES: dict[str, type] = {}


def _grad_fn_class(name: str) -> type:
    cls = _GRAD_FN_CLASSES.get(name)
    if cls is None:
        cls = _GRAD_FN_CLASSES[name] = type(name, (GradFn,), {"__slots__": ()})
    return cls


def as_array(data, dtype=None, own=None) -> np.ndarray:
    """Data -> an owned array with PyTorch's dtype inference (Python floats -> float32). own: makes the
    owned copy (a session puts a large one in shared memory); default a plain C-order copy."""
    if isinstance(data, Tensor):
        arr = data._value()
    elif isinstance(data, np.ndarray) or isinstance(data, np.generic):
        arr = np.asarray(data)
    elif dtype is not None:
        arr = np.asarray(_unwrap(data))
        target = dtypes.as_dtype(dtype).name
        if target in INTS and arr.dtype.kind in "iu" and arr.size:
            # PyTorch's range check of Python ints (an unsigned type also takes -max..-1, which wraps)
            top = int(np.iinfo(target).max)
            low = -top if target == "uint8" else int(np.iinfo(target).min)
            if int(arr.max()) > top or int(arr.min()) < low:
                raise RuntimeError(f"value cannot be converted to type {target} without overflow")
    else:
        arr = np.asarray(_unwrap(data))
        if arr.dtype == np.float64 and not _holds_float64(data):
            arr = arr.astype(dtypes.DEFAULT_FLOAT.numpy)     # Python floats: PyTorch's default float type
    if dtype is not None:
        with np.errstate(over="ignore", invalid="ignore"):       # 1e6 as float16 is inf, as in PyTorch
            arr = arr.astype(dtypes.as_dtype(dtype).numpy)
    elif arr.dtype not in _WIRE_DTYPES and arr.dtype.kind in "iuf" and arr.dtype.name not in DTYPES:
        raise TypeError(f"can't convert np.ndarray of type numpy.{arr.dtype.name}: gradwire's dtypes are "
                        f"{', '.join(DTYPES)}")
    dtypes.as_dtype(arr.dtype)          # rejects what the wire cannot carry
    return own(arr) if own is not None else np.array(arr, copy=True, order="C")


_WIRE_DTYPES = frozenset(np.dtype(name) for name in DTYPES)     # tested before NumPy's slow dtype.name


def _holds_float64(data) -> bool:
    """Whether nested lists hold a NumPy float64 (a scalar or an array): PyTorch then infers float64, where
    Python floats alone give its default float type."""
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(x)
        elif isinstance(x, (np.generic, np.ndarray)) and x.dtype == np.float64:
            return True
    return False


def _unwrap(data):
    """Nested lists may hold one-element tensors (torch.tensor accepts them too)."""
    if isinstance(data, Tensor):
        return data._value()
    if isinstance(data, (list, tuple)):
        return [_unwrap(d) for d in data]
    return data


def leaf_from_data(session, data, dtype=None, requires_grad=False) -> "Tensor":
    arr = as_array(data, dtype, own=getattr(session, "shared_array", None))
    node = Node(session, None, value=arr)
    t = Tensor._wrap(node)
    if requires_grad:
        t.requires_grad_(True, _factory=True)
    return t


DEEPCOPY_NON_LEAF = ("Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol at the "
                     "moment.  If you were attempting to deepcopy a module, this may be because of a "
                     "torch.nn.utils.weight_norm usage, see https://github.com/pytorch/pytorch/pull/103001")


def _rebuilt(value: np.ndarray, requires_grad: bool) -> "Tensor":
    """An unpickled tensor: a leaf of the current session (pickles carry values, never a session)."""
    from gradwire.session import current_session
    return leaf_from_data(current_session(), value, requires_grad=requires_grad)


LEAF_IN_PLACE = "a leaf Variable that requires grad is being used in an in-place operation."
NON_LEAF_GRAD = ("The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad attribute won't "
                 "be populated during autograd.backward(). If you indeed want the .grad field to be populated for a "
                 "non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. If you access the non-leaf Tensor by "
                 "mistake, make sure you access the leaf Tensor instead. See github.com/pytorch/pytorch/pull/30531 "
                 "for more information.")
VIEW_OF_LEAF_IN_PLACE = "a view of a leaf Variable that requires grad is being used in an in-place operation."
OVERLAP = ("unsupported operation: more than one element of the written-to tensor refers to a single memory "
           "location. Please clone() the tensor before performing the operation.")


class _TensorType(type):
    """gw.Tensor(...) is PyTorch's legacy constructor (gradwire.legacy); internal code makes tensors with
    Tensor.__new__, and subclasses (Parameter) construct as their own __new__ says."""

    def __call__(cls, *args, **kwargs):
        if cls is Tensor:
            from gradwire import legacy
            return legacy.new(dtypes.float32, *args, **kwargs)
        return super().__call__(*args, **kwargs)


class Tensor(metaclass=_TensorType):
    """A lazy tensor: an alias of a storage (see `_views`), with its shape and dtype always known.
    Operations record nodes; values come from the server when read."""

    __slots__ = ("_storage", "_chain", "_cached", "_gen", "_vc", "_detached", "_strides", "_offset", "_multi",
                 "_grad", "__weakref__")
    __array_ufunc__ = None          # make NumPy defer to our reflected operators

    @classmethod
    def _wrap(cls, node: Node, version: VersionCounter | None = None) -> "Tensor":
        """A new base tensor (its own storage) holding node."""
        t = cls.__new__(cls)
        t._storage = Storage(node, weakref.ref(t))
        t._chain = ()
        t._cached, t._gen = node, 0
        t._vc = version or VersionCounter()
        t._detached = False
        t._strides, t._offset = contiguous_strides(node.shape), 0
        t._multi = None
        t._grad = None
        if node.handle is None or node.handle() is None:
            node.handle = weakref.ref(t)
        return t

    def _alias(self, node: Node, step: Step | None, *, detached=None, version=None) -> "Tensor":
        """A tensor sharing this one's storage: a view one step further (step), or the same view."""
        t = Tensor.__new__(Tensor)
        t._storage = self._storage
        t._chain = self._chain + ((step,) if step else ())
        t._cached, t._gen = node, self._storage.generation
        t._vc = version or self._vc
        t._detached = self._detached if detached is None else detached
        # (output number, grad_fn name) of a view of unbind/split/chunk's outputs: PyTorch refuses writes there.
        t._multi = None if self._multi is None or step is None else (0, node.label or "")
        if step is None:
            t._strides, t._offset = self._strides, self._offset
        else:
            t._strides, t._offset = step_strides(step, self._node.shape, self._strides, self._offset, node.shape)
        t._grad = None
        if node.handle is None or node.handle() is None:
            node.handle = weakref.ref(t)
        return t

    def __init__(self, *args, **kwargs):
        pass

    # -- the current node ----------------------------------------------------------------------
    @property
    def _node(self) -> Node:
        """This alias's value now: regenerated from the storage after a write through another alias."""
        st = self._storage
        if not self._chain and not self._detached:
            return st.node
        if self._gen != st.generation:
            self._cached = self._replay(st.node, "AsStridedBackward0")
            self._gen = st.generation
            if self._cached.handle is None or self._cached.handle() is None:
                self._cached.handle = weakref.ref(self)
        return self._cached

    def _replay(self, base: Node, label: str | None) -> Node:
        node = _detached_node(base) if self._detached else base
        for k, step in enumerate(self._chain):
            node = _ops.node_op(step.op, node, attrs=step.attrs,
                                label=label if k == len(self._chain) - 1 else None)
        return node

    def _check_writable(self) -> None:
        base = self._storage.node
        if is_grad_enabled() and not self._detached and base.is_leaf and base.requires_grad:
            raise RuntimeError(VIEW_OF_LEAF_IN_PLACE if self._chain else LEAF_IN_PLACE)
        if self._multi is not None and is_grad_enabled() and self._node.requires_grad:
            nr, name = self._multi
            name = (name or self.grad_fn.name()).split("Backward")[0]
            raise RuntimeError(f"Output {nr} of {name} is a view and is being modified inplace. This view "
                               "is the output of a function that returns multiple views. Such functions do not "
                               "allow the output views to be modified inplace. You should replace the inplace "
                               "operation by an out-of-place one.")

    def _write(self, value: Node, label: str | None = None) -> "Tensor":
        """PyTorch's in-place write of `value` (this tensor's shape and dtype) through this alias: the
        storage's whole value becomes the old one with this alias's part replaced; every alias sees it."""
        self._check_writable()
        st = self._storage
        base = st.node
        if has_overlap(self._node.shape, self._strides):
            raise RuntimeError(OVERLAP)
        if is_grad_enabled() and not self._detached and self._node.requires_grad and not value.requires_grad:
            # A constant written into a tensor with history (zero_, fill_, copy_ of data): the result still
            # requires grad, and nothing flows to what it overwrote (PyTorch's ZeroBackward0, FillBackward2).
            true = Node(base.session, None, value=np.ones((), np.bool_))
            value = _ops.node_op("where", true, value, self._node, label=label)
        if self._chain:
            parents = [_detached_node(base) if self._detached else base]
            for step in self._chain[:-1]:
                parents.append(_ops.node_op(step.op, parents[-1], attrs=step.attrs))
            for step, parent in zip(reversed(self._chain), reversed(parents)):
                value = SCATTER[step.op](_ops.node_op, parent, value, step.attrs)
            if value.requires_grad and value.label is None:
                value.label = "CopySlices"
        if base.is_leaf and base.requires_grad:
            # A leaf that requires grad keeps its identity (and its .grad): it takes the new value.
            value = _leaf_like(base, value)
        elif base.requires_grad and not value.requires_grad:
            # A write autograd does not record (under no_grad, through .data or detach()): the tensor takes
            # the value and keeps its grad_fn, so gradients still flow through its history.
            name = base.label or grad_fn_name(base.op, base.attrs, [n.ndim for n in base.inputs], base.ndim)
            value = _ops.node_op("with_value", base, value, label=name, requires_grad=True)
        st.write(value)
        holder = value.handle() if value.handle is not None else None
        if holder is None or holder._storage is not st:
            # Alive while the base tensor is (not the alias written through, often a temporary `.data`, nor the
            # temporary result an in-place method computed it as): a request that computes it then brings its
            # value (or handle) back, so the next update starts there instead of resending this history.
            owner = st.owner() if st.owner is not None else None
            value.handle = weakref.ref(owner if owner is not None else self)
        self._vc.value += 1
        return self

    # -- values ------------------------------------------------------------------------------
    def _value(self) -> np.ndarray:
        node = self._node
        if node.value is None:
            node.session.realize([node])
        return node.value

    @property
    def shape(self) -> Size:
        return Size(self._node.shape)

    def size(self, dim=None):
        shape = self._node.shape
        if dim is None:
            return Size(shape)
        if not shape:           # (reductions take dim 0 or -1 of a 0-d tensor; size() takes none)
            raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
        return shape[_ops._dim(dim, len(shape))]

    @property
    def dtype(self) -> dtypes.DType:
        return dtypes.as_dtype(self._node.dtype)

    @property
    def ndim(self) -> int:
        return len(self._node.shape)

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return math.prod(self._node.shape)

    nelement = numel

    def stride(self, dim=None):
        return self._strides if dim is None else self._strides[_ops._dim(dim, self.ndim)]

    def storage_offset(self) -> int:
        return self._offset

    def is_contiguous(self) -> bool:
        return is_contiguous(self._node.shape, self._strides)

    def element_size(self) -> int:
        return self.dtype.numpy.itemsize

    @property
    def itemsize(self) -> int:
        return self.dtype.numpy.itemsize

    @property
    def nbytes(self) -> int:
        """numel() * itemsize, as PyTorch counts it (the elements this tensor shows, not its storage)."""
        return self.numel() * self.dtype.numpy.itemsize

    @property
    def _version(self) -> int:
        """How many in-place writes this tensor's storage has seen through aliases sharing its counter."""
        return self._vc.value

    def __len__(self) -> int:
        shape = self._node.shape
        if not shape:
            raise TypeError("len() of a 0-d tensor")
        return shape[0]

    def __iter__(self):
        if not self._node.shape:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def item(self):
        n = self.numel()
        if n != 1:
            raise RuntimeError(f"a Tensor with {n} elements cannot be converted to Scalar")
        return self._value().reshape(()).item()

    def tolist(self):
        return self._value().tolist()

    def numpy(self) -> np.ndarray:
        """A copy of the value. PyTorch's numpy() shares memory with the tensor; here the value lives on the
        server, so later writes to either side are not seen by the other."""
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return self._value().copy()

    def __array__(self, dtype=None, copy=None):
        value = self._value()
        return value.astype(dtype) if dtype is not None else value.copy()

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._value().reshape(()))

    def __float__(self) -> float:
        if self.requires_grad:
            _warn_once("Converting a tensor with requires_grad=True to a scalar may lead to unexpected behavior.\n"
                       "Consider using tensor.detach() first.")
        return float(self._scalar())

    def __int__(self) -> int:
        return int(self._scalar())

    def _scalar(self):
        if self.numel() != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return self.item()

    def __index__(self) -> int:
        if self._node.dtype not in INTS + ("bool",):
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __format__(self, spec: str) -> str:
        # PyTorch's: a 0-d tensor formats as its number (f"{loss}" prints 2.5), anything else as object does
        # (str(self) for an empty spec, TypeError for any other).
        if self.ndim == 0 and type(self) is Tensor:
            return format(self.item(), spec)
        if spec:
            raise TypeError(f"unsupported format string passed to {type(self).__name__}.__format__")
        return str(self)

    def __repr__(self) -> str:
        value = self._value()
        node = self._node
        fn = self.grad_fn
        return tensor_repr(value, grad_fn=fn.name() if fn is not None else None,
                           requires_grad=node.requires_grad)

    __str__ = __repr__

    # -- autograd ------------------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._node.requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.requires_grad_(flag)

    @property
    def grad(self):
        """The accumulated gradient of a leaf (or of a tensor that retains its grad); None before a backward."""
        g = self._grad
        if g is None and not self.is_leaf and not self.retains_grad:
            user_warning(NON_LEAF_GRAD)
        return g

    @grad.setter
    def grad(self, value) -> None:
        self._grad = value

    def retain_grad(self) -> None:
        """Have backward() fill this non-leaf tensor's .grad too (the gradient at its value now)."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if not self.is_leaf:
            self._node.sink = weakref.ref(self)

    @property
    def retains_grad(self) -> bool:
        sink = self._node.sink
        return not self.is_leaf and sink is not None and sink() is self

    def requires_grad_(self, requires_grad: bool = True, *, _factory: bool = False) -> "Tensor":
        node = self._node
        if not requires_grad:
            if node.requires_grad and not self.is_leaf:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to "
                    "use a computed variable in a subgraph that doesn't require differentiation "
                    "use var_no_grad = var.detach().")
            if node.requires_grad:
                self._own_storage(Node(node.session, None, value=self._value()))
            return self
        if node.requires_grad:
            return self
        if node.dtype not in FLOATS:
            raise RuntimeError("Only Tensors of floating point and complex dtype can require "
                               "gradients" if _factory else
                               "only Tensors of floating point dtype can require gradients")
        leaf = Node(node.session, None, value=self._value(), requires_grad=True)
        leaf.sink = weakref.ref(self)
        if self._chain or self._detached:
            self._own_storage(leaf)     # a leaf of its own: later writes to the old storage do not reach it
        else:
            self._storage.node = leaf   # the same value: views made before keep theirs, as in PyTorch
        return self

    def _take_value(self, value: "Tensor") -> None:
        """From now on hold value's value (its dtype too), keeping this tensor's identity, requires_grad and .grad
        sink, as PyTorch's Module.to does with `param.data = fn(param)`; no request: a value still to be computed
        stays an expression."""
        self._own_storage(_leaf_like(self._node, value._node))

    def _own_storage(self, node: Node) -> None:
        self._storage, self._chain, self._detached = Storage(node, weakref.ref(self)), (), False
        self._cached, self._gen = node, 0
        self._strides, self._offset = contiguous_strides(node.shape), 0
        node.handle = weakref.ref(self)

    @property
    def is_leaf(self) -> bool:
        node = self._node
        return node.is_leaf or not node.requires_grad

    @property
    def grad_fn(self):
        node = self._node
        if node.is_leaf or not node.requires_grad:
            return None
        name = node.label or grad_fn_name(node.op, node.attrs, [n.ndim for n in node.inputs], node.ndim)
        return _grad_fn_class(name)(node)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        from gradwire import autograd
        autograd.backward(self, gradient, retain_graph, create_graph, inputs)

    def detach(self) -> "Tensor":
        """The same storage without history; shares the version counter, as PyTorch's detach()."""
        return self._alias(_detached_node(self._node), None, detached=True)

    def detach_(self) -> "Tensor":
        if self._chain:
            raise RuntimeError("Can't detach views in-place. Use detach() instead. If you are using "
                               "DistributedDataParallel (DDP) for training, and gradient_as_bucket_view is "
                               "set as True, gradients are views of DDP buckets, and hence detach_() cannot "
                               "be called on these gradients. To fix this error, please refer to the "
                               "Optimizer.zero_grad() function in torch/optim/optimizer.py as the solution.")
        self._storage.write(_detached_node(self._storage.node))
        return self

    @property
    def data(self) -> "Tensor":
        """The same storage without history and with a version counter of its own (PyTorch's `.data`):
        writes through it change this tensor and are not seen by autograd's checks."""
        return self._alias(_detached_node(self._node), None, detached=True, version=VersionCounter())

    @data.setter
    def data(self, value) -> None:
        value = value._value() if isinstance(value, Tensor) else as_array(value)
        node = self._node
        leaf = Node(node.session, None, value=value, requires_grad=node.requires_grad and node.is_leaf)
        if leaf.requires_grad:
            leaf.sink = weakref.ref(self)
        self._own_storage(leaf)

    def zero_(self) -> "Tensor":
        return self._fill(0, "ZeroBackward0")

    def fill_(self, value) -> "Tensor":
        return self._fill(value, "FillBackward2")

    def _fill(self, value, label: str) -> "Tensor":
        """Write value everywhere (made here: the shape and dtype are known, so no request)."""
        node = self._node
        if isinstance(value, Tensor):
            if value.ndim:
                raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                                   f"{value.ndim} dimensions.")
            return self.copy_(value)
        zero = isinstance(value, numbers.Number) and value == 0 and not isinstance(value, bool)
        fill = Node(node.session, None, value=np.zeros(node.shape, dtype=node.dtype) if zero else
                    np.full(node.shape, value, dtype=node.dtype))
        if zero:
            fill.filled = 0     # (a gradient added to it is the gradient: see autograd._added)
        return self._write(fill, label)

    def clone(self) -> "Tensor":
        return _ops.apply("cast", self, attrs={"dtype": self._node.dtype}, label="CloneBackward0")

    # -- copy and pickle, as torch.Tensor: the value travels, not the session ---------------------
    def __deepcopy__(self, memo) -> "Tensor":
        """A new leaf holding a copy of the value (read now), requiring grad as this one does, its .grad
        copied too; only graph leaves, as in PyTorch."""
        if not self.is_leaf:
            raise RuntimeError(DEEPCOPY_NON_LEAF)
        if id(self) in memo:
            return memo[id(self)]
        new = leaf_from_data(self._node.session, np.array(self._value()), self._node.dtype, self.requires_grad)
        if self.grad is not None:
            new.grad = self.grad.__deepcopy__(memo)
        memo[id(self)] = new
        return new

    def __reduce_ex__(self, protocol):
        return _rebuilt, (np.array(self.detach()._value()), self.requires_grad)

    def contiguous(self) -> "Tensor":
        return self if self.is_contiguous() else self.clone()

    def copy_(self, src) -> "Tensor":
        """Take src's values (broadcast to this shape, cast to this dtype) in place."""
        node = self._node
        if not isinstance(src, Tensor):
            src = leaf_from_data(node.session, np.asarray(src), node.dtype)
        shape = broadcast(node.shape, src._node.shape)
        if shape != node.shape:
            raise RuntimeError(f"output with shape {list(node.shape)} doesn't match the broadcast shape "
                               f"{list(shape)}")
        value = _ops.fit(src._node, node.shape, node.dtype, label="CopyBackwards")
        if value is src._node and value.requires_grad:   # still a copy: its grad_fn is CopyBackwards
            value = _ops.node_op("cast", value, attrs={"dtype": node.dtype}, label="CopyBackwards")
        return self._write(value, "CopyBackwards")

    # -- in place ------------------------------------------------------------------------------
    def _in_place(self, op, *args, **kwargs) -> "Tensor":
        """An op (a function of gradwire.ops by name, or a declared function) whose result replaces this
        tensor's value in place (PyTorch's `x.add_(y)`)."""
        node = self._node
        self._check_writable()
        out = (op if callable(op) else getattr(_ops, op))(self, *args, **kwargs)
        result = out._node
        # PyTorch saves the original of a tensor an in-place op overwrites (not the tensor), and the result
        # it saves is this tensor after the write.
        after = self._storage.generation + 1
        result.saved = tuple((self._vc, self._vc.value + 1) + entry[2:6] + (self._storage, after)
                             if entry[0] is out._vc else entry for entry in result.saved
                             if entry[2] is None or entry[2]() is not self)
        if result.shape != node.shape:
            raise RuntimeError(f"output with shape {list(node.shape)} doesn't match the broadcast shape "
                               f"{list(result.shape)}")
        if not can_cast(result.dtype, node.dtype):
            raise RuntimeError(f"result type {LEGACY_NAMES[result.dtype]} can't be cast to the desired output "
                               f"type {LEGACY_NAMES[node.dtype]}")
        if result.dtype != node.dtype:
            result = _ops.node_op("cast", result, attrs={"dtype": node.dtype}, label=result.label)
        return self._write(result)

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def __ipow__(self, other):
        return self.pow_(other)

    def __ifloordiv__(self, other):
        return self.floor_divide_(other)

    def __imod__(self, other):
        return self.remainder_(other)

    def __iand__(self, other):
        return self.bitwise_and_(other)

    def __ior__(self, other):
        return self.bitwise_or_(other)

    def __ixor__(self, other):
        return self.bitwise_xor_(other)

    def __ilshift__(self, other):
        return self.bitwise_left_shift_(other)

    def __irshift__(self, other):
        return self.bitwise_right_shift_(other)

    def __setitem__(self, key, value) -> None:
        _ops.setitem(self, key, value)

    # -- shape (views share this tensor's storage, as in PyTorch) ------------------------------
    @property
    def T(self) -> "Tensor":
        if self.ndim == 0:
            _warn_once("Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases.")
        elif self.ndim != 2:
            _warn_once("The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated and "
                       "it will throw an error in a future release. Consider `x.mT` to transpose batches of matrices "
                       "or `x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the dimensions of a tensor.")
        return _ops.permute(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> "Tensor":
        return self._matrices_transposed("mT", "This function is the identity in these cases.")

    @property
    def mH(self) -> "Tensor":
        """The conjugate transpose of each matrix; for real tensors, mT."""
        return self._matrices_transposed("mH", "Consider using x.conj().")

    def _matrices_transposed(self, name: str, hint: str) -> "Tensor":
        """mT and mH: the last two dims swapped; a 0-D tensor as it is (PyTorch's warning), a 1-D one refused."""
        if self.ndim < 2:
            if self.ndim == 0:
                _warn_once(f"Tensor.{name} is deprecated on 0-D tensors. {hint}")
                return _ops.permute(self, ())
            raise RuntimeError(f"tensor.{name} is only supported on matrices or batches of matrices. Got 1-D tensor.")
        return _ops.transpose(self, -2, -1)

    @property
    def H(self) -> "Tensor":
        """The conjugate transpose of a matrix; for real tensors, the transpose."""
        if self.ndim == 0:
            _warn_once("Tensor.H is deprecated on 0-D tensors. Consider using x.conj().")
            return _ops.permute(self, ())
        if self.ndim != 2:
            raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {self.ndim}-D tensor."
                               + (" For batches of matrices, consider using tensor.mH" if self.ndim > 2 else ""))
        return _ops.transpose(self, -2, -1)

    def t(self) -> "Tensor":
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return _ops.view_op(self, "transpose", {"perm": tuple(reversed(range(self.ndim)))}, "TBackward0")

    def reshape(self, *shape) -> "Tensor":
        return _ops.reshape(self, _sizes(shape))

    def view(self, *shape, dtype=None) -> "Tensor":
        if dtype is not None or (len(shape) == 1 and isinstance(shape[0], dtypes.DType)):
            from gradwire.api_creation import view_dtype
            return view_dtype(self, *shape, dtype=dtype)
        return _ops.view(self, _sizes(shape))

    def view_as(self, other) -> "Tensor":
        return _ops.view(self, other.shape)

    def reshape_as(self, other) -> "Tensor":
        return _ops.reshape(self, other.shape)

    def flatten(self, start_dim=0, end_dim=-1) -> "Tensor":
        return _ops.flatten(self, start_dim, end_dim)

    def permute(self, *dims) -> "Tensor":
        return _ops.permute(self, _sizes(dims))

    def transpose(self, dim0, dim1) -> "Tensor":
        return _ops.transpose(self, dim0, dim1)

    swapaxes = swapdims = transpose

    def unsqueeze(self, dim) -> "Tensor":
        return _ops.unsqueeze(self, dim)

    def squeeze(self, dim=None) -> "Tensor":
        return _ops.squeeze(self, dim)

    def select(self, dim, index) -> "Tensor":
        return _ops.select(self, dim, index)

    def narrow(self, dim, start, length) -> "Tensor":
        return _ops.narrow(self, dim, start, length)

    def unbind(self, dim=0):
        return _ops.unbind(self, dim)

    def split(self, split_size_or_sections, dim=0):
        return _ops.split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        return _ops.chunk(self, chunks, dim)

    def diagonal(self, offset=0, dim1=0, dim2=1) -> "Tensor":
        return _ops.diagonal(self, offset, dim1, dim2)

    def expand(self, *sizes) -> "Tensor":
        return _ops.expand(self, _sizes(sizes))

    def expand_as(self, other) -> "Tensor":
        return _ops.expand(self, tuple(other.shape))

    def __getitem__(self, key) -> "Tensor":
        return _ops.getitem(self, key)

    # -- device: every tensor lives on the server's CPU (see gradwire/devices.py) ------------------
    @property
    def device(self) -> devices.device:
        return devices.CPU

    is_cuda = False
    is_cpu = True

    def get_device(self) -> int:
        return -1          # PyTorch's answer for a CPU tensor

    def cpu(self, memory_format=None) -> "Tensor":
        return self

    def cuda(self, device=None, non_blocking=False, memory_format=None) -> "Tensor":
        if device is not None:
            devices.device(device)          # a bare index: PyTorch's "no accelerator" error first
        raise AssertionError(devices.NO_CUDA)

    # -- dtype -------------------------------------------------------------------------------
    # to, type, half, byte, char, short, view(dtype): gradwire/api_creation.py
    def float(self) -> "Tensor":
        return _ops.cast(self, dtypes.float32)

    def double(self) -> "Tensor":
        return _ops.cast(self, dtypes.float64)

    def long(self) -> "Tensor":
        return _ops.cast(self, dtypes.int64)

    def int(self) -> "Tensor":
        return _ops.cast(self, dtypes.int32)

    def bool(self) -> "Tensor":
        return _ops.cast(self, dtypes.bool_)

    # -- operators (the functions are declared in api_elementwise.py) ----------------------------
    def __add__(self, other):
        return _ew.add(self, other)

    def __radd__(self, other):
        return _ew.add(other, self)

    def __sub__(self, other):
        return _ew.sub(self, other)

    def __rsub__(self, other):
        return _ew.rsub(self, other)

    def __mul__(self, other):
        return _ew.mul(self, other)

    def __rmul__(self, other):
        return _ew.mul(other, self)

    def __truediv__(self, other):
        return _ew.div(self, other)

    def __rtruediv__(self, other):
        return _ew.div(other, self)

    def __floordiv__(self, other):
        return _ew.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _ew.floor_divide(other, self)

    def __mod__(self, other):
        return _pw.remainder(self, other)

    def __rmod__(self, other):
        return _pw.remainder(other, self)

    def __pow__(self, other):
        return _ew.pow(self, other)

    def __rpow__(self, other):
        return _ew.pow(other, self)

    def __matmul__(self, other):
        # torch.matmul's declaration (api_linalg) knows the path PyTorch takes: its errors and grad_fn names
        return type(self).matmul(self, other) if isinstance(other, Tensor) else _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        return self.neg()

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    def __eq__(self, other):
        return False if other is None else _ew.eq(self, other)

    def __ne__(self, other):
        return True if other is None else _ew.ne(self, other)

    def __lt__(self, other):
        return _ew.lt(self, other)

    def __le__(self, other):
        return _ew.le(self, other)

    def __gt__(self, other):
        return _ew.gt(self, other)

    def __ge__(self, other):
        return _ew.ge(self, other)

    # & | ^ ~ are bitwise on ints and logical on bools, as in PyTorch.
    def __and__(self, other):
        return _ew.bitwise_and(self, other)

    def __rand__(self, other):
        return _ew.bitwise_and(other, self)

    def __or__(self, other):
        return _ew.bitwise_or(self, other)

    def __ror__(self, other):
        return _ew.bitwise_or(other, self)

    def __xor__(self, other):
        return _ew.bitwise_xor(self, other)

    def __rxor__(self, other):
        return _ew.bitwise_xor(other, self)

    def __invert__(self):
        if self._node.dtype in ("float32", "float64"):
            raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
        return _ew.bitwise_not(self)

    def __lshift__(self, other):
        return _ew.bitwise_left_shift(self, other)

    def __rlshift__(self, other):
        return _ew.bitwise_left_shift(other, self)

    def __rshift__(self, other):
        return _ew.bitwise_right_shift(self, other)

    def __rrshift__(self, other):
        return _ew.bitwise_right_shift(other, self)

    __hash__ = object.__hash__      # identity, as torch.Tensor

    def where(self, condition, other):
        return _ew.where(condition, self, other)


from gradwire import ops as _ops  # noqa: E402  (ops builds on Tensor)
from gradwire import api_elementwise as _ew, api_pointwise as _pw  # noqa: E402  (so do the declarations)


def _sizes(args) -> tuple:
    """Sizes or dims given as varargs (`view(2, 3)`) or as one sequence (`view((2, 3))`)."""
    if len(args) == 1 and not isinstance(args[0], numbers.Integral):
        return tuple(args[0])
    return tuple(args)


def _detached_node(node: Node) -> Node:
    """node's value without history: itself, a leaf holding its known value, or stop_gradient."""
    if not node.requires_grad:
        return node
    if node.value is not None:
        leaf = Node(node.session, None, value=node.value)
        leaf.resident = node.resident          # the same value: where the server holds it, by handle
        return leaf
    return _ops.node_op("stop_gradient", node)


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    """A UserWarning PyTorch gives once per process (its TORCH_WARN_ONCE), whatever the warning filters say."""
    if message not in _WARNED:
        _WARNED.add(message)
        user_warning(message)


def _leaf_like(leaf: Node, value: Node) -> Node:
    """The leaf's successor holding value, with the same requires_grad and .grad sink. A value still to be
    computed stays an expression (no request now): it goes with the next request that needs it."""
    if value.value is not None:
        node = Node(leaf.session, None, value=value.value, requires_grad=leaf.requires_grad)
    else:
        node = _ops.node_op("stop_gradient", value, requires_grad=leaf.requires_grad)
        node.pending_leaf = True
    node.sink = leaf.sink
    return node
