"""Small-tensor plans as one kernel call: a run of plan nodes is encoded as a tape (rows of integers over flat
arenas) and executed by one precompiled @njit interpreter, `run_tape`.

Why a tape and not generated Numba source per plan (measured on the 2-core machine): Numba's compile time grows
faster than linearly with a function's length: a generated straight-line function for the 2 000-op benchmark
(5 751 nodes forward + backward) compiled for 474 s, and split into 250-node functions still for ~12 ms a node,
against a 2 s budget. The tape kernel compiles once (Numba's on-disk cache, warmed at start), encoding a plan
takes milliseconds, and one call runs it at 20-60 ns per small op instead of ~2 µs through Python.

Values live in two arenas, one of the plan's float dtype and one of bools; every node owns its own region
(nothing is overwritten during a call) and a reshape is the same region. Each elementwise row does the
interpreted ufunc's IEEE operation on the same element, no fast-math: the same bits. Transcendental
functions are the C library's here and NumPy's SIMD versions when interpreted: they agree to a few ulp.
Sums over trailing axes follow NumPy's pairwise order (the same bits); dot, matmul and sums over other axes
add in index order (BLAS does not): those differ by rounding, bounded by n·ε·Σ|terms|.
One row per op in TAPE below; an op without a row, another dtype, more than 4 dims, an empty or a large
tensor ends the run (the node stays on NumPy).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from .jit import COMPILE_MAX_ELEMENTS
from .tape_kernel import (AND, BINARY, CLAMP, COMPARE, COPY_ND, COPY_ND_B, DOT, FILL, FILL_B, FROM_BOOL, MATMUL,
                          MEAN, NOT, OR, POW, RMAX, RMIN, SCATTER_ND, SQUARE, SUM, TO_BOOL, UNARY, WHERE, W, JIT,
                          run_tape, warm_up)

FLOATS = ("float32", "float64")


# Encoding ----------------------------------------------------------------------------------------------
def c_strides(shape) -> tuple[int, ...]:
    st, acc = [], 1
    for d in reversed(shape):
        st.append(acc)
        acc *= d
    return tuple(reversed(st))


def broadcast_read(in_shape, out_shape):
    st = c_strides(in_shape)
    lead = len(out_shape) - len(in_shape)
    return 0, tuple(0 if d < lead or in_shape[d - lead] == 1 else st[d - lead] for d in range(len(out_shape)))


def transpose_read(in_shape, out_shape, attrs):
    perm = attrs.get("perm")
    perm = tuple(range(len(in_shape)))[::-1] if perm is None else tuple(p % len(in_shape) for p in perm)
    st = c_strides(in_shape)
    return 0, tuple(st[p] for p in perm)


def slice_read(in_shape, out_shape, attrs):
    st = c_strides(in_shape)
    off, strides = 0, list(st)
    for d, (a, b, s) in enumerate(zip(attrs["starts"], attrs["stops"], attrs["steps"])):
        start, _, step = slice(a, b, s).indices(in_shape[d])
        off += start * st[d]
        strides[d] = st[d] * step
    return off, tuple(strides)


class Tape:
    """Builder of one segment's tape: arena layout, rows, aux ints and the constants' template."""

    def __init__(self, nodes, avals, fdt: str):
        self.nodes, self.avals, self.fdt = nodes, avals, fdt
        self.rows: list[list[int]] = []
        self.aux: list[int] = [0]
        self.fconst: dict[float, int] = {}
        self.bconst: dict[bool, int] = {}
        self.floats: list[tuple[int, float]] = []   # (offset, value) written into the template
        self.bools: list[tuple[int, bool]] = []
        self.nf = 2   # F[0] = 0 and F[1] = 1: the kernel's typed constants
        self.nb = 1
        self.loc: dict[int, tuple[bool, int]] = {}   # node id -> (is bool, offset)

    def alloc(self, boolean: bool, n: int) -> int:
        if boolean:
            self.nb += n
            return self.nb - n
        self.nf += n
        return self.nf - n

    def const(self, v, boolean: bool = False) -> int:
        table = self.bconst if boolean else self.fconst
        key = bool(v) if boolean else float(np.dtype(self.fdt).type(v))
        if key not in table:
            table[key] = self.alloc(boolean, 1)
            (self.bools if boolean else self.floats).append((table[key], key))
        return table[key]

    def row(self, op, out, n, a=0, sa=0, b=0, sb=0, c=0, sc=0, x=0):
        self.rows.append([op, out, n, a, sa, b, sb, c, sc, x])

    def nd(self, op, out, dims, strides, a, n):
        dims, strides = list(dims), list(strides)
        pad = 4 - len(dims)
        x = len(self.aux)
        self.aux += [1] * pad + dims + [0] * pad + strides
        self.row(op, out, n, a=a, x=x)

    def shape(self, i):
        return self.avals[i].shape

    def size(self, i):
        return math.prod(self.avals[i].shape)

    def operand(self, j: int, shape) -> tuple[int, int]:
        """(offset, stride 0 or 1) of input j read elementwise against `shape`; a general broadcast is copied."""
        boolean, off = self.loc[j]
        n = math.prod(shape)
        if self.size(j) == 1:
            return off, 0
        if self.shape(j) == tuple(shape):
            return off, 1
        _, strides = broadcast_read(self.shape(j), shape)
        tmp = self.alloc(boolean, n)
        self.nd(COPY_ND_B if boolean else COPY_ND, tmp, shape, strides, off, n)
        return tmp, 1

    def output(self, i: int, boolean: bool) -> int:
        off = self.alloc(boolean, self.size(i))
        self.loc[i] = (boolean, off)
        return off


def _ok(kind):
    """Which dtypes a row takes: f = the segment's float dtype, b = bool."""
    def check(in_dts, dt, fdt):
        return all({"f": d == fdt, "b": d == "bool", "x": d in (fdt, "bool")}[k] for k, d in zip(kind, in_dts)) \
            and {"f": dt == fdt, "b": dt == "bool", "x": dt in (fdt, "bool")}[kind[-1]]
    return check


def _unary(t: Tape, i, node):
    (j,) = node.inputs
    a, sa = t.operand(j, t.shape(i))
    t.row(UNARY[node.op], t.output(i, False), t.size(i), a, sa)


def _binary(t: Tape, i, node):
    (a, sa), (b, sb) = (t.operand(j, t.shape(i)) for j in node.inputs)
    t.row(BINARY[node.op], t.output(i, False), t.size(i), a, sa, b, sb)


def _compare(t: Tape, i, node):
    (a, sa), (b, sb) = (t.operand(j, t.shape(i)) for j in node.inputs)
    t.row(COMPARE[node.op], t.output(i, True), t.size(i), a, sa, b, sb)


def _logic(op):
    def enc(t: Tape, i, node):
        ops = [t.operand(j, t.shape(i)) for j in node.inputs]
        (a, sa), (b, sb) = ops[0], ops[-1]
        t.row(op, t.output(i, True), t.size(i), a, sa, b, sb)
    return enc


def _pow_scalar(t: Tape, i, node):
    (j,) = node.inputs
    a, sa = t.operand(j, t.shape(i))
    e = node.attrs["exponent"]
    if e == 2.0:
        t.row(SQUARE, t.output(i, False), t.size(i), a, sa)
    else:
        t.row(POW, t.output(i, False), t.size(i), a, sa, t.const(e), 0)


def _clamp(t: Tape, i, node):
    a, sa = t.operand(node.inputs[0], t.shape(i))
    lo, hi = node.attrs["min"], node.attrs["max"]
    t.row(CLAMP, t.output(i, False), t.size(i), a, sa, -1 if lo is None else t.const(lo), 0,
          -1 if hi is None else t.const(hi))


def _where(t: Tape, i, node):
    (a, sa), (b, sb), (c, sc) = (t.operand(j, t.shape(i)) for j in node.inputs)
    t.row(WHERE, t.output(i, False), t.size(i), a, sa, b, sb, c, sc)


def _alias(t: Tape, i, node):
    t.loc[i] = t.loc[node.inputs[0]]


def _cast(t: Tape, i, node):
    (j,) = node.inputs
    src, dst = t.avals[j].dtype == "bool", t.avals[i].dtype == "bool"
    if src == dst:
        return _alias(t, i, node)
    a, sa = t.operand(j, t.shape(i))
    t.row(TO_BOOL if dst else FROM_BOOL, t.output(i, dst), t.size(i), a, sa)


def _fill(v):
    def enc(t: Tape, i, node):
        boolean = t.avals[i].dtype == "bool"
        t.row(FILL_B if boolean else FILL, t.output(i, boolean), t.size(i), t.const(v, boolean))
    return enc


def _view(read):
    def enc(t: Tape, i, node):
        (j,) = node.inputs
        boolean, off = t.loc[j]
        o, strides = read(t.shape(j), t.shape(i), node.attrs)
        t.nd(COPY_ND_B if boolean else COPY_ND, t.output(i, boolean), t.shape(i), strides, off + o, t.size(i))
    return enc


def _reduce(op):
    def enc(t: Tape, i, node):
        (j,) = node.inputs
        xs = t.shape(j)
        if node.op == "sum_to":
            shape = node.attrs["shape"]
            lead = len(xs) - len(shape)
            axes = tuple(range(lead)) + tuple(lead + k for k, d in enumerate(shape) if d == 1 and xs[lead + k] != 1)
        else:
            axes = node.attrs.get("axes")
            axes = tuple(range(len(xs))) if axes is None else tuple(sorted({a % len(xs) for a in axes})) if xs else ()
        kept = [d for d in range(len(xs)) if d not in axes]
        block = math.prod(xs[d] for d in axes)
        _, src = t.loc[j]
        if list(axes) != list(range(len(xs) - len(axes), len(xs))):   # move the reduced axes last
            perm = kept + list(axes)
            st = c_strides(xs)
            tmp = t.alloc(False, t.size(j))
            t.nd(COPY_ND, tmp, [xs[d] for d in perm], [st[d] for d in perm], src, t.size(j))
            src = tmp
        t.row(op, t.output(i, False), t.size(i), src, 0, t.const(block) if op == MEAN else 0, x=block)
    return enc


def _dot(t: Tape, i, node):
    a, b = (t.loc[j][1] for j in node.inputs)
    t.row(DOT, t.output(i, False), 1, a, 0, b, x=t.shape(node.inputs[0])[0])


def _matmul(t: Tape, i, node):
    ja, jb = node.inputs
    sa, sb = t.shape(ja), t.shape(jb)
    x = len(t.aux)
    t.aux += [sa[0] if len(sa) == 2 else 1, sa[-1], sb[1] if len(sb) == 2 else 1]
    t.row(MATMUL, t.output(i, False), t.size(i), t.loc[ja][1], 0, t.loc[jb][1], x=x)


def _unslice(t: Tape, i, node):
    (j,) = node.inputs
    o, strides = slice_read(tuple(node.attrs["shape"]), t.shape(j), node.attrs)
    out = t.output(i, False)
    t.nd(SCATTER_ND, t.loc[j][1], t.shape(j), strides, o, t.size(j))
    t.rows[-1][5] = out            # b: the result, zeroed, then written at b + a + index·strides
    t.rows[-1][7] = t.size(i)      # c: the result's size


TAPE: dict[str, tuple[Callable, Callable]] = {
    # op: (encoder, dtype check over (inputs..., result))
    **{op: (_unary, _ok("ff")) for op in UNARY},
    **{op: (_binary, _ok("fff")) for op in BINARY},
    **{op: (_compare, _ok("ffb")) for op in COMPARE},
    "logical_and": (_logic(AND), _ok("bbb")),
    "logical_or": (_logic(OR), _ok("bbb")),
    "logical_not": (_logic(NOT), _ok("bb")),
    "pow_scalar": (_pow_scalar, _ok("ff")),
    "clamp": (_clamp, _ok("ff")),
    "where": (_where, _ok("bfff")),
    "cast": (_cast, _ok("xx")),
    "stop_gradient": (_alias, _ok("xx")),
    "reshape": (_alias, _ok("xx")),
    "squeeze": (_alias, _ok("xx")),
    "unsqueeze": (_alias, _ok("xx")),
    "zeros_like": (_fill(0), _ok("xx")),
    "ones_like": (_fill(1), _ok("xx")),
    "broadcast_to": (_view(lambda i, o, at: broadcast_read(i, o)), _ok("xx")),
    "transpose": (_view(transpose_read), _ok("xx")),
    "slice": (_view(slice_read), _ok("xx")),
    "sum": (_reduce(SUM), _ok("ff")),
    "sum_to": (_reduce(SUM), _ok("ff")),
    "mean": (_reduce(MEAN), _ok("ff")),
    "max": (_reduce(RMAX), _ok("ff")),
    "min": (_reduce(RMIN), _ok("ff")),
    "dot": (_dot, _ok("fff")),
    "matmul": (_matmul, _ok("fff")),
    "unslice": (_unslice, _ok("ff")),
}


def expressible(node, in_avals, aval, fdt: str) -> bool:
    row = TAPE.get(node.op)
    if row is None:
        return False
    shapes = [aval.shape] + [a.shape for a in in_avals]
    sizes = [math.prod(s) for s in shapes]
    if min(sizes) == 0 or max(sizes) > COMPILE_MAX_ELEMENTS or max(len(s) for s in shapes) > 4:
        return False
    if node.op == "matmul" and any(len(a.shape) > 2 for a in in_avals):
        return False
    return row[1]([a.dtype for a in in_avals], aval.dtype, fdt)


def float_dtype(avals, ids) -> str | None:
    for i in ids:
        if avals[i].dtype in FLOATS:
            return avals[i].dtype
    return None


def encode(nodes, avals, members: Sequence[int], ext: Sequence[int], outs: Sequence[int], fdt: str,
           constants=None, tick=lambda: None) -> dict:
    """A run of nodes as a tape: a dict of arrays and small lists (picklable; Segment runs it).

    ext: the ids the call takes, in order; `constants` (id -> array): values written into the arena template
    once, instead of being passed."""
    t = Tape(nodes, avals, fdt)
    feeds, fixed = [], []
    for j in ext:
        boolean = avals[j].dtype == "bool"
        off = t.alloc(boolean, t.size(j))
        t.loc[j] = (boolean, off)
        feeds.append((boolean, off, off + t.size(j), len(avals[j].shape) > 1))
    for j, v in (constants or {}).items():
        boolean = avals[j].dtype == "bool"
        off = t.alloc(boolean, t.size(j))
        t.loc[j] = (boolean, off)
        fixed.append((boolean, off, np.asarray(v).reshape(-1)))
    for i in members:
        tick()   # (the compile thread's turn to hand the GIL to requests)
        TAPE[nodes[i].op][0](t, i, nodes[i])
    ftemplate = np.zeros(t.nf, fdt)
    ftemplate[1] = 1
    btemplate = np.zeros(t.nb, np.bool_)
    for off, v in t.floats:
        ftemplate[off] = v
    for off, v in t.bools:
        btemplate[off] = v
    for boolean, off, v in fixed:
        (btemplate if boolean else ftemplate)[off:off + v.size] = v
    return {"code": np.array(t.rows, np.int64).reshape(-1, W), "aux": np.array(t.aux, np.int64),
            "ftemplate": ftemplate, "btemplate": btemplate, "feeds": feeds, "bools": t.nb > 1,
            "outs": [(t.loc[o][0], t.loc[o][1], t.loc[o][1] + math.prod(avals[o].shape), tuple(avals[o].shape))
                     for o in outs]}


class Segment:
    """A tape and its arena templates; call(*inputs) -> output arrays (views of a fresh arena)."""

    def __init__(self, state: dict):
        self.code, self.aux = state["code"], state["aux"]
        self.ftemplate, self.btemplate = state["ftemplate"], state["btemplate"]
        self.feeds, self.outs, self.rows = state["feeds"], state["outs"], len(state["code"])
        self.call = self._wrapper(state["bools"])

    def _wrapper(self, bools: bool):
        """The call as straight-line Python written for this segment (a loop over feeds and outputs cost as
        much as the kernel itself for the seed example): copy the templates, write the inputs, run, slice."""
        args = [f"x{k}" for k in range(len(self.feeds))]
        lines = [f"def call({', '.join(args)}):", "    F = ft.copy()",
                 "    B = bt.copy()" if bools else "    B = bt"]   # no bool values: never written, shared
        for (boolean, lo, hi, multi), a in zip(self.feeds, args):
            lines.append(f"    {'B' if boolean else 'F'}[{lo}:{hi}] = {a}.reshape(-1)" if multi else
                         f"    {'B' if boolean else 'F'}[{lo}:{hi}] = {a}")
        lines.append("    run(code, aux, F, B)")
        outs = []
        for boolean, lo, hi, shape in self.outs:
            a = 'B' if boolean else 'F'
            outs.append(f"{a}[{lo}, ...]" if not shape else f"{a}[{lo}:{hi}]" if len(shape) == 1 else   # 0-d: a view
                        f"{a}[{lo}:{hi}].reshape({tuple(shape)!r})")
        lines.append(f"    return ({''.join(o + ', ' for o in outs)})")
        env = {"ft": self.ftemplate, "bt": self.btemplate, "code": self.code, "aux": self.aux, "run": run_tape}
        exec("\n".join(lines), env)
        return env["call"]

    def __call__(self, *xs):
        return self.call(*xs)
