"""Declarations of PyTorch's elementwise functions (torch.f, Tensor.f, Tensor.f_) over the engine's elementwise ops."""
from __future__ import annotations

from gradwire.declare import autograd, binary, declare, unary
from gradwire.ops import apply
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


@declare(inplace=True)
def lerp(input, end, weight):
    """start + weight * (end - start), as torch.lerp (weight: a tensor or a number)."""
    scalar = not isinstance(weight, Tensor)
    return apply("lerp", input, end, weight, ref_args=(input,),
                 label="LerpBackward0" if scalar else "LerpBackward1")


autograd("lerp", saves="all")
