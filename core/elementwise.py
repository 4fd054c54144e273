"""Signatures of the elementwise ops: broadcasting, PyTorch's type promotion, float results for int inputs."""
from __future__ import annotations

from . import shapes
from .dtypes import DTYPES, LEGACY_NAMES, NUMBERS, is_float, result_type, to_float
from .signature import Attr, Aval, defsig


def operands(avals):
    """(dtype, ndim) of each input, for result_type: 0-d inputs do not promote dimensioned ones."""
    return [(a.dtype, a.ndim) for a in avals]


def _unary_shape(float_out: bool):
    def rule(avals, attrs):
        (x,) = avals
        return Aval(x.shape, to_float(x.dtype) if float_out else x.dtype)
    return rule


def not_implemented(kernel: str, dtype: str) -> NotImplementedError:
    """PyTorch's refusal of a dtype its kernel has no loop for."""
    return NotImplementedError(f'"{kernel}" not implemented for \'{LEGACY_NAMES[dtype]}\'')


SUB_BOOLS = ("Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` "
             "operator instead.")
SUB_BOOL = ("Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, "
            "use the `~` or `logical_not()` operator instead.")


def sub_check(dtypes) -> None:
    """PyTorch's refusal of `-` with bools (a Python bool counts as a bool tensor)."""
    if all(d == "bool" for d in dtypes):
        raise RuntimeError(SUB_BOOLS)
    if "bool" in dtypes:
        raise RuntimeError(SUB_BOOL)


def _binary_shape(kind: str, bools: str | None = None, float_only: str | None = None):
    def rule(avals, attrs):
        x, y = avals
        if bools == "sub":
            sub_check((x.dtype, y.dtype))
        shape = shapes.broadcast(x.shape, y.shape)
        if bools and bools != "sub" and x.dtype == y.dtype == "bool":
            raise not_implemented(bools, "bool")
        if kind == "bool":
            return Aval(shape, "bool")
        dt = result_type(*operands(avals))
        if float_only and not is_float(dt):
            raise not_implemented(float_only, dt)
        return Aval(shape, to_float(dt) if kind == "float" else dt)
    return rule


def unary(name, *, float_out=True, dtypes=DTYPES, dtype_error=None, doc=""):
    defsig(name, inputs=1, shape=_unary_shape(float_out), dtypes=dtypes, elementwise=True,
           dtype_error=dtype_error, doc=doc)


def binary(name, *, kind="promote", dtypes=DTYPES, bools=None, float_only=None, doc=""):
    """kind: "promote" (the promoted type), "float" (at least float32) or "bool" (a comparison).
    bools: "sub" (PyTorch refuses `-` on bools), or the name of PyTorch's kernel refusing two bools, or None.
    float_only: the name of PyTorch's kernel, for ops refusing a promoted type that is not float."""
    defsig(name, inputs=2, shape=_binary_shape(kind, bools, float_only), dtypes=dtypes, elementwise=True, doc=doc)


unary("neg", float_out=False, dtypes=NUMBERS,
      dtype_error="Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a "
                  "mask, use the `~` or `logical_not()` operator instead.",
      doc="-x; PyTorch refuses it on bool (use logical_not)")
unary("exp", doc="e ** x")
unary("log", doc="natural logarithm")
unary("sin", doc="sine")
unary("cos", doc="cosine")
unary("tan", doc="tangent")
unary("tanh", doc="hyperbolic tangent")
unary("sigmoid", doc="1 / (1 + exp(-x))")
unary("sqrt", doc="square root")
unary("abs", float_out=False, doc="absolute value")
unary("square", float_out=False, doc="x * x")
unary("relu", float_out=False, doc="max(x, 0); the gradient at 0 is 0, as in PyTorch")
unary("sign", float_out=False, doc="no gradient (zero almost everywhere); the identity on bool, as in PyTorch")
unary("stop_gradient", float_out=False, doc="identity whose gradient is blocked (PyTorch's detach)")
def _logical_not_shape(avals, attrs):
    return Aval(avals[0].shape, "bool")


defsig("logical_not", inputs=1, shape=_logical_not_shape, elementwise=True, doc="not x (nonzero is true): bool result")

binary("add", doc="x + y")
binary("sub", bools="sub", doc="x - y")
binary("mul", doc="x * y")
binary("div", kind="float", doc="x / y (true division: float result)")
binary("pow", doc="x ** y; the y-gradient is 0 where x == 0, as in PyTorch")
binary("maximum", doc="larger of x and y; ties split the gradient evenly, as in PyTorch")
binary("minimum", doc="smaller of x and y; ties split the gradient evenly, as in PyTorch")
for _name, _sym in (("eq", "=="), ("ne", "!="), ("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">=")):
    binary(_name, kind="bool", doc=f"x {_sym} y, compared in the promoted type: bool result, no gradient")
binary("hypot", float_only="hypot_cpu", doc="sqrt(x**2 + y**2) without overflow in the squares")
binary("logical_and", kind="bool", doc="x and y (nonzero is true)")
binary("logical_or", kind="bool", doc="x or y (nonzero is true)")


def _pow_scalar_shape(avals, attrs):
    (x,) = avals
    e = attrs["exponent"]
    return Aval(x.shape, x.dtype if is_float(x.dtype) or (e == int(e) and e >= 0) else to_float(x.dtype))


defsig("pow_scalar", inputs=1, attrs={"exponent": Attr("float", doc="the exponent")}, shape=_pow_scalar_shape,
       elementwise=True, doc="x ** exponent for a scalar exponent")


def _same_shape(avals, attrs):
    return Aval(avals[0].shape, avals[0].dtype)


# C++ names in PyTorch's "value cannot be converted to type X without overflow", and each type's range (an
# unsigned type also takes -max..-1, which wraps).
_BOUNDS = {"uint8": ("uint8_t", -255, 255), "int8": ("int8_t", -128, 127), "int16": ("int16_t", -32768, 32767),
           "int32": ("int", -2**31, 2**31 - 1), "float16": ("c10::Half", -65504.0, 65504.0)}


def _clamp_shape(avals, attrs):
    x = avals[0]
    if x.dtype in _BOUNDS:
        name, lo, hi = _BOUNDS[x.dtype]
        for b in (attrs.get("min"), attrs.get("max")):
            if b is not None and b == b and abs(b) != float("inf") and not lo <= b <= hi:
                raise RuntimeError(f"value cannot be converted to type {name} without overflow")
    return Aval(x.shape, x.dtype)


defsig("clamp", inputs=1, attrs={"min": Attr("optfloat", None, "lower bound; none = unbounded"),
                                 "max": Attr("optfloat", None, "upper bound; none = unbounded")},
       shape=_clamp_shape, elementwise=True, doc="limit values to [min, max]; either bound may be omitted")


def _where_shape(avals, attrs):
    c, x, y = avals
    if c.dtype != "bool":
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{LEGACY_NAMES[c.dtype]}")
    return Aval(shapes.broadcast(c.shape, x.shape, y.shape), result_type(*operands((x, y))))


defsig("where", inputs=3, shape=_where_shape, elementwise=True,
       doc="x where cond, else y (cond: bool; x and y promoted)")


def _cast_shape(avals, attrs):
    # The schema's DType enum spells the names in capitals ("FLOAT64"): accept both spellings.
    if isinstance(attrs["dtype"], str) and attrs["dtype"] in (d.upper() for d in DTYPES):
        attrs["dtype"] = attrs["dtype"].lower()
    if attrs["dtype"] not in DTYPES:
        raise ValueError(f"unknown dtype '{attrs['dtype']}' (known: {', '.join(DTYPES)})")
    return Aval(avals[0].shape, attrs["dtype"])


defsig("cast", inputs=1, attrs={"dtype": Attr("string", doc="target dtype name: " + ", ".join(DTYPES) + " (or as the DType enum spells them: FLOAT64 …)")},
       shape=_cast_shape, elementwise=True, doc="convert to another dtype; gradients flow between float types only")
def _with_value_shape(avals, attrs):
    history, value = avals
    if history.shape != value.shape or history.dtype != value.dtype:
        raise ValueError(f"the value ({value.dtype}{list(value.shape)}) must have the shape and dtype of the "
                         f"history input ({history.dtype}{list(history.shape)})")
    return Aval(history.shape, history.dtype)


defsig("with_value", inputs=2, shape=_with_value_shape,
       doc="input 1's value with input 0's gradient path: a write autograd does not record (PyTorch's in-place "
           "update under no_grad or through .data, into a tensor that keeps its grad_fn)")
defsig("zeros_like", inputs=1, shape=_same_shape, shape_only=True, doc="zeros of x's shape and dtype")
defsig("ones_like", inputs=1, shape=_same_shape, shape_only=True, doc="ones of x's shape and dtype")


def _lerp_shape(avals, attrs):
    start, end, weight = avals
    for name, a in (("end", end), ("weight", weight)):
        if a.dtype != start.dtype and not (name == "weight" and a.ndim == 0):
            raise RuntimeError(f"expected dtype {LEGACY_NAMES[start.dtype].lower()} for `{name}` but got dtype "
                               f"{LEGACY_NAMES[a.dtype].lower()}")
    dt = result_type(*operands(avals))        # a 0-d weight promotes: lerp(int, int, tensor(0.5)) is float
    if not is_float(dt):
        raise not_implemented("lerp_kernel_scalar" if weight.ndim == 0 else "lerp_kernel_tensor", dt)
    return Aval(shapes.broadcast(start.shape, end.shape, weight.shape), dt)


defsig("lerp", inputs=3, shape=_lerp_shape, elementwise=True,
       doc="start + weight * (end - start), as PyTorch computes it (from end when weight >= 0.5); a composite row")
