"""Declarations of PyTorch's elementwise arithmetic (torch.f, Tensor.f, Tensor.f_) over the engine's elementwise
ops: add/sub/mul/div/pow and their spellings, comparisons, logical and bitwise ops, clamp, where. The math
functions (asin, floor, fmod …) are in api_pointwise.py."""
from __future__ import annotations

import numpy as np

from gradwire import dtypes
from gradwire.core.dtypes import INTS, LEGACY_NAMES, is_float, result_type
from gradwire.core.elementwise import not_implemented, sub_check
from gradwire.declare import autograd, binary, declare, unary
from gradwire.ops import _is_scalar, _operand, apply, cast, leaf_from_data, session_of
from gradwire.tensor import Tensor

# name          grad_fn                   what the backward node saves
unary("neg",     grad_fn="NegBackward0",     saves=None, aliases=("negative",))
unary("exp",     grad_fn="ExpBackward0",     saves=None, saves_output=True)
unary("log",     grad_fn="LogBackward0")
unary("sin",     grad_fn="SinBackward0")
unary("cos",     grad_fn="CosBackward0")
unary("tan",     grad_fn="TanBackward0",     saves=None, saves_output=True)
unary("tanh",    grad_fn="TanhBackward0",    saves=None, saves_output=True)
unary("sigmoid", grad_fn="SigmoidBackward0", saves=None, saves_output=True)
unary("relu",    grad_fn="ReluBackward0",    saves=None, saves_output=True)
unary("sqrt",    grad_fn="SqrtBackward0",    saves=None, saves_output=True)
unary("abs",     grad_fn="AbsBackward0",     aliases=("absolute",))
unary("square",  grad_fn="PowBackward0")
unary("sign",    grad_fn="SignBackward0",    saves=None)

binary("hypot",  grad_fn="HypotBackward0",   saves="all", saves_output=True, tensor_other=True)
binary("maximum", grad_fn="MaximumBackward0", tensor_other=True, inplace=False)
binary("minimum", grad_fn="MinimumBackward0", tensor_other=True, inplace=False)


def _scaled(input, other, alpha):
    """other * alpha, refused as PyTorch refuses a float alpha for integer tensors."""
    if isinstance(alpha, bool) and not all(_operand(a)[0] == "bool" for a in (input, other)):
        raise RuntimeError("Boolean alpha only supported for Boolean results.")
    if alpha == 1 and not isinstance(alpha, bool):
        return other
    if isinstance(alpha, float) and not any(is_float(_operand(a)[0]) for a in (input, other)):
        raise RuntimeError("For integral input tensors, argument alpha must not be a floating point number.")
    if isinstance(other, Tensor):
        return apply("mul", other, alpha)
    return other * alpha


@declare(inplace=True, tensors=())
def add(input, other, *, alpha=1):
    """input + alpha * other."""
    return apply("add", input, _scaled(input, other, alpha))


@declare(inplace=True, tensors=(), aliases=("subtract",))
def sub(input, other, *, alpha=1):
    """input - alpha * other."""
    sub_check([_operand(a)[0] for a in (input, other)])
    return apply("sub", input, _scaled(input, other, alpha))


@declare(method=False, tensors=("input",))
def rsub(input, other, *, alpha=1):
    """other - alpha * input."""
    sub_check([_operand(a)[0] for a in (input, other)])
    return apply("sub", other, _scaled(other, input, alpha), label="RsubBackward1")


@declare(inplace=True, tensors=(), aliases=("multiply",))
def mul(input, other):
    """input * other."""
    return apply("mul", input, other)


autograd("div_rounded", "DivBackward2")


@declare(inplace=True, tensors=(), aliases=("divide",))
def div(input, other, *, rounding_mode=None):
    """input / other: true division (a float result), or rounded: "trunc" (toward zero) or "floor" in the
    promoted type; integer division by zero raises (as PyTorch, at the request computing it)."""
    if rounding_mode is None:
        return apply("div", input, other)
    return apply("div_rounded", input, other, attrs={"mode": rounding_mode})


@declare(inplace=True, tensors=())
def true_divide(input, other):
    """input / other, a float result."""
    return apply("div", input, other)


@declare(inplace=True, tensors=())
def floor_divide(input, other):
    """input // other, rounded toward -inf in the promoted type (gradient zero; PyTorch has none)."""
    return apply("div_rounded", input, other, attrs={"mode": "floor"})


@declare(inplace=True, tensors=())
def pow(input, exponent):
    """input ** exponent; for a number exponent the engine's pow_scalar (exact squares, no log)."""
    if isinstance(input, Tensor) and _is_scalar(exponent):
        integral = input._node.dtype in INTS + ("bool",)
        if integral and isinstance(exponent, (float, np.floating)):
            input = cast(input, dtypes.DEFAULT_FLOAT)       # int tensor ** 2.0 is float, as result_type says
        elif integral and not isinstance(exponent, (bool, np.bool_)) and exponent < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        return apply("pow_scalar", input, attrs={"exponent": float(exponent)})
    return apply("pow", input, exponent, label=None if isinstance(input, Tensor) else "PowBackward2")


@declare(inplace=True, tensors=())
def float_power(input, exponent):
    """input ** exponent computed in float64 (the result is float64 whatever the inputs)."""
    if isinstance(input, Tensor) and _is_scalar(exponent):
        return apply("pow_scalar", cast(input, dtypes.float64), attrs={"exponent": float(exponent)})
    wide = [cast(a, dtypes.float64) if isinstance(a, Tensor) else float(a) for a in (input, exponent)]
    if not isinstance(input, Tensor):
        wide[0] = leaf_from_data(session_of(wide), np.float64(input))
        return apply("pow", *wide, label="PowBackward2")
    return apply("pow", *wide)


def _float_power_(self, exponent):
    if self._node.dtype != "float64":
        raise RuntimeError(f"the base given to float_power_ has dtype {LEGACY_NAMES[self._node.dtype]} but the "
                           "operation's result requires dtype Double")
    return self._in_place(float_power, exponent)


Tensor.float_power_ = _float_power_     # install() keeps a method Tensor defines itself


@declare(inplace=True, aliases=("clip",))
def clamp(input, min=None, max=None):
    """Values limited to [min, max] (numbers or tensors); either bound may be omitted; where min > max all
    values become max, as in PyTorch."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        if min is None or max is None:
            return apply("clamp_min" if max is None else "clamp_max", input, max if min is None else min,
                         label="ClampBackward0")
        return apply("clamp_tensors", input, min, max, label="ClampBackward0")
    return _clamp_numbers(input, min, max)


def _clamp_numbers(input, min, max, label=None):
    dt = result_type(*(_operand(a) for a in (input, min, max) if a is not None))
    if dt == "bool":
        kernel = "clamp_min_scalar_cpu" if max is None else "clamp_max_scalar_cpu" if min is None else "clamp_scalar_cpu"
        raise not_implemented(kernel, dt)
    if dt != input._node.dtype:
        input = cast(input, dt)           # clamp(int tensor, 0.5) is float, as result_type says
    return apply("clamp", input, attrs={"min": None if min is None else float(min),
                                        "max": None if max is None else float(max)}, label=label)


autograd("clamp_min", "ClampMinBackward1", saves="all")
autograd("clamp_max", "ClampMaxBackward1", saves="all")


@declare(inplace=True)
def clamp_min(input, min):
    """max(input, min); min a number or a tensor."""
    if isinstance(min, Tensor):
        return apply("clamp_min", input, min)
    return _clamp_numbers(input, min, None, "ClampMinBackward0")


@declare(inplace=True)
def clamp_max(input, max):
    """min(input, max); max a number or a tensor."""
    if isinstance(max, Tensor):
        return apply("clamp_max", input, max)
    return _clamp_numbers(input, None, max, "ClampMaxBackward0")


@declare(method=False, tensors=("condition",))
def where(condition, input=None, other=None):
    """input where condition, else other (numbers or tensors, promoted); where(condition) alone is
    condition.nonzero(as_tuple=True): its value decides the shape (one request)."""
    if input is None and other is None:
        from gradwire.api_masked import nonzero
        return nonzero(condition, as_tuple=True)
    return apply("where", condition, input, other, ref_args=(input, other))


# Comparisons: bool results, no grad_fn.
for _name, _aliases in (("eq", ()), ("ne", ("not_equal",)), ("lt", ("less",)), ("le", ("less_equal",)),
                        ("gt", ("greater",)), ("ge", ("greater_equal",))):
    globals()[_name] = binary(_name, saves=None, history=False, aliases=_aliases,
                              doc=f"Elementwise {_name} (a bool result), as torch.{_name}.")
for _name in ("logical_and", "logical_or", "logical_xor"):
    binary(_name, saves=None, history=False, tensor_other=True, doc=f"Elementwise {_name} (nonzero is true), as "
           f"torch.{_name}.")
unary("logical_not", saves=None, history=False, doc="Elementwise logical not (nonzero is true), as torch.logical_not.")

# Bitwise: ints and bools (on bools the logical op); shifts wrap around, as PyTorch's.
def _bitwise(op: str):
    """torch.op(input, other): numbers allowed on either side (bitwise_and(5, x)), unlike binary()'s."""
    autograd(op, history=False)

    def fn(input, other):
        return apply(op, input, other)
    fn.__name__ = op
    return declare(op, inplace=True, tensors=(), doc=f"Elementwise {op}, as torch.{op}.")(fn)


bitwise_and, bitwise_or, bitwise_xor = _bitwise("bitwise_and"), _bitwise("bitwise_or"), _bitwise("bitwise_xor")
bitwise_left_shift, bitwise_right_shift = _bitwise("bitwise_left_shift"), _bitwise("bitwise_right_shift")
bitwise_not = unary("bitwise_not", saves=None, history=False, doc="~x on ints (two's complement), not x on bools.")


@declare(inplace=True)
def lerp(input, end, weight):
    """start + weight * (end - start), as torch.lerp (weight: a tensor or a number)."""
    scalar = not isinstance(weight, Tensor)
    return apply("lerp", input, end, weight, ref_args=(input,),
                 label="LerpBackward0" if scalar else "LerpBackward1")


autograd("lerp", saves="all")
