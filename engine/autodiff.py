"""Reverse and forward mode as graph-to-graph transforms: the output graph is ordinary ops, so it can be differentiated again."""
from __future__ import annotations

from typing import Sequence

from gradwire.core.dtypes import is_float

from .builder import Builder, Sym
from .errors import GraphError
from .infer import Checked, check_node
from .registry import OPS


def _builder(checked: Checked) -> Builder:
    return Builder(list(checked.nodes), list(checked.avals), check_node)


def _fit(c: Sym, aval) -> Sym:
    """The one place broadcasting is undone and dtypes are matched for a cotangent."""
    if c.shape != aval.shape:
        c = c.sum_to(shape=aval.shape)
    if c.dtype != aval.dtype:
        c = c.cast(dtype=aval.dtype)
    return c


def _accumulate(table: dict[int, Sym], j: int, c: Sym) -> None:
    """The one place contributions are summed: a node used twice gets both."""
    table[j] = c if j not in table else table[j] + c


def _depends_on(checked: Checked, sources: Sequence[int], stop: int) -> list[bool]:
    """Which nodes (up to `stop`) a float path leads to from `sources` (forward sweep).
    Int and bool values carry no gradient, even as sources (PyTorch: only floats require grad)."""
    dep = [False] * (stop + 1)
    src = set(sources)
    for i in range(stop + 1):
        node = checked.nodes[i]
        if i in src:
            dep[i] = is_float(checked.avals[i].dtype)
        elif node.inputs and is_float(checked.avals[i].dtype) and OPS[node.op].differentiable:
            dep[i] = any(dep[j] for j in node.inputs)
    return dep


def _reaches(checked: Checked, targets: Sequence[int]) -> list[bool]:
    """Which nodes some target depends on (reverse sweep)."""
    stop = max(targets)
    reach = [False] * (stop + 1)
    for t in targets:
        reach[t] = True
    for i in range(stop, -1, -1):
        if reach[i]:
            for j in checked.nodes[i].inputs:
                reach[j] = True
    return reach


def _shape_str(shape) -> str:
    return f"[{', '.join(map(str, shape))}]"


def backward_step(b: Builder, i: int, g: Sym, ct: dict[int, Sym], dep) -> None:
    """Node i's contributions to its inputs' cotangents, given its own cotangent g (dep[j]: j carries one)."""
    node = b.nodes[i]
    op = OPS[node.op]
    if not node.inputs or op.vjp is None:
        return
    ins = [b.sym(j) for j in node.inputs]
    out = b.sym(i)
    for k, j in enumerate(node.inputs):
        rule = op.vjp[k]
        if rule is None or not dep[j]:
            continue
        c = rule(g, out, *ins, **node.attrs)
        if c is not None:
            _accumulate(ct, j, _fit(c, b.avals[j]))


def tangent_step(b: Builder, i: int, ts: list) -> Sym | None:
    """Node i's tangent from its inputs' tangents (None: an input without one); None when it has none."""
    node = b.nodes[i]
    op = OPS[node.op]
    if op.jvp is None or all(t is None for t in ts):
        return None
    ins = [b.sym(j) for j in node.inputs]
    out = b.sym(i)
    if op.jvp == "elementwise":
        # Diagonal Jacobian: the VJP rule applied to the tangent is the JVP.
        parts = [op.vjp[k](t, out, *ins, **node.attrs) for k, t in enumerate(ts)
                 if t is not None and op.vjp[k] is not None]
        parts = [p for p in parts if p is not None]
        if not parts:
            return None
        r = parts[0]
        for p in parts[1:]:
            r = r + p
    else:
        r = op.jvp(ts, out, *ins, **node.attrs)
        if r is None:
            return None
    aval = b.avals[i]
    if r.shape != aval.shape:
        r = r.broadcast_to(shape=aval.shape)
    if r.dtype != aval.dtype:
        r = r.cast(dtype=aval.dtype)
    return r


def vjp(checked: Checked, outputs: Sequence[int], wrt: Sequence[int], seeds: Sequence[int] | None = None):
    """Append the backward pass. Returns (Checked extended graph, gradient node ids, unused flags)."""
    b = _builder(checked)
    if seeds is not None and len(seeds) != len(outputs):
        raise GraphError(f"{len(seeds)} seeds given for {len(outputs)} outputs")
    stop = max(outputs) if outputs else -1
    dep = _depends_on(checked, wrt, stop) if outputs else []
    reach = _reaches(checked, outputs) if outputs else []
    ct: dict[int, Sym] = {}
    for k, o in enumerate(outputs):
        aval = checked.avals[o]
        if seeds is None:
            if aval.size != 1:
                raise GraphError("grad can be implicitly created only for scalar outputs", o, checked.nodes[o].op)
            seed = b.op("ones_like", b.sym(o))
        else:
            seed = b.sym(seeds[k])
            if seed.shape != aval.shape:
                raise GraphError(f"Mismatch in shape: grad_output[{k}] has a shape of {_shape_str(seed.shape)} and "
                                 f"output[{k}] has a shape of {_shape_str(aval.shape)}.", o, checked.nodes[o].op)
            if seed.dtype != aval.dtype:
                seed = seed.cast(dtype=aval.dtype)
        if dep[o]:
            _accumulate(ct, o, seed)
    wrt_set = set(wrt)
    for i in range(stop, -1, -1):
        g = ct.get(i)
        if g is None or not (dep[i] and reach[i]):
            continue
        backward_step(b, i, g, ct, dep)
        if i not in wrt_set:
            del ct[i]  # no longer needed: keeps the table small on long chains
    grads, unused = [], []
    for w in wrt:
        g = ct.get(w)
        unused.append(g is None)
        grads.append((g if g is not None else b.op("zeros_like", b.sym(w))).id)
    return Checked(b.nodes, b.avals), grads, unused


def jvp(checked: Checked, outputs: Sequence[int], primals: Sequence[int], tangents: Sequence[int]):
    """Append the forward-mode tangent computation. Returns (Checked extended graph, tangent ids per output)."""
    if len(primals) != len(tangents):
        raise GraphError(f"{len(tangents)} tangents given for {len(primals)} primals")
    b = _builder(checked)
    for p, t in zip(primals, tangents):
        if checked.avals[t].shape != checked.avals[p].shape:
            raise GraphError(f"tangent has shape {_shape_str(checked.avals[t].shape)}, but the primal has "
                             f"{_shape_str(checked.avals[p].shape)}", p, checked.nodes[p].op)
    stop = max(outputs) if outputs else -1
    dep = _depends_on(checked, primals, stop) if outputs else []
    reach = _reaches(checked, outputs) if outputs else []
    tan: dict[int, Sym] = {}
    for p, t in zip(primals, tangents):
        if is_float(checked.avals[p].dtype):  # an int primal has no tangent space
            tan[p] = _fit(b.sym(t), checked.avals[p]) if p <= stop else b.sym(t)
    for i in range(stop + 1):
        if i in tan or not (dep[i] and reach[i]):
            continue
        r = tangent_step(b, i, [tan.get(j) for j in checked.nodes[i].inputs])
        if r is not None:
            tan[i] = r
    result = []
    for o in outputs:
        t = tan.get(o)
        result.append((t if t is not None else b.op("zeros_like", b.sym(o))).id)
    return Checked(b.nodes, b.avals), result
