"""Composite rows: an op defined by its expansion into other ops of the table, written with the same `Sym`
arithmetic as derivative rules. The expansion gives the forward kernel (run eagerly on arrays), the VJP (the
expansion's own backward pass) and the JVP (its forward-mode pass), so a composite costs one row:

    defcomposite("hypot", lambda x, y: (x * x + y * y).sqrt())

Give a composite a primitive row instead where the expansion is slow or unstable.
"""
from __future__ import annotations

from typing import Callable

from gradwire.core.dtypes import is_float
from gradwire.core.signature import SIGNATURES

from .autodiff import _accumulate, _fit, backward_step, tangent_step
from .builder import Builder, Sym
from .graph import Node
from .infer import check_node
from .registry import OPS, Aval, defop


class _Eager(Builder):
    """A Builder over values: each op runs its kernel at once instead of appending a node to a graph."""

    def __init__(self):
        super().__init__([], [], check_node)
        self.values = []

    def leaf(self, value) -> Sym:
        self.nodes.append(Node("placeholder"))
        self.avals.append(Aval(tuple(int(d) for d in value.shape), value.dtype.name))
        self.values.append(value)
        return Sym(self, len(self.values) - 1)

    def op(self, name: str, *inputs: Sym, **attrs) -> Sym:
        ids = tuple(x.id for x in inputs)
        attrs, aval = self._check(len(self.nodes), Node(name, ids, attrs), [self.avals[i] for i in ids])
        value = attrs["value"] if name == "constant" else OPS[name].impl(*(self.values[i] for i in ids), **attrs)
        self.nodes.append(Node(name, ids, attrs))
        self.avals.append(aval)
        self.values.append(value)
        return Sym(self, len(self.nodes) - 1)


def _distinct(b: Builder, ins: list[Sym]) -> list[Sym]:
    """The inputs as distinct nodes (an op applied to x twice, hypot(x, x), gets one cotangent per position)."""
    seen, out = set(), []
    for s in ins:
        out.append(s if s.id not in seen else b.op("reshape", s, shape=s.shape))
        seen.add(s.id)
    return out


def _expanded(b: Builder, expand: Callable, ins: list[Sym], attrs: dict) -> tuple[list[Sym], int, Sym]:
    """Append the expansion; returns (its distinct inputs, the first appended node, its result)."""
    ins = _distinct(b, ins)
    start = len(b.nodes)
    return ins, start, expand(*ins, **attrs)


def _vjp_rules(expand: Callable, n_inputs: int) -> tuple:
    """One rule per input. The expansion's backward pass runs once per (node, cotangent); each rule takes its
    input's share from it."""
    def backward(g: Sym, out: Sym, ins, attrs):
        b = g.b
        cache = b.__dict__.setdefault("_composite_cotangents", {})
        key = (out.id, g.id)
        if key not in cache:
            ins, start, result = _expanded(b, expand, list(ins), attrs)
            dep = [False] * (result.id + 1)
            for s in ins:
                dep[s.id] = is_float(s.dtype)
            for i in range(start, result.id + 1):
                dep[i] = is_float(b.avals[i].dtype) and OPS[b.nodes[i].op].differentiable and \
                    any(dep[j] for j in b.nodes[i].inputs)
            ct: dict[int, Sym] = {}
            if dep[result.id]:
                _accumulate(ct, result.id, _fit(g, result.aval))
            for i in range(result.id, start - 1, -1):
                if i in ct and i not in {s.id for s in ins}:
                    backward_step(b, i, ct[i], ct, dep)
            cache[key] = [ct.get(s.id) for s in ins]
        return cache[key]

    def rule(k):
        return lambda g, out, *ins, **attrs: backward(g, out, ins, attrs)[k]
    return tuple(rule(k) for k in range(n_inputs))


def _jvp_rule(expand: Callable) -> Callable:
    def jvp(tangents, out: Sym, *ins: Sym, **attrs):
        b = out.b
        ins, start, result = _expanded(b, expand, list(ins), attrs)
        tan = {s.id: t for s, t in zip(ins, tangents) if t is not None}
        for i in range(start, result.id + 1):
            if i not in tan:
                t = tangent_step(b, i, [tan.get(j) for j in b.nodes[i].inputs])
                if t is not None:
                    tan[i] = t
        return tan.get(result.id)
    return jvp


def defcomposite(name: str, expand: Callable, *, differentiable: bool = True) -> None:
    """Give the op `name` (declared in gradwire.core) its kernel and rules from expand(*inputs, **attrs) -> Sym."""
    def impl(*arrays, **attrs):
        e = _Eager()
        return e.values[expand(*(e.leaf(a) for a in arrays), **attrs).id]
    n = SIGNATURES[name].max_inputs
    defop(name, impl=impl, vjp=_vjp_rules(expand, n) if differentiable else None,
          jvp=_jvp_rule(expand) if differentiable else None, composite=True)

