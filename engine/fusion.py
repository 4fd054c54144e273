"""Find fusable groups of elementwise nodes and turn each into a block program (see blocks.py for the why).

A group is a set of large elementwise nodes of one output shape, closed under "no path leaves the group and
comes back" (so it can run as one unit). The plan's steps are then a topological order of units: single
nodes and whole groups. The backward pass is ordinary nodes appended to the same graph, so forward and
backward chains fuse alike. Only values used outside a group (or returned) are written to full arrays.
"""
from __future__ import annotations

import heapq
from functools import partial
from typing import Sequence

import numpy as np

from .blocks import BlockProgram, Instr
from .jit import FUSE_MIN_ELEMENTS
from .registry import OPS, Aval

def ufunc_for(op: str, attrs, in_avals: Sequence[Aval], out: Aval):
    """The row's ufunc if it computes this node exactly (same dtype in, natural dtype out), else None:
    binding it directly lets a group write with out= and saves a call layer on unfused steps."""
    uf = OPS[op].ufunc
    if uf is None or attrs or not in_avals:
        return None
    dt = in_avals[0].dtype
    if any(a.dtype != dt for a in in_avals) or out.dtype not in (dt, "bool"):
        return None
    try:
        natural = uf.resolve_dtypes((np.dtype(dt),) * len(in_avals) + (None,))[-1]
    except TypeError:   # NumPy has no loop for these dtypes: the row's kernel decides what happens
        return None
    return uf if natural == np.dtype(out.dtype) else None


def into_for(op: str, attrs, in_avals: Sequence[Aval], out: Aval):
    """The row's out= kernel if no input needs a cast (every input has the result's dtype, or is a mask; float16
    is computed in float32 by the row's kernel, see half.py)."""
    into = OPS[op].into
    if into is None or attrs or out.dtype == "float16" or any(a.dtype not in (out.dtype, "bool") for a in in_avals):
        return None
    return into


def bound_kernel(op: str, attrs):
    impl = OPS[op].impl
    return partial(impl, **attrs) if attrs else impl


def _size(aval: Aval) -> int:
    n = 1
    for d in aval.shape:
        n *= d
    return n


def partition(nodes, avals, steps: Sequence[int], keep: set[int]) -> list[list[int]]:
    """Units in run order: each a list of node ids (one id = an ordinary step, several = a group)."""
    in_steps = set(steps)
    group_of: dict[int, int] = {}
    groups: list[list[int]] = []
    open_by_shape: dict[tuple, int] = {}
    none = frozenset()
    up: dict[int, frozenset] = {}          # groups a node depends on, directly or through other nodes
    for i in steps:
        node = nodes[i]
        ins = [j for j in node.inputs if j in in_steps]
        u = set()
        for j in ins:
            u |= up[j]
            if j in group_of:
                u.add(group_of[j])
        if OPS[node.op].elementwise and _size(avals[i]) >= FUSE_MIN_ELEMENTS:
            shape = avals[i].shape
            g = open_by_shape.get(shape)
            if g is None or any(g in up[j] for j in ins):   # joining would need a path out and back in
                g = open_by_shape[shape] = len(groups)
                groups.append([])
            group_of[i] = g
            groups[g].append(i)
            u.discard(g)
        up[i] = frozenset(u) if u else none
    # Units: each group, and each other step alone; then a topological order, earliest first.
    unit_of: dict[int, int] = {}
    units: list[list[int]] = []
    for i in steps:
        first = groups[group_of[i]][0] if i in group_of else i
        if first == i:
            unit_of[i] = len(units)
            units.append(groups[group_of[i]] if i in group_of else [i])
        else:
            unit_of[i] = unit_of[first]
    succ = [set() for _ in units]
    indeg = [0] * len(units)
    for i in steps:
        for j in nodes[i].inputs:
            if j in in_steps and unit_of[j] != unit_of[i] and unit_of[i] not in succ[unit_of[j]]:
                succ[unit_of[j]].add(unit_of[i])
                indeg[unit_of[i]] += 1
    ready = [u for u in range(len(units)) if indeg[u] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        u = heapq.heappop(ready)
        order.append(units[u])
        for v in succ[u]:
            indeg[v] -= 1
            if not indeg[v]:
                heapq.heappush(ready, v)
    assert len(order) == len(units), "fusion produced a cycle"
    return order


def build_program(nodes, avals, members: Sequence[int], used_outside: set[int]):
    """Compile one group. Returns (external input ids, output ids, BlockProgram)."""
    mset = set(members)
    shape = avals[members[0]].shape
    ext: list[int] = []
    for i in members:
        for j in nodes[i].inputs:
            if j not in mset and j not in ext:
                ext.append(j)
    outs = [i for i in members if i in used_outside]
    flat = all(avals[j].shape == shape or _size(avals[j]) == 1 for j in ext)
    if flat:
        sliced = [avals[j].shape == shape for j in ext]
    else:
        sliced = [len(avals[j].shape) == len(shape) and avals[j].shape[0] == shape[0] for j in ext]
    reg = {j: k for k, j in enumerate(ext)}
    for k, i in enumerate(outs):
        reg[i] = len(ext) + k
    last = {}
    for i in members:
        for j in nodes[i].inputs:
            last[j] = i
    free: dict[str, list[int]] = {}
    scratch: list[str] = []
    program = []
    for i in members:
        node = nodes[i]
        srcs = tuple(reg[j] for j in node.inputs)
        for j in set(node.inputs):   # sources dying here give their buffer to the result (in place)
            if j in mset and j not in used_outside and last[j] == i:
                free.setdefault(avals[j].dtype, []).append(reg[j])
        if i not in reg:
            dt = avals[i].dtype
            if free.get(dt):
                reg[i] = free[dt].pop()
            else:
                reg[i] = len(ext) + len(outs) + len(scratch)
                scratch.append(dt)
        uf = ufunc_for(node.op, node.attrs, [avals[j] for j in node.inputs], avals[i]) or \
            into_for(node.op, node.attrs, [avals[j] for j in node.inputs], avals[i])
        program.append(Instr(uf if uf is not None else bound_kernel(node.op, node.attrs), srcs, reg[i],
                             uf is not None))
    bp = BlockProgram(shape, flat, len(ext), sliced, [np.dtype(avals[i].dtype) for i in outs],
                      [np.dtype(d) for d in scratch], program)
    return ext, outs, bp
