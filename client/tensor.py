"""The user-facing Tensor: a handle on a graph node, realized on demand, printed like PyTorch's."""
from __future__ import annotations

import numbers
import weakref

import numpy as np

from gradwire import dtypes
from gradwire._format import tensor_repr
from gradwire._grad_mode import is_grad_enabled, no_grad
from gradwire._torch_names import grad_fn_name
from gradwire.graph import Node


class Size(tuple):
    """A shape. Prints like PyTorch's (`torch.Size([4])`) so printed output matches."""

    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"

    __str__ = __repr__

    def numel(self) -> int:
        return int(np.prod(self, dtype=np.int64))


class GradFn:
    """The node that made a tensor, named as PyTorch names it (`MulBackward0`)."""

    __slots__ = ("_node",)

    def __init__(self, node: Node):
        self._node = node

    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"

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


def as_array(data, dtype=None) -> np.ndarray:
    """Data -> an owned array with PyTorch's dtype inference (Python floats -> float32)."""
    if isinstance(data, Tensor):
        arr = data._value()
    elif isinstance(data, np.ndarray) or isinstance(data, np.generic):
        arr = np.asarray(data)
    elif dtype is not None:
        arr = np.asarray(_unwrap(data), dtype=dtypes.as_dtype(dtype).numpy)
    else:
        arr = np.asarray(_unwrap(data))
        if arr.dtype == np.float64:      # Python floats: PyTorch's default float type
            arr = arr.astype(dtypes.DEFAULT_FLOAT.numpy)
    if dtype is not None:
        arr = arr.astype(dtypes.as_dtype(dtype).numpy)
    elif arr.dtype.kind in "iu" and arr.dtype.name not in ("int32", "int64"):
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "f" and arr.dtype.name not in ("float32", "float64"):
        arr = arr.astype(np.float32)
    dtypes.as_dtype(arr.dtype)          # rejects what the wire cannot carry
    return np.array(arr, copy=True, order="C")


def _unwrap(data):
    """Nested lists may hold one-element tensors (torch.tensor accepts them too)."""
    if isinstance(data, Tensor):
        return data._value()
    if isinstance(data, (list, tuple)):
        return [_unwrap(d) for d in data]
    return data


def leaf_from_data(session, data, dtype=None, requires_grad=False) -> "Tensor":
    arr = as_array(data, dtype)
    node = Node(session, None, value=arr)
    t = Tensor._wrap(node)
    if requires_grad:
        t.requires_grad_(True, _factory=True)
    return t


class Tensor:
    """A lazy tensor. Operations record nodes; values come from the server when needed."""

    __slots__ = ("_node", "grad", "__weakref__")
    __array_ufunc__ = None          # make NumPy defer to our reflected operators

    @classmethod
    def _wrap(cls, node: Node) -> "Tensor":
        t = cls.__new__(cls)
        t._node = node
        t.grad = None
        if node.handle is None or node.handle() is None:
            node.handle = weakref.ref(t)
        return t

    def __init__(self, *args, **kwargs):
        raise TypeError("create tensors with gw.tensor(...) or a factory such as gw.zeros")

    # -- values ------------------------------------------------------------------------------
    def _value(self) -> np.ndarray:
        node = self._node
        if node.value is None:
            node.session.realize([node])
        return node.value

    @property
    def shape(self) -> Size:
        return Size(self._value().shape)

    def size(self, dim=None):
        shape = self.shape
        return shape if dim is None else shape[dim]

    @property
    def dtype(self) -> dtypes.DType:
        return dtypes.as_dtype(self._value().dtype)

    @property
    def ndim(self) -> int:
        return self._value().ndim

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(self._value().size)

    def __len__(self) -> int:
        shape = self._value().shape
        if not shape:
            raise TypeError("len() of a 0-d tensor")
        return shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def item(self):
        value = self._value()
        if value.size != 1:
            raise RuntimeError(f"a Tensor with {value.size} elements cannot be converted to Scalar")
        return value.reshape(()).item()

    def tolist(self):
        return self._value().tolist()

    def numpy(self) -> np.ndarray:
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return self._value().copy()

    def __array__(self, dtype=None, copy=None):
        value = self._value()
        return value.astype(dtype) if dtype is not None else value.copy()

    def __bool__(self) -> bool:
        value = self._value()
        if value.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(value.reshape(()))

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._value().dtype.kind not in "iub":
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __format__(self, spec: str) -> str:
        if self._value().ndim == 0 and spec:
            return format(self.item(), spec)
        return format(repr(self), spec)

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

    def requires_grad_(self, requires_grad: bool = True, *, _factory: bool = False) -> "Tensor":
        node = self._node
        if not requires_grad:
            if node.requires_grad and not self.is_leaf:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to "
                    "use a computed variable in a subgraph that doesn't require differentiation "
                    "use var_no_grad = var.detach().")
            node.requires_grad = False
            node.sink = None
            return self
        if node.requires_grad:
            return self
        value = self._value()
        if value.dtype.kind != "f":
            raise RuntimeError("Only Tensors of floating point and complex dtype can require "
                               "gradients" if _factory else
                               "only Tensors of floating point dtype can require gradients")
        if node.op is not None:
            # A computed tensor without history (e.g. made under no_grad) becomes a fresh leaf.
            node = self._node = Node(node.session, None, value=value)
            node.handle = weakref.ref(self)
        node.requires_grad = True
        node.sink = weakref.ref(self)
        return self

    @property
    def is_leaf(self) -> bool:
        return self._node.op is None or not self._node.requires_grad

    @property
    def grad_fn(self):
        node = self._node
        if node.op is None or not node.requires_grad:
            return None
        if node.op == "matmul" and node.value is None and \
                any(n.value is None for n in node.inputs):
            self._value()     # PyTorch names matmul by rank (Dot/Mv/Mm): learn the rank
        ndims = [n.value.ndim if n.value is not None else None for n in node.inputs]
        name = node.label or grad_fn_name(node.op, node.attrs, ndims,
                                          None if node.value is None else node.value.ndim)
        return _grad_fn_class(name)(node)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        from gradwire import autograd
        autograd.backward(self, gradient, retain_graph, create_graph, inputs)

    def detach(self) -> "Tensor":
        node = self._node
        if node.value is not None:
            return Tensor._wrap(Node(node.session, None, value=node.value))
        return _ops.apply("stop_gradient", self)

    def detach_(self) -> "Tensor":
        self._node = self.detach()._node
        self._node.handle = weakref.ref(self)
        return self

    def zero_(self) -> "Tensor":
        """Fill with zeros in place: the handle gets a new leaf node, so lazy results that
        already used the old value keep it (as PyTorch's eager results would)."""
        value = self._value()
        return self._replace_value(np.zeros_like(value))

    def _replace_value(self, value: np.ndarray) -> "Tensor":
        old = self._node
        node = Node(old.session, None, value=value, requires_grad=old.requires_grad)
        node.handle = weakref.ref(self)
        if old.requires_grad:
            node.sink = weakref.ref(self)
        self._node = node
        return self

    def clone(self) -> "Tensor":
        return _ops.apply("add", self, 0)

    # -- shape -------------------------------------------------------------------------------
    @property
    def T(self) -> "Tensor":
        return _ops.permute(self, None)

    @property
    def mT(self) -> "Tensor":
        return _ops.transpose(self, -2, -1)

    def t(self) -> "Tensor":
        return _ops.apply("transpose", self, attrs={"perm": None}, label="TBackward0")

    def reshape(self, *shape) -> "Tensor":
        if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)

    view = reshape

    def flatten(self) -> "Tensor":
        return _ops.reshape(self, (-1,))

    def permute(self, *dims) -> "Tensor":
        if len(dims) == 1 and not isinstance(dims[0], numbers.Integral):
            dims = tuple(dims[0])
        return _ops.permute(self, dims)

    def transpose(self, dim0, dim1) -> "Tensor":
        return _ops.transpose(self, dim0, dim1)

    def unsqueeze(self, dim) -> "Tensor":
        return _ops.unsqueeze(self, dim)

    def squeeze(self, dim=None) -> "Tensor":
        return _ops.squeeze(self, dim)

    def __getitem__(self, key) -> "Tensor":
        return _ops.getitem(self, key)

    # -- dtype -------------------------------------------------------------------------------
    def to(self, dtype) -> "Tensor":
        return _ops.cast(self, dtype)

    type = to

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

    # -- in place ------------------------------------------------------------------------------
    def _in_place(self, op: str, other) -> "Tensor":
        """PyTorch's in-place update. Under no_grad (the optimizer step `w -= lr * w.grad`) the tensor
        keeps its identity, leaf status and .grad and takes the new value (one request). With grad
        enabled, a tensor that is not a leaf requiring grad continues its history with the result."""
        node = self._node
        if is_grad_enabled() and node.requires_grad and node.op is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        result = getattr(_ops, op)(self, other)
        if not is_grad_enabled() or not result.requires_grad:
            value = result._value()
            if value.shape != self._value().shape:
                raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                                   f"{list(value.shape)}")
            return self._replace_value(value.astype(self._value().dtype, copy=False))
        self._node = result._node
        self._node.handle = weakref.ref(self)
        return self

    def __iadd__(self, other):
        return self._in_place("add", other)

    def __isub__(self, other):
        return self._in_place("sub", other)

    def __imul__(self, other):
        return self._in_place("mul", other)

    def __itruediv__(self, other):
        return self._in_place("div", other)

    def add_(self, other, *, alpha=1):
        return self._in_place("add", other if alpha == 1 else other * alpha)

    def sub_(self, other, *, alpha=1):
        return self._in_place("sub", other if alpha == 1 else other * alpha)

    def mul_(self, other):
        return self._in_place("mul", other)

    def div_(self, other):
        return self._in_place("div", other)

    def copy_(self, src) -> "Tensor":
        """Take src's values (broadcast to this shape, cast to this dtype) in place."""
        node = self._node
        if is_grad_enabled() and node.requires_grad and node.op is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        target = self._value()
        value = src._value() if isinstance(src, Tensor) else np.asarray(src)
        return self._replace_value(np.array(np.broadcast_to(value, target.shape), dtype=target.dtype))

    @property
    def data(self) -> "Tensor":
        """The value without history (PyTorch's `.data`); assigning to it replaces the value in place."""
        return self.detach()

    @data.setter
    def data(self, value) -> None:
        self._replace_value(as_array(value))

    # -- arithmetic ----------------------------------------------------------------------------
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.sub(self, other)

    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __mul__(self, other):
        return _ops.mul(self, other)

    def __rmul__(self, other):
        return _ops.mul(other, self)

    def __truediv__(self, other):
        return _ops.div(self, other)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __pow__(self, other):
        return _ops.pow(self, other)

    def __rpow__(self, other):
        return _ops.apply("pow", other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        return _ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __eq__(self, other):
        return False if other is None else _ops.compare("eq", self, other)

    def __ne__(self, other):
        return True if other is None else _ops.compare("ne", self, other)

    def __lt__(self, other):
        return _ops.compare("lt", self, other)

    def __le__(self, other):
        return _ops.compare("le", self, other)

    def __gt__(self, other):
        return _ops.compare("gt", self, other)

    def __ge__(self, other):
        return _ops.compare("ge", self, other)

    def __and__(self, other):
        return _ops.compare("logical_and", self, other)

    def __or__(self, other):
        return _ops.compare("logical_or", self, other)

    def __invert__(self):
        return _ops.apply("logical_not", self)

    __hash__ = object.__hash__      # identity, as torch.Tensor

    # -- methods mirroring functions -------------------------------------------------------------
    def sum(self, dim=None, keepdim=False):
        return _ops.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return _ops.mean(self, dim, keepdim)

    def prod(self, dim=None, keepdim=False):
        return _ops.prod(self, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        return _ops.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return _ops.min(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return _ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return _ops.argmin(self, dim, keepdim)

    def var(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        return _ops.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        return _ops.std(self, dim, unbiased, keepdim, correction=correction)

    def expand(self, *sizes):
        """Broadcast to sizes; -1 keeps a dimension (PyTorch's expand)."""
        if len(sizes) == 1 and not isinstance(sizes[0], numbers.Integral):
            sizes = tuple(sizes[0])
        shape = tuple(self.shape)
        lead = len(sizes) - len(shape)
        target = tuple(shape[k - lead] if d == -1 and k >= lead else int(d) for k, d in enumerate(sizes))
        return _ops.apply("broadcast_to", self, attrs={"shape": target}, label="ExpandBackward0")

    def expand_as(self, other):
        return self.expand(tuple(other.shape))

    def contiguous(self):
        return self

    def amax(self, dim=None, keepdim=False):
        return _ops.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        return _ops.amin(self, dim, keepdim)

    def all(self, dim=None, keepdim=False):
        return _ops.all(self, dim, keepdim)

    def any(self, dim=None, keepdim=False):
        return _ops.any(self, dim, keepdim)

    def norm(self, p=2, dim=None, keepdim=False):
        return _ops.norm(self, p, dim, keepdim)

    def logsumexp(self, dim, keepdim=False):
        return _ops.logsumexp(self, dim, keepdim)

    def softmax(self, dim):
        return _ops.softmax(self, dim)

    def log_softmax(self, dim):
        return _ops.log_softmax(self, dim)

    def dot(self, other):
        return _ops.dot(self, other)

    def matmul(self, other):
        return _ops.matmul(self, other)

    def clamp(self, min=None, max=None):
        return _ops.clamp(self, min, max)

    clip = clamp

    def pow(self, exponent):
        return _ops.pow(self, exponent)

    def exp(self):
        return _ops.exp(self)

    def log(self):
        return _ops.log(self)

    def sin(self):
        return _ops.sin(self)

    def cos(self):
        return _ops.cos(self)

    def tan(self):
        return _ops.tan(self)

    def tanh(self):
        return _ops.tanh(self)

    def sigmoid(self):
        return _ops.sigmoid(self)

    def relu(self):
        return _ops.relu(self)

    def sqrt(self):
        return _ops.sqrt(self)

    def abs(self):
        return _ops.abs(self)

    def square(self):
        return _ops.square(self)

    def sign(self):
        return _ops.sign(self)

    def neg(self):
        return _ops.neg(self)


from gradwire import ops as _ops  # noqa: E402  (ops builds on Tensor)
