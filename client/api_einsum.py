"""torch.einsum as diagonals, sums, permutes, reshapes and matmuls of the engine (gradients of any order come
from those ops): repeated subscripts within an operand take a diagonal, subscripts nothing else needs are
summed out at once, and operands are contracted left to right, each pair by one batched matmul."""
from __future__ import annotations

import math

from gradwire import ops
from gradwire.core.dtypes import LEGACY_NAMES
from gradwire.declare import declare
from gradwire.ops import apply
from gradwire.tensor import Tensor

_ELL = "."       # one label per ellipsis dim: "." followed by its position from the right


def _parse_term(term: str, operand: Tensor | None, k: int, offset: int) -> list[str]:
    labels, i, ell = [], 0, False
    while i < len(term):
        c = term[i]
        if term.startswith("...", i):
            if ell:
                raise RuntimeError("einsum(): found '.' for operand " + str(k) +
                                   " for which an ellipsis was already found")
            ell = True
            labels.append("...")
            i += 3
            continue
        if c == ".":
            raise RuntimeError(f"einsum(): found '.' for operand {k} that is not part of any ellipsis")
        if not ("a" <= c <= "z" or "A" <= c <= "Z"):
            raise RuntimeError(f"einsum(): invalid subscript given at index {offset + i} in the equation string, "
                               f"subscripts must be in [a-zA-Z]")
        labels.append(c)
        i += 1
    if operand is None:
        return labels
    named = len(labels) - ell
    if ell:
        if operand.ndim < named:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) is more than the "
                               f"number of dimensions ({operand.ndim}) for operand {k}")
        n = operand.ndim - named
        at = labels.index("...")
        labels[at:at + 1] = [f"{_ELL}{n - j}" for j in range(n)]
    elif named != operand.ndim:
        raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) does not match the "
                           f"number of dimensions ({operand.ndim}) for operand {k} and no ellipsis was given")
    return labels


def _order(label: str):
    # PyTorch's implicit output: the ellipsis dims first, then the single subscripts, A-Z before a-z.
    return (0, -int(label[1:]), "") if label.startswith(_ELL) else (1, 0, label)


def _take_diagonals(x: Tensor, labels: list[str], k: int):
    """Repeated subscripts within one operand: 'ii' -> the diagonal, one dim per distinct label."""
    while len(set(labels)) < len(labels):
        for i, a in enumerate(labels):
            j = labels.index(a, i + 1) if a in labels[i + 1:] else -1
            if j >= 0:
                if x.shape[i] != x.shape[j]:
                    raise RuntimeError(f"einsum(): subscript {a} is repeated for operand {k} but the sizes don't "
                                       f"match, {x.shape[j]} != {x.shape[i]}")
                x = ops.diagonal(x, 0, i, j)
                labels = [b for m, b in enumerate(labels) if m not in (i, j)] + [a]
                break
    return x, labels


def _sum_out(x: Tensor, labels: list[str], keep) -> tuple[Tensor, list[str]]:
    gone = [i for i, a in enumerate(labels) if a not in keep]
    if gone:
        x = ops.sum(x, gone)
        labels = [a for a in labels if a in keep]
    return x, labels


def _contract(x, lx, y, ly, keep):
    """x * y summed over the shared labels `keep` does not hold, as one batched matmul."""
    batch = [a for a in lx if a in ly and a in keep]
    summed = [a for a in lx if a in ly and a not in keep]
    left = [a for a in lx if a not in ly]
    right = [a for a in ly if a not in lx]
    sx = dict(zip(lx, x.shape))
    sy = dict(zip(ly, y.shape))
    xp = ops.permute(x, [lx.index(a) for a in batch + left + summed])
    yp = ops.permute(y, [ly.index(a) for a in batch + summed + right])
    bx, by = [sx[a] for a in batch], [sy[a] for a in batch]
    k = math.prod(sx[a] for a in summed)
    m, n = math.prod(sx[a] for a in left), math.prod(sy[a] for a in right)
    r = apply("matmul", ops.reshape(xp, bx + [m, k]), ops.reshape(yp, by + [k, n]))
    bs = [max(p, q) for p, q in zip(bx, by)]
    return ops.reshape(r, bs + [sx[a] for a in left] + [sy[a] for a in right]), batch + left + right


@declare(method=False, tensors=())
def einsum(equation, *operands):
    """Einstein summation, as torch.einsum: implicit and explicit ('->') output, '...', repeated subscripts
    (traces, diagonals), size-1 dims broadcasting; also the operands as one list, and the sublist form
    einsum(x, [0, 1], y, [1, 2], [0, 2])."""
    if not isinstance(equation, str):          # sublist form
        args = [equation, *operands]
        letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
        sub = lambda s: "".join("..." if v is Ellipsis else letters[v] for v in s)  # noqa: E731
        ts, terms = args[0::2][:len(args) // 2], [sub(s) for s in args[1::2]]
        equation = ",".join(terms) + ("->" + sub(args[-1]) if len(args) % 2 else "")
        operands = tuple(ts)
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) > len(operands):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
    if len(terms) < len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    for t in operands:
        if t.dtype != operands[0].dtype:
            raise RuntimeError(f"expected scalar type {LEGACY_NAMES[operands[0]._node.dtype]} but found "
                               f"{LEGACY_NAMES[t._node.dtype]}")
    offset, labels = 0, []
    for k, (term, t) in enumerate(zip(terms, operands)):
        labels.append(_parse_term(term, t, k, offset))
        offset += len(term) + 1
    seen: dict[str, int] = {}
    for k, (ls, t) in enumerate(zip(labels, operands)):
        for i, a in enumerate(ls):
            if a in ls[:i] and t.shape[i] != t.shape[ls.index(a)]:
                raise RuntimeError(f"einsum(): subscript {a} is repeated for operand {k} but the sizes don't "
                                   f"match, {t.shape[i]} != {t.shape[ls.index(a)]}")
        for a, s in zip(ls, t.shape):
            if a in seen and s != seen[a] and 1 not in (s, seen[a]) and not a.startswith(_ELL):
                raise RuntimeError(f"einsum(): subscript {a} has size {s} for operand {k} which does not "
                                   f"broadcast with previously seen size {seen[a]}")
            if a.startswith(_ELL) and a in seen and s != seen[a] and 1 not in (s, seen[a]):
                raise RuntimeError("einsum(): operands do not broadcast with remapped shapes (original->remapped)")
            seen[a] = s if a not in seen or seen[a] == 1 else seen[a]
    ells = sorted({a for ls in labels for a in ls if a.startswith(_ELL)}, key=_order)
    if arrow:
        out = _parse_term(rhs, None, -1, len(lhs) + 2)
        for a in out:
            if a != "..." and out.count(a) > 1:
                raise RuntimeError(f"einsum(): output subscript {a} appears more than once in the output")
            if a != "..." and a not in seen:
                raise RuntimeError(f"einsum(): output subscript {a} does not appear in the equation for any input "
                                   f"operand")
        if "..." in out:
            at = out.index("...")
            out[at:at + 1] = ells
    else:
        counts: dict[str, int] = {}
        for ls in labels:
            for a in ls:
                counts[a] = counts.get(a, 0) + 1
        out = ells + sorted((a for a, c in counts.items() if c == 1 and not a.startswith(_ELL)), key=_order)
    xs = []
    for k, (t, ls) in enumerate(zip(operands, labels)):
        t, ls = _take_diagonals(t, ls, k)
        # a size-1 dim another operand has larger broadcasts: sum it out here
        ones = [i for i, a in enumerate(ls) if t.shape[i] == 1 and seen[a] != 1]
        if ones:
            t = ops.squeeze(t, ones)
            ls = [a for i, a in enumerate(ls) if i not in ones]
        xs.append((t, ls))
    for k in range(len(xs)):
        later = {a for _, ls in xs[k + 1:] for a in ls} | set(out)
        if k == 0:
            x, lx = _sum_out(*xs[0], later)
            continue
        y, ly = _sum_out(*xs[k], later | set(lx))
        x, lx = _contract(x, lx, y, ly, later)
    x, lx = _sum_out(x, lx, set(out))
    missing = [a for a in out if a not in lx]      # a broadcast size-1 dim that every operand dropped
    for a in missing:
        x = ops.unsqueeze(x, x.ndim)
        lx = lx + [a]
    perm = [lx.index(a) for a in out]
    return ops.permute(x, perm) if perm != list(range(len(perm))) else x
