"""PyTorch cosmetics: the grad_fn name PyTorch shows for each engine op, and whether its
backward node saves tensors (only those make a second backward without retain_graph fail)."""
from __future__ import annotations

# op -> (grad_fn name, saves tensors). An op missing here (say, one only the server's backward
# graphs use) still records history, under a name made from its own.
_NAMES: dict[str, tuple[str, bool]] = {
    "neg": ("NegBackward0", False), "exp": ("ExpBackward0", True), "log": ("LogBackward0", True),
    "sin": ("SinBackward0", True), "cos": ("CosBackward0", True), "tan": ("TanBackward0", True),
    "tanh": ("TanhBackward0", True), "sigmoid": ("SigmoidBackward0", True),
    "relu": ("ReluBackward0", True), "abs": ("AbsBackward0", True), "sqrt": ("SqrtBackward0", True),
    "square": ("PowBackward0", True), "sign": ("SignBackward0", False),
    "add": ("AddBackward0", False), "sub": ("SubBackward0", False), "mul": ("MulBackward0", True),
    "div": ("DivBackward0", True), "pow": ("PowBackward1", True),
    "maximum": ("MaximumBackward0", True), "minimum": ("MinimumBackward0", True),
    "pow_scalar": ("PowBackward0", True), "clamp": ("ClampBackward1", True),
    "where": ("WhereBackward0", True), "cast": ("ToCopyBackward0", False),
    "sum": ("SumBackward0", False), "mean": ("MeanBackward0", False),
    "prod": ("ProdBackward0", True), "max": ("MaxBackward1", True), "min": ("MinBackward1", True),
    "norm": ("LinalgVectorNormBackward0", True), "logsumexp": ("LogsumexpBackward0", True),
    "softmax": ("SoftmaxBackward0", True), "log_softmax": ("LogSoftmaxBackward0", True),
    "dot": ("DotBackward0", True), "matmul": ("MmBackward0", True),
    "transpose": ("PermuteBackward0", False), "reshape": ("ViewBackward0", False),
    "broadcast_to": ("ExpandBackward0", False), "squeeze": ("SqueezeBackward1", False),
    "unsqueeze": ("UnsqueezeBackward0", False), "concat": ("CatBackward0", False),
    "stack": ("StackBackward0", False), "slice": ("SliceBackward0", False),
    "take": ("IndexBackward0", True), "gather": ("GatherBackward0", True),
    "scatter_add": ("ScatterAddBackward0", True), "gather_add": ("ScatterAddBackward0", True),
    "sum_to": ("SumToSizeBackward0", False),
}


# Results PyTorch gives no grad_fn: booleans, indices, and values that do not depend on their input's.
_NO_HISTORY = frozenset({"eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or",
                         "logical_not", "all", "any", "argmax", "argmin", "stop_gradient", "ones_like",
                         "zeros_like", "constant", "placeholder"})


def records_history(op: str) -> bool:
    """Whether PyTorch gives this op's result a grad_fn (comparisons, logical ops do not)."""
    return op not in _NO_HISTORY


def saves_tensors(op: str) -> bool:
    return _NAMES.get(op, ("", True))[1]


def grad_fn_name(op: str, attrs: dict, input_ndims: list[int | None],
                 output_ndim: int | None = None) -> str:
    """The PyTorch class name, refined where PyTorch picks an overload by arguments
    (from whatever ranks are known; no round trip is made for a cosmetic name)."""
    name = _NAMES[op][0] if op in _NAMES else \
        "".join(w.capitalize() for w in op.split("_")) + "Backward0"
    if op in ("sum", "mean") and attrs.get("axes") is not None:
        return name[:-1] + "1"          # SumBackward1 / MeanBackward1: reduction over dims
    if op == "matmul":
        a, b = (input_ndims + [None, None])[:2]
        if (a is None or b is None) and output_ndim in (0, 1):
            a, b = (1, 1) if output_ndim == 0 else (2, 1)
        if a == 1 and b == 1:
            return "DotBackward0"
        if a == 2 and b == 1:
            return "MvBackward0"
        if a is not None and b is not None and (a > 2 or b > 2):
            return "BmmBackward0" if a == b == 3 else "UnsafeViewBackward0"
    return name
