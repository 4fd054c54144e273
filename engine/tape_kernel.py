"""The tape kernel: one precompiled @njit interpreter of tapes (rows of integers over flat arenas), for tape.py.
Knows nothing of graphs: a row is (op, out, n, a, sa, b, sb, c, sc, x) — result offset and size, up to three
operand offsets with strides 0 or 1, and an offset into the aux ints (shapes, strides) or a block size.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .jit import COMPILED
from .plan_support import pairwise_sum, run_max, run_min

W = 10   # row: op, out, n, a, sa, b, sb, c, sc, x

# opcodes: float results
NEG, EXP, LOG, SIN, COS, TAN, TANH, SIGMOID, SQRT, ABS, SQUARE, RELU, SIGN, CLAMP = range(14)
ADD, SUB, MUL, DIV, POW, MAX, MIN = range(20, 27)
WHERE, FILL, FROM_BOOL, COPY_ND, SCATTER_ND, SUM, MEAN, RMAX, RMIN, DOT, MATMUL = range(30, 41)
# bool results
EQ, NE, LT, LE, GT, GE, AND, OR, NOT, FILL_B, TO_BOOL, COPY_ND_B = range(50, 62)

UNARY = {"neg": NEG, "exp": EXP, "log": LOG, "sin": SIN, "cos": COS, "tan": TAN, "tanh": TANH,
         "sigmoid": SIGMOID, "sqrt": SQRT, "abs": ABS, "square": SQUARE, "relu": RELU, "sign": SIGN}
BINARY = {"add": ADD, "sub": SUB, "mul": MUL, "div": DIV, "pow": POW, "maximum": MAX, "minimum": MIN}
COMPARE = {"eq": EQ, "ne": NE, "lt": LT, "le": LE, "gt": GT, "ge": GE}


@njit(**COMPILED)
def _nd(F, B, boolean, aux, x, out, a, scatter):
    """Strided copy over up to 4 dims: out[k] = in[a + i·s] (or, scattering, out[a + i·s] = in[k])."""
    d0, d1, d2, d3 = aux[x], aux[x + 1], aux[x + 2], aux[x + 3]
    s0, s1, s2, s3 = aux[x + 4], aux[x + 5], aux[x + 6], aux[x + 7]
    k = 0
    for i0 in range(d0):
        for i1 in range(d1):
            for i2 in range(d2):
                for i3 in range(d3):
                    j = a + i0 * s0 + i1 * s1 + i2 * s2 + i3 * s3
                    if boolean:
                        B[out + k] = B[j]
                    elif scatter:
                        F[j] = F[out + k]
                    else:
                        F[out + k] = F[j]
                    k += 1


def _run(code, aux, F, B):
    """Execute a tape. F: float arena (F[0] = 0, F[1] = 1: typed constants), B: bool arena; inputs and
    constants are in place, every row writes its own region."""
    zero = F[0]
    one = F[1]
    for r in range(code.shape[0]):
        op, o, n, a, sa, b, sb, c, sc, x = (code[r, 0], code[r, 1], code[r, 2], code[r, 3], code[r, 4],
                                            code[r, 5], code[r, 6], code[r, 7], code[r, 8], code[r, 9])
        if op == MUL:
            for k in range(n):
                F[o + k] = F[a + k * sa] * F[b + k * sb]
        elif op == ADD:
            for k in range(n):
                F[o + k] = F[a + k * sa] + F[b + k * sb]
        elif op == SUB:
            for k in range(n):
                F[o + k] = F[a + k * sa] - F[b + k * sb]
        elif op == DIV:
            for k in range(n):
                F[o + k] = F[a + k * sa] / F[b + k * sb]
        elif op == NEG:
            for k in range(n):
                F[o + k] = -F[a + k * sa]
        elif op < 20:
            for k in range(n):
                v = F[a + k * sa]
                if op == EXP:
                    v = np.exp(v)
                elif op == LOG:
                    v = np.log(v)
                elif op == SIN:
                    v = np.sin(v)
                elif op == COS:
                    v = np.cos(v)
                elif op == TAN:
                    v = np.tan(v)
                elif op == TANH:
                    v = np.tanh(v)
                elif op == SIGMOID:
                    v = one / (one + np.exp(-v))
                elif op == SQRT:
                    v = np.sqrt(v)
                elif op == ABS:
                    v = abs(v)
                elif op == SQUARE:
                    v = v * v
                elif op == RELU:
                    v = v if (v >= zero or v != v) else zero
                elif op == SIGN:
                    v = one if v > zero else (-one if v < zero else (zero if v == zero else v))
                elif op == CLAMP:
                    if b >= 0:
                        m = F[b]
                        v = v if (v >= m or v != v) else m
                    if c >= 0:
                        m = F[c]
                        v = v if (v <= m or v != v) else m
                F[o + k] = v
        elif op < 30:
            for k in range(n):
                p = F[a + k * sa]
                q = F[b + k * sb]
                if op == POW:
                    F[o + k] = np.power(p, q)
                elif op == MAX:
                    F[o + k] = p if (p >= q or p != p) else q
                else:
                    F[o + k] = p if (p <= q or p != p) else q
        elif op == WHERE:
            for k in range(n):
                F[o + k] = F[b + k * sb] if B[a + k * sa] else F[c + k * sc]
        elif op == FILL:
            for k in range(n):
                F[o + k] = F[a]
        elif op == FROM_BOOL:
            for k in range(n):
                F[o + k] = one if B[a + k * sa] else zero
        elif op == COPY_ND:
            _nd(F, B, False, aux, x, o, a, False)
        elif op == SCATTER_ND:
            for k in range(c):
                F[b + k] = zero
            _nd(F, B, False, aux, x, o, b + a, True)
        elif op == SUM or op == MEAN:
            for k in range(n):
                s = pairwise_sum(F, a + k * x, x)
                F[o + k] = s / F[b] if op == MEAN else s
        elif op == RMAX:
            for k in range(n):
                F[o + k] = run_max(F, a + k * x, x)
        elif op == RMIN:
            for k in range(n):
                F[o + k] = run_min(F, a + k * x, x)
        elif op == DOT:
            acc = zero
            for k in range(x):
                acc += F[a + k] * F[b + k]
            F[o] = acc
        elif op == MATMUL:
            m, kk, nn = aux[x], aux[x + 1], aux[x + 2]
            for i in range(m):
                for j in range(nn):
                    acc = zero
                    for q in range(kk):
                        acc += F[a + i * kk + q] * F[b + q * nn + j]
                    F[o + i * nn + j] = acc
        elif op < 56:
            for k in range(n):
                p = F[a + k * sa]
                q = F[b + k * sb]
                if op == EQ:
                    B[o + k] = p == q
                elif op == NE:
                    B[o + k] = p != q
                elif op == LT:
                    B[o + k] = p < q
                elif op == LE:
                    B[o + k] = p <= q
                elif op == GT:
                    B[o + k] = p > q
                else:
                    B[o + k] = p >= q
        elif op == AND:
            for k in range(n):
                B[o + k] = B[a + k * sa] and B[b + k * sb]
        elif op == OR:
            for k in range(n):
                B[o + k] = B[a + k * sa] or B[b + k * sb]
        elif op == NOT:
            for k in range(n):
                B[o + k] = not B[a + k * sa]
        elif op == FILL_B:
            for k in range(n):
                B[o + k] = B[a]
        elif op == TO_BOOL:
            for k in range(n):
                B[o + k] = F[a + k * sa] != zero
        elif op == COPY_ND_B:
            _nd(F, B, True, aux, x, o, a, False)


# Lazy, but every call passes the same four array types (made here), so it compiles once per float dtype:
# in warm_up, or in the background compile thread before a tape is swapped into a plan.
run_tape = njit(**COMPILED)(_run)
JIT = hasattr(run_tape, "py_func")   # False with NUMBA_DISABLE_JIT=1: the tape then runs NumPy scalar code


def warm_up() -> None:
    """Load (or compile, once per cache directory) the tape kernel for both float dtypes."""
    for dt in (np.float32, np.float64):
        run_tape(np.zeros((0, W), np.int64), np.zeros(1, np.int64), np.array([0, 1], dt), np.zeros(1, np.bool_))
