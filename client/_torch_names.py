"""PyTorch's autograd bookkeeping per engine op: the grad_fn name it shows, and which tensors its
backward node saves (those are what version counters and retain_graph protect)."""
from __future__ import annotations

# op -> grad_fn name (declarations in the api_* modules add theirs through declare.autograd). An op missing here (say, one only the server's backward graphs use) still records
# history, under a name made from its own.
NAMES: dict[str, str] = {
    "add": "AddBackward0", "sub": "SubBackward0", "mul": "MulBackward0",
    "div": "DivBackward0", "pow": "PowBackward1", "maximum": "MaximumBackward0", "minimum": "MinimumBackward0",
    "pow_scalar": "PowBackward0", "clamp": "ClampBackward1", "where": "WhereBackward0", "cast": "ToCopyBackward0",
    "sum": "SumBackward0", "mean": "MeanBackward0", "prod": "ProdBackward0", "max": "MaxBackward1",
    "min": "MinBackward1", "norm": "LinalgVectorNormBackward0", "logsumexp": "LogsumexpBackward0",
    "softmax": "SoftmaxBackward0", "log_softmax": "LogSoftmaxBackward0", "dot": "DotBackward0",
    "matmul": "MmBackward0", "transpose": "PermuteBackward0", "reshape": "ViewBackward0",
    "broadcast_to": "ExpandBackward0", "squeeze": "SqueezeBackward1", "unsqueeze": "UnsqueezeBackward0",
    "concat": "CatBackward0", "stack": "StackBackward0", "slice": "SliceBackward0", "take": "IndexBackward0",
    "gather": "GatherBackward0", "scatter_add": "ScatterAddBackward0", "gather_add": "ScatterAddBackward0",
    "sum_to": "SumToSizeBackward0", "diagonal": "DiagonalBackward0", "slice_scatter": "CopySlices",
    "diagonal_scatter": "CopySlices", "put": "IndexPutBackward0",
}

# Which tensors PyTorch's backward node for an op saves, as (inputs, output): inputs "all" (every input),
# "cross" (each input only when another input requires grad: mul, dot, matmul), "div" (the divisor, and
# the dividend when the divisor requires grad), "first"; output True when the result is saved. Only saved
# tensors make an in-place change fail the backward, and make a second backward need retain_graph.
SAVES: dict[str, tuple[str | None, bool]] = {
    "mul": ("cross", False),
    "div": ("div", False), "pow": ("all", True), "maximum": ("all", False), "minimum": ("all", False),
    "pow_scalar": ("all", False), "clamp": ("all", False), "where": ("first", False),
    "prod": ("all", True), "max": ("all", True), "min": ("all", True), "norm": ("all", True),
    "logsumexp": ("all", True), "softmax": (None, True), "log_softmax": (None, True), "dot": ("cross", False),
    "matmul": ("cross", False), "take": ("all", False), "gather": ("all", False),
    "scatter_add": ("all", False), "gather_add": ("all", False), "put": ("all", False),
    "with_value": (None, False),
}


def saved_inputs(op: str, requires_grad: list[bool]) -> list[int]:
    """Positions of the inputs PyTorch's backward node for `op` saves."""
    rule = SAVES.get(op, (None, False))[0]
    n = len(requires_grad)
    if rule == "all":
        return list(range(n))
    if rule == "first":
        return [0]
    if rule == "cross":
        return [j for j in range(n) if any(requires_grad[k] for k in range(n) if k != j)]
    if rule == "div":
        return [1] + ([0] if requires_grad[1] else [])
    return []


def saves_output(op: str) -> bool:
    return SAVES.get(op, (None, False))[1]


# Results PyTorch gives no grad_fn: booleans, indices, and values that do not depend on their input's.
NO_HISTORY = set({"eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or",
                         "logical_not", "all", "any", "argmax", "argmin", "stop_gradient", "ones_like",
                         "zeros_like", "constant", "placeholder"})


def records_history(op: str) -> bool:
    """Whether PyTorch gives this op's result a grad_fn (comparisons, logical ops do not)."""
    return op not in NO_HISTORY


def saves_tensors(op: str) -> bool:
    inputs, output = SAVES.get(op, (None, op not in NAMES))
    return inputs is not None or output


def grad_fn_name(op: str, attrs: dict, input_ndims: list[int | None],
                 output_ndim: int | None = None) -> str:
    """The PyTorch class name, refined where PyTorch picks an overload by arguments
    (from whatever ranks are known; no round trip is made for a cosmetic name)."""
    name = NAMES[op] if op in NAMES else \
        "".join(w.capitalize() for w in op.split("_")) + "Backward0"
    if op == "matmul":
        a, b = (input_ndims + [None, None])[:2]
        if (a is None or b is None) and output_ndim in (0, 1):
            a, b = (1, 1) if output_ndim == 0 else (2, 1)
        if a == 1 and b == 1:
            return "DotBackward0"
        if a == 2 and b == 1:
            return "MvBackward0"
        if a is not None and b is not None and (a > 2 or b > 2):
            return "UnsafeViewBackward0"     # torch.matmul of batches: bmm then an unsafe view (bmm itself: Bmm)
    return name
