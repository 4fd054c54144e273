"""Reverse and forward mode as PyTorch exposes them: backward, grad, vjp, jvp, jacobian, hessian."""
from __future__ import annotations

import math

import numpy as np

from gradwire import errors
from gradwire._pipeline import call_site
from gradwire._torch_names import grad_fn_name, records_history, saves_tensors
from gradwire.core import codec, signature
from gradwire.core.dtypes import LEGACY_NAMES
from gradwire.core.shapes import broadcast
from gradwire.core.signature import Aval
from gradwire.graph import Node, differentiable_history
from gradwire.tensor import Tensor, leaf_from_data

SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward.")
IMPLICIT_SCALAR = "grad can be implicitly created only for scalar outputs"


def _no_grad_fn(k: int) -> str:
    return f"element {k} of tensors does not require grad and does not have a grad_fn"


def _unused(k: int) -> str:
    return (f"The differentiated Tensor at index {k} appears to not have been used in the graph. "
            "Set allow_unused=True if this is the desired behavior.")


def _as_list(x) -> tuple[list, bool]:
    if isinstance(x, Tensor):
        return [x], False
    return list(x), True


def _shape_mismatch(k: int, seed: np.ndarray, out: np.ndarray) -> str:
    from gradwire.tensor import Size
    return (f"Mismatch in shape: grad_output[{k}] has a shape of {Size(seed.shape)} and "
            f"output[{k}] has a shape of {Size(out.shape)}.")


def _check_seeds(roots, seeds) -> None:
    """PyTorch's checks on implicit and explicit output gradients (shapes are known at the call)."""
    for k, (root, seed) in enumerate(zip(roots, seeds)):
        if seed is None and math.prod(root.shape) != 1:
            raise RuntimeError(IMPLICIT_SCALAR)
        if seed is not None and seed.shape != root.shape:
            raise RuntimeError(_shape_mismatch(k, seed, root))


def _check_versions(history) -> None:
    """PyTorch's version-counter check: a tensor a backward node saved must not have been written in place
    since (the first such node a backward would reach is named)."""
    for node in sorted(history, key=lambda n: n.seq, reverse=True):
        for counter, version, ref, dtype, shape, producer, storage, generation in node.saved:
            if counter.value == version:
                if storage.generation != generation:
                    raise NotImplementedError(
                        f"a tensor ({dtype}{list(shape)}) saved for this backward was changed through .data "
                        "after it was saved: PyTorch computes the gradient from the new values without "
                        "noticing, gradwire would from the old ones, so it refuses; compute the output "
                        "again after the change (or change it before using it)")
                continue
            tensor = ref() if ref is not None else None
            if producer is None and tensor is not None:
                producer = tensor._node if tensor.grad_fn is not None else None
            which = ""
            if producer is not None and producer.op is not None and producer.requires_grad:
                name = producer.label or grad_fn_name(producer.op, producer.attrs,
                                                      [n.ndim for n in producer.inputs], producer.ndim)
                name = "torch::autograd::CopyBackwards" if name == "CopyBackwards" else name.split("Backward")[0]
                which = f", which is output 0 of {name},"
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: [torch.{LEGACY_NAMES[dtype]}Tensor {list(shape)}]{which} is at version "
                f"{counter.value}; expected version {version} instead. Hint: enable anomaly detection to find "
                "the operation that failed to compute its gradient, with "
                "torch.autograd.set_detect_anomaly(True, check_nan=False).")


def _seed_nodes(outputs, grad_outputs) -> list:
    if grad_outputs is None:
        return [None] * len(outputs)
    grad_outputs, _ = _as_list(grad_outputs)
    seeds = []
    for out, g in zip(outputs, grad_outputs):
        if g is None:
            seeds.append(None)
        elif isinstance(g, Tensor):
            seeds.append(g._node)
        else:
            seeds.append(leaf_from_data(out._node.session, g, dtype=out._node.dtype)._node)
    if any(s is None for s in seeds) and any(s is not None for s in seeds):
        # The wire takes all seeds or none: spell the implicit ones out.
        from gradwire import ops
        for k, out in enumerate(outputs):
            if seeds[k] is None:
                if out.numel() != 1:
                    raise RuntimeError(IMPLICIT_SCALAR)
                seeds[k] = ops.apply("ones_like", out.detach())._node
    return seeds


def _prepare(outputs, grad_outputs, history):
    """PyTorch's checks before a backward pass; returns (roots, seeds, history)."""
    for k, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(_no_grad_fn(k))
    roots = [o._node for o in outputs]
    if history is None:
        history = differentiable_history(roots)
    # PyTorch frees a node's saved tensors after a backward; nodes that save none stay usable.
    if any(n.freed and saves_tensors(n.op) for n in history):
        raise RuntimeError(SECOND_BACKWARD)
    _check_versions(history)
    seeds = _seed_nodes(outputs, grad_outputs)
    _check_seeds(roots, seeds)
    return roots, seeds, history


def _free(history, retain_graph, create_graph) -> None:
    if not (create_graph if retain_graph is None else retain_graph):
        for node in history:
            # As PyTorch frees the saved tensors: a node saving its own output refers to itself through
            # them (a cycle that would keep the step's graph, and its values on the server, until a
            # collection); a second backward is refused by `freed` before anything reads them.
            node.freed, node.saved = True, ()


def _run(outputs, grad_outputs, wrt, retain_graph, create_graph, history=None):
    """One Gradient request for outputs w.r.t. wrt nodes. Returns (gradients, unused) where
    gradients are arrays, or Nodes of the returned backward graph with create_graph. history: the
    outputs' differentiable history when the caller has it already."""
    roots, seeds, history = _prepare(outputs, grad_outputs, history)
    session = roots[0].session
    graph, response = session.gradient_request(roots, seeds, wrt, create_graph=create_graph, history=history)
    _free(history, retain_graph, create_graph)
    unused = list(response.unused) or [False] * len(wrt)
    if create_graph:
        return _backward_graph_nodes(session, graph, response), unused
    return [_gradient_leaf(session, t) for t in response.gradients], unused


def _gradient_leaf(session, t) -> Node:
    """A returned gradient as a leaf holding its value (and, for a resident request, the handle under
    which the server keeps it: an update that uses it sends the handle, not the bytes)."""
    node = Node(session, None, value=session.decode(t, "gradient"))
    node.resident = t.handle or None
    return node


def _backward_graph_nodes(session, graph, response) -> list[Node]:
    """Adopt the server's backward graph as client nodes, so gradients can be differentiated."""
    nodes = list(graph.order)
    prefix = tuple(graph.order)
    for k, pb_node in enumerate(response.grad_graph.nodes[len(nodes):], start=len(nodes)):
        attrs = {key: codec.attr_from_proto(v, f"grad_graph node {k}")
                 for key, v in pb_node.attrs.items()}
        inputs = [nodes[i] for i in pb_node.inputs]
        if pb_node.op == "constant":
            node = Node(session, "constant", attrs=attrs, value=attrs["value"])
        else:
            attrs, aval = signature.infer(pb_node.op, [Aval(i.shape, i.dtype) for i in inputs], attrs)
            node = Node(session, pb_node.op, inputs, attrs,
                        requires_grad=records_history(pb_node.op)
                        and any(i.requires_grad for i in inputs), shape=aval.shape, dtype=aval.dtype)
        node.prefix = prefix
        nodes.append(node)
    result = []
    for idx, t in zip(response.gradient_nodes, response.gradients):
        node = nodes[idx]
        if node.value is None:
            node.value = session.decode(t, "gradient")
        result.append(node)
    return result


def _accumulate(target: Tensor, gradient: Node) -> None:
    """Add into target.grad as PyTorch does: in place normally, out of place with create_graph."""
    if gradient.op is not None:
        g = Tensor._wrap(gradient)
        target.grad = g if target.grad is None else target.grad + g
    elif target.grad is None:
        target.grad = Tensor._wrap(gradient)
    else:
        g = target.grad
        value, resident = _added(g._node, gradient)
        total = Node(g._node.session, None, value=value)
        total.resident = resident
        g._storage.write(total)


def _added(old: Node, gradient: Node):
    """(old + gradient, the handle of gradient's value when the sum has its very bits), as PyTorch accumulates.
    Added to a zero_()'d grad (+0.0 everywhere) the sum is the gradient itself unless that holds a -0.0 (+0.0 +
    -0.0 is +0.0): then no add, no copy and no comparison (three passes over every gradient of a step)."""
    gv = gradient.value
    if old.filled == 0 and old.shape == gradient.shape and old.dtype == gradient.dtype and gv.dtype.kind == "f" \
            and not _negative_zero(gv):
        return gv, gradient.resident
    if old.value is None:
        old.session.realize([old])
    value = old.value + gv
    return value, _same_bits(value, gradient)


def _negative_zero(v: np.ndarray) -> bool:
    # -0.0's bits, read as a signed integer, are the smallest integer of its width: one reduction, no mask array.
    bits = np.ascontiguousarray(v).view(f"i{v.dtype.itemsize}")
    return bits.size > 0 and int(bits.min()) == np.iinfo(bits.dtype).min


def _same_bits(total: np.ndarray, gradient: Node) -> str | None:
    """gradient's handle when total has its very bits (it was added to zeros): the server holds it already."""
    if gradient.resident and total.dtype == gradient.value.dtype and \
            np.array_equal(total.view(np.uint8), gradient.value.view(np.uint8)):
        return gradient.resident
    return None


def _accumulate_later(target: Tensor, gradient: Node):
    """_accumulate for a future gradient (an asynchronous backward): .grad takes a future total now, so
    what the caller records next reads it; returns (that future or None, what computes it once the gradient
    is back)."""
    if target.grad is None:
        target.grad = Tensor._wrap(gradient)
        return None, None
    g = target.grad
    old = g._node
    total = Node(old.session, None, shape=broadcast(old.shape, gradient.shape),
                 dtype=old.dtype if old.dtype == gradient.dtype else np.promote_types(old.dtype, gradient.dtype).name)
    g._storage.write(total)

    def finish():
        total.settle(*_added(old, gradient))
    return total, finish


def _backward_async(outputs, grad_outputs, targets, wrt, retain_graph, history) -> None:
    """backward() as one queued request (see _pipeline): the leaves' .grad become futures at once."""
    roots, seeds, history = _prepare(outputs, grad_outputs, history)
    session = roots[0].session
    grads = [Node(session, None, shape=w.shape, dtype=w.dtype) for w in wrt]
    later = [_accumulate_later(t, g) for t, g in zip(targets, grads)]

    def run():
        _, response = session.gradient_request(roots, seeds, wrt, history=history)
        for node, t in zip(grads, response.gradients):
            value = session.decode(t, "gradient")
            if value.shape != node.shape or value.dtype.name != node.dtype:
                raise errors.Internal(f"the server's gradient is {value.dtype.name}{list(value.shape)}, its "
                                      f"leaf {node.dtype}{list(node.shape)}")
            node.settle(value, t.handle or None)
        for _, finish in later:
            if finish is not None:
                finish()
    session.dispatch(run, grads + [total for total, _ in later if total is not None], call_site())
    _free(history, retain_graph, False)


def _by_seq(node) -> int:
    return node.seq


def backward(tensor: Tensor, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensor)/d(leaf) into every leaf's .grad (or into `inputs` only)."""
    if not tensor.requires_grad:
        raise RuntimeError(_no_grad_fn(0))
    history = None
    if inputs is not None:
        targets, _ = _as_list(inputs)
        wrt = [t._node for t in targets]
    else:
        root = tensor._node
        history = differentiable_history([root])
        leaves = {n for h in history for n in h.inputs if n.is_leaf and n.requires_grad}
        if root.is_leaf:
            leaves.add(root)
        # The leaves' tensors, then the non-leaf ones that retain their grad (retain_grad() set their sink).
        feeding = sorted(leaves, key=_by_seq) + sorted((n for n in history if n.sink is not None), key=_by_seq)
        pairs = [(n.sink(), n) for n in feeding if n.sink is not None]
        targets, wrt = [t for t, _ in pairs if t is not None], [n for t, n in pairs if t is not None]
    if tensor._node.session.asynchronous and not create_graph:
        _backward_async([tensor], None if gradient is None else [gradient], targets, wrt, retain_graph, history)
        return
    grads, _ = _run([tensor], None if gradient is None else [gradient], wrt, retain_graph, create_graph, history)
    for target, g in zip(targets, grads):
        _accumulate(target, g)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of outputs w.r.t. inputs, returned (not accumulated), as torch.autograd.grad."""
    outputs, _ = _as_list(outputs)
    inputs, _ = _as_list(inputs)
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    grads, unused = _run(outputs, grad_outputs, [t._node for t in inputs], retain_graph,
                         create_graph)
    result = []
    for k, (g, u) in enumerate(zip(grads, unused)):
        if u:
            if not allow_unused:
                raise RuntimeError(_unused(k))
            result.append(None)
        else:
            result.append(Tensor._wrap(g))
    return tuple(result)


# -- functional API (torch.autograd.functional) --------------------------------------------------
def _fresh_inputs(x):
    xs, is_tuple = _as_list(x)
    fresh = []
    for xi in xs:
        if not isinstance(xi, Tensor):
            raise TypeError("inputs must be gradwire Tensors")
        leaf = Tensor._wrap(Node(xi._node.session, None, value=xi._value()))
        fresh.append(leaf.requires_grad_(True))
    return fresh, is_tuple


def _zeros_like(t: Tensor) -> Tensor:
    """Zeros of t's shape and dtype held by the client: the derivative with respect to an unused input."""
    return Tensor._wrap(Node(t._node.session, None, value=np.zeros_like(t._value())))


def _traced(f, xs):
    from gradwire._grad_mode import _state
    prev = getattr(_state, "enabled", True)
    _state.enabled = True
    try:
        out = f(*xs)
    finally:
        _state.enabled = prev
    if not isinstance(out, Tensor):
        raise TypeError("the function must return a single gradwire Tensor")
    return out


def vjp(f, x, v=None):
    """(f(x), vᵀ·∂f/∂x) as torch.autograd.functional.vjp."""
    xs, is_tuple = _fresh_inputs(x)
    out = _traced(f, xs)
    if not out.requires_grad:
        zeros = tuple(_zeros_like(t) for t in xs)
        return out.detach(), zeros if is_tuple else zeros[0]
    gs = grad(out, xs, grad_outputs=None if v is None else [v], allow_unused=True)
    gs = tuple(g if g is not None else _zeros_like(t) for g, t in zip(gs, xs))
    return out.detach(), gs if is_tuple else gs[0]


def jvp(f, x, v):
    """(f(x), ∂f/∂x·v) as torch.autograd.functional.jvp, by forward mode on the server."""
    xs, is_tuple = _fresh_inputs(x)
    vs, _ = _as_list(v) if is_tuple else ([v], False)
    tangents = [np.asarray(t._value() if isinstance(t, Tensor) else t, dtype=xi._value().dtype)
                for t, xi in zip(vs, xs)]
    out = _traced(f, xs)
    session = xs[0]._node.session
    (tangent,) = session.jvp_request([out._node], [xi._node for xi in xs], tangents)
    return out.detach(), Tensor._wrap(Node(session, None, value=tangent))


def jacobian(f, x):
    """∂f/∂x with shape f(x).shape + x.shape, computed by the server's Jacobian RPC."""
    xs, is_tuple = _fresh_inputs(x)
    out = _traced(f, xs)
    session = xs[0]._node.session
    blocks = session.jacobian_request(out._node, [xi._node for xi in xs])
    result = tuple(Tensor._wrap(Node(session, None, value=b)) for b in blocks)
    return result if is_tuple else result[0]


def hessian(f, x):
    """∂²f/∂x² of a single-element f, computed by the server's Hessian RPC."""
    xs, is_tuple = _fresh_inputs(x)
    out = _traced(f, xs)
    session = xs[0]._node.session
    blocks = [Tensor._wrap(Node(session, None, value=b))
              for b in session.hessian_request(out._node, [xi._node for xi in xs])]
    if not is_tuple:
        return blocks[0]
    n = len(xs)
    return tuple(tuple(blocks[i * n + j] for j in range(n)) for i in range(n))


def hvp(f, x, v):
    """(f(x), H·v) as torch.autograd.functional.hvp: the gradient's product with v, differentiated again."""
    return _hessian_product(f, x, v)


def vhp(f, x, v):
    """(f(x), vᵀ·H) as torch.autograd.functional.vhp (equal to hvp: a Hessian of a scalar is symmetric)."""
    return _hessian_product(f, x, v)


def _hessian_product(f, x, v):
    xs, is_tuple = _fresh_inputs(x)
    vs, _ = _as_list(v) if is_tuple else ([v], False)
    out = _traced(f, xs)
    if out.numel() != 1:
        raise RuntimeError("The Tensor returned by the function given to hvp should contain a single element")
    grads = grad(out, xs, create_graph=True, allow_unused=True)
    dot = None
    for g, vi in zip(grads, vs):
        if g is not None:
            term = (g * vi).sum()
            dot = term if dot is None else dot + term
    if dot is None or not dot.requires_grad:
        products = tuple(_zeros_like(t) for t in xs)
    else:
        products = tuple(p if p is not None else _zeros_like(t)
                         for p, t in zip(grad(dot, xs, allow_unused=True), xs))
    return out.detach(), products if is_tuple else products[0]


class _Functional:
    """torch.autograd.functional: jacobian, hessian, vjp, jvp, hvp, vhp (their keyword options accepted where
    the result does not depend on them: strict, vectorize, strategy, outer_jacobian_strategy)."""

    @staticmethod
    def _plain(create_graph):
        if create_graph:
            raise NotImplementedError("torch.autograd.functional with create_graph=True is not supported: compute "
                                      "the derivative with gw.autograd.grad(..., create_graph=True)")

    def jacobian(self, func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
        self._plain(create_graph)
        return jacobian(func, inputs)

    def hessian(self, func, inputs, create_graph=False, strict=False, vectorize=False,
                outer_jacobian_strategy="reverse-mode"):
        self._plain(create_graph)
        return hessian(func, inputs)

    def vjp(self, func, inputs, v=None, create_graph=False, strict=False):
        self._plain(create_graph)
        return vjp(func, inputs, v)

    def jvp(self, func, inputs, v=None, create_graph=False, strict=False):
        self._plain(create_graph)
        return jvp(func, inputs, v)

    def hvp(self, func, inputs, v=None, create_graph=False, strict=False):
        self._plain(create_graph)
        return hvp(func, inputs, v)

    def vhp(self, func, inputs, v=None, create_graph=False, strict=False):
        self._plain(create_graph)
        return vhp(func, inputs, v)


functional = _Functional()
