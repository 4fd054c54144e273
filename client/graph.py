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
                 "dtype", "handle", "sink", "freed", "label", "prefix", "saved", "pending_leaf", "_resident",
                 "depth", "encoded", "future", "filled", "__weakref__")

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
        self._resident = None            # see the resident property
        # Requests in a row whose results this node's value depends on and the client never read (see
        # unread_depth): past MAX_UNREAD_UPDATES its value is fetched, so no lineage grows without bound.
        self.depth = 0
        self.handle = None                # weakref to the Tensor made with this node
        self.sink = None                  # weakref to the leaf Tensor whose .grad this feeds
        self.freed = False                # a backward without retain_graph went through it
        self.label = label                # PyTorch grad_fn name when it differs from the op's
        # For nodes of a server-built backward graph: the request graph it extends. Requests
        # that need this node lay that graph out first, so it travels as one known hash.
        self.prefix = None
        self.encoded = None               # the attributes' wire bytes shared with nodes alike (see _wire)
        # A result of a queued asynchronous request, not back yet (see _pipeline): its Future, else None.
        self.future = None
        self.filled = None                # the number a leaf made by fill_()/zero_() holds everywhere, else None

    @property
    def resident(self) -> str | None:
        """The content hash under which the server holds this node's value for this session (a resident
        value: it travels as that handle, not as bytes), or None. The session counts the nodes naming each
        hash, and releases a hash on the server once none does (see _residents)."""
        return self._resident

    @resident.setter
    def resident(self, h: str | None) -> None:
        old = self._resident
        if h == old:
            return
        self._resident = h
        refs = getattr(self.session, "residents", None)
        if refs is not None:
            if h is not None:
                refs.ref(h)
            if old is not None:
                refs.unref(old)

    def __del__(self):
        h = self._resident
        if h is not None:
            refs = getattr(self.session, "residents", None)
            if refs is not None:
                refs.unref(h)

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
        self.depth = 0
        if self.pending_leaf or not self.requires_grad:
            # Nothing differentiates through it: the value is all a later request needs. Dropping the
            # expression lets the nodes it read (last step's parameters, an optimizer's old state) go, and
            # the server release their values.
            self.op, self.inputs, self.attrs, self.pending_leaf = None, (), {}, False

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


def unread_depth(node: Node, memo: dict) -> int:
    """How many requests in a row recomputing node's value would replay, if the server lost every value
    the client has not read: 1 + the largest depth among the results it reads that stay on the server
    (values the client holds, and handles with no expression, count 0). memo: shared by the nodes of one
    request (the ones it computes)."""
    stack = [node]
    while stack:
        n = stack[-1]
        if n in memo:
            stack.pop()
            continue
        todo = [i for i in n.inputs
                if i not in memo and i.value is None and i._resident is None and i.op is not None]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        d = 0
        for i in n.inputs:
            if i.value is None:
                d = max(d, memo[i] if i in memo else i.depth)
        memo[n] = d
    return memo[node] + 1


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
