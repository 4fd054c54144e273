"""Graph nodes held by tensors, and the layout of one request's graph (ids, inputs, known values)."""
from __future__ import annotations

import itertools
import math
from operator import attrgetter

import numpy as np

from gradwire import _wire
from gradwire.core.dtypes import DTYPES, ITEMSIZE

_seq = itertools.count()
_by_seq = attrgetter("seq")
# dtype -> name: NumPy's dtype.name takes ~2.6 µs, a dict lookup 0.03 (other byte orders fall back to .name).
_NAMES = {np.dtype(name): name for name in DTYPES}


class Node:
    """One immutable operation (or leaf value). Tensors point at nodes; nodes point at inputs.

    `shape` and `dtype` are known when the node is made (from the op's signature, the rule the
    server applies too); `value` is filled in when the server returns it. `seq` is the creation
    order, which is a topological order, so sorting by it lays out any set of nodes validly and stably.
    """

    __slots__ = ("op", "inputs", "attrs", "value", "requires_grad", "session", "seq", "shape",
                 "dtype", "handle", "sink", "freed", "label", "prefix", "saved", "pending_leaf", "resident",
                 "depth", "encoded", "__weakref__")

    def __init__(self, session, op, inputs=(), attrs=None, *, value=None, requires_grad=False,
                 shape=None, dtype=None, label=None):
        self.op = op                      # None for a leaf (a value the client holds)
        self.inputs = tuple(inputs)
        self.attrs = attrs or {}
        self.value = value
        self.requires_grad = requires_grad
        self.session = session
        self.seq = next(_seq)
        if value is not None:
            shape, dtype = value.shape, _NAMES.get(value.dtype) or value.dtype.name
        self.shape = tuple(shape)
        self.dtype = dtype
        self.saved = ()                   # (version counter, version) of each tensor its backward saves
        # An autograd leaf whose new value is still an expression (a parameter updated under no_grad): it
        # travels as ops with the next request, gradients stop at it, and once its value comes back it
        # becomes a plain leaf.
        self.pending_leaf = False
        # The content hash under which the server holds this node's value for this session (a resident
        # value: it travels as that handle, not as bytes), or None.
        self.resident = None
        self.depth = 0                    # pending leaves in a row whose values the client never read
        self.handle = None                # weakref to the Tensor made with this node
        self.sink = None                  # weakref to the leaf Tensor whose .grad this feeds
        self.freed = False                # a backward without retain_graph went through it
        self.label = label                # PyTorch grad_fn name when it differs from the op's
        # For nodes of a server-built backward graph: the request graph it extends. Requests
        # that need this node lay that graph out first, so it travels as one known hash.
        self.prefix = None
        self.encoded = None               # the attributes' wire bytes shared with nodes alike (see _wire)

    @property
    def is_leaf(self) -> bool:
        """A leaf for autograd: a value the client holds, or a parameter's pending update."""
        return self.op is None or self.pending_leaf

    def settle(self, value, resident: str | None = None) -> None:
        """Take what the server returned: the value (a pending leaf then forgets the expression that made
        it), or only the handle of a value it keeps (the expression stays, to compute it again if the
        server loses it)."""
        if resident:
            self.resident = resident
        if value is None:
            return
        self.value = value
        if self.pending_leaf:
            self.op, self.inputs, self.attrs, self.pending_leaf, self.depth = None, (), {}, False, 0

    @property
    def known(self) -> bool:
        """Whether the value exists somewhere a request can use it: on the client or resident on the server."""
        return self.value is not None or self.resident is not None

    @property
    def nbytes(self) -> int:
        """The value's size in bytes, from its shape and dtype (known before the value is)."""
        return math.prod(self.shape) * ITEMSIZE[self.dtype]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def alive(self) -> bool:
        """Whether the user can still reach this node's tensor (then its value is worth returning)."""
        return self.handle is not None and self.handle() is not None


def differentiable_history(roots) -> set[Node]:
    """Interior nodes on requires-grad paths from roots: the part a backward pass walks."""
    seen: set[Node] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node in seen or not node.requires_grad or node.op in (None, "constant") or node.pending_leaf:
            continue
        seen.add(node)
        stack.extend(node.inputs)
    return seen


class RequestGraph:
    """The graph of one request: every node the roots need, in creation order.

    Nodes in `history` go as operations (with their value as KnownValue when the client has
    it), so gradients can flow through them. Any other node whose value the client holds goes
    as a placeholder fed in `inputs`; pending nodes go as operations.
    """

    def __init__(self, roots, history: set[Node] = frozenset()):
        history = set(history)
        members: set[Node] = set()
        prefixes: set[int] = set()
        stack = list(roots)
        while stack:
            node = stack.pop()
            if node in members:
                continue
            members.add(node)
            if node.prefix is not None and id(node.prefix) not in prefixes:
                prefixes.add(id(node.prefix))
                history.update(n for n in node.prefix if n.op not in (None, "constant"))
                stack.extend(node.prefix)
            if node in history or (node.value is None and node.resident is None
                                   and node.op is not None and node.op != "constant"):
                stack.extend(node.inputs)
        self.history = history
        self.order = sorted(members, key=_by_seq)
        index = self.index = {node: i for i, node in enumerate(self.order)}
        self.inputs: dict[str, Node] = {}          # placeholder name -> the node whose value feeds it
        self.known: list[tuple[int, Node]] = []    # node id -> the node whose value it already has
        self.pending: list[Node] = []
        # Each node as the wire's Graph.nodes element (tag, length, serialized Node): a part's graph is a
        # run of these joined.
        self.framed: list[bytes] = []
        framed, inputs = self.framed, self.inputs
        for i, node in enumerate(self.order):
            op = node.op
            known = node.value is not None or node.resident is not None
            if op is None or (known and op != "constant" and node not in history):
                framed.append(_wire.placeholder(len(inputs)))
                inputs[f"p{len(inputs)}"] = node
                continue
            framed.append(_wire.node_bytes(node, [index[x] for x in node.inputs]))
            if op != "constant" and known:
                self.known.append((i, node))
            elif op != "constant":
                self.pending.append(node)

    def ids(self, nodes) -> list[int]:
        return [self.index[n] for n in nodes]

    def alive_pending(self, exclude=()) -> list[Node]:
        """Pending nodes whose tensors the user still holds: their values come back too, so a
        later request starts from them instead of recomputing (and resending) their history."""
        skip = set(exclude)
        return [n for n in self.pending if n not in skip and n.alive()]
