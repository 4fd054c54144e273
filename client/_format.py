"""PyTorch's tensor repr, reproduced over NumPy arrays (torch/_tensor_str.py), and its print options."""
from __future__ import annotations

import math

import numpy as np



class _Options:
    """torch.set_printoptions' settings (PyTorch's PRINT_OPTS)."""
    precision = 4
    threshold: float = 1000
    edgeitems = 3
    linewidth = 80
    sci_mode: bool | None = None


OPTS = _Options()
_PROFILES = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80), "full": (4, math.inf, 3, 80)}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """As torch.set_printoptions: a profile first ("default", "short", "full"), then the options given; sci_mode
    is always set (None: chosen per tensor)."""
    if profile is not None:
        OPTS.precision, OPTS.threshold, OPTS.edgeitems, OPTS.linewidth = _PROFILES[profile]
    if precision is not None:
        OPTS.precision = precision
    if threshold is not None:
        OPTS.threshold = threshold
    if edgeitems is not None:
        OPTS.edgeitems = edgeitems
    if linewidth is not None:
        OPTS.linewidth = linewidth
    OPTS.sci_mode = sci_mode
# PyTorch omits the dtype suffix for its default float type, int64 and bool.
_DEFAULT_DTYPES = ("float32", "int64", "bool")


class _Formatter:
    """Chooses int/fixed/scientific mode and a common width, exactly as torch's _Formatter."""

    def __init__(self, values: np.ndarray):
        self.floating = values.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        flat = values.reshape(-1)
        if not self.floating:
            for v in flat.tolist():
                self.max_width = max(self.max_width, len(f"{v}"))
            return
        vals = flat[np.isfinite(flat) & (flat != 0)].astype(np.float64)
        if vals.size == 0:
            return
        absvals = np.abs(vals)
        lo, hi = absvals.min(), absvals.max()
        self.int_mode = bool(np.all(vals == np.ceil(vals)))
        self.sci_mode = bool(hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4) if OPTS.sci_mode is None \
            else OPTS.sci_mode
        for v in vals.tolist():
            if self.sci_mode:
                width = len(f"{v:.{OPTS.precision}e}")
            elif self.int_mode:
                width = len(f"{v:.0f}") + 1
            else:
                width = len(f"{v:.{OPTS.precision}f}")
            self.max_width = max(self.max_width, width)

    def format(self, value) -> str:
        if self.floating:
            if self.sci_mode:
                ret = f"{value:{self.max_width}.{OPTS.precision}e}"
            elif self.int_mode:
                ret = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    ret += "."
            else:
                ret = f"{value:.{OPTS.precision}f}"
        else:
            ret = f"{value}"
        return (self.max_width - len(ret)) * " " + ret


def _summarized(a: np.ndarray) -> np.ndarray:
    """The elements a summarized print shows (first and last OPTS.edgeitems along every axis)."""
    if a.ndim == 0:
        return a
    if a.ndim == 1:
        return np.concatenate([a[:OPTS.edgeitems], a[-OPTS.edgeitems:]]) if a.shape[0] > 2 * OPTS.edgeitems else a
    rows = list(range(OPTS.edgeitems)) + list(range(len(a) - OPTS.edgeitems, len(a))) \
        if a.shape[0] > 2 * OPTS.edgeitems else range(a.shape[0])
    return np.stack([_summarized(a[i]) for i in rows])


def _vector(a: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    per_line = max(1, math.floor((OPTS.linewidth - indent) / (fmt.max_width + 2)))
    if summarize and a.shape[0] > 2 * OPTS.edgeitems:
        data = ([fmt.format(v) for v in a[:OPTS.edgeitems].tolist()] + [" ..."]
                + [fmt.format(v) for v in a[-OPTS.edgeitems:].tolist()])
    else:
        data = [fmt.format(v) for v in a.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _body(a: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    if a.ndim == 0:
        return fmt.format(a.item())
    if a.ndim == 1:
        return _vector(a, indent, summarize, fmt)
    if summarize and a.shape[0] > 2 * OPTS.edgeitems:
        slices = ([_body(a[i], indent + 1, summarize, fmt) for i in range(OPTS.edgeitems)] + ["..."]
                  + [_body(a[i], indent + 1, summarize, fmt) for i in range(len(a) - OPTS.edgeitems, len(a))])
    else:
        slices = [_body(a[i], indent + 1, summarize, fmt) for i in range(a.shape[0])]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def _with_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    parts = [text]
    last_line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(value: np.ndarray, *, grad_fn: str | None = None, requires_grad: bool = False) -> str:
    """`tensor([0., 1.], requires_grad=True)` — the same characters PyTorch prints."""
    prefix = "tensor("
    indent = len(prefix)
    suffixes = []
    dtype = value.dtype.name
    if value.size == 0:
        if value.ndim != 1:
            suffixes.append("size=" + str(tuple(value.shape)))
        if dtype != "float32":
            suffixes.append(f"dtype=torch.{dtype}")
        body = "[]"
    else:
        if dtype not in _DEFAULT_DTYPES:
            suffixes.append(f"dtype=torch.{dtype}")
        summarize = value.size > OPTS.threshold
        fmt = _Formatter(_summarized(value) if summarize else value)
        body = _body(value, indent, summarize, fmt)
    if grad_fn is not None:
        suffixes.append(f"grad_fn=<{grad_fn}>")
    elif requires_grad:
        suffixes.append("requires_grad=True")
    return _with_suffixes(prefix + body, suffixes, indent)
