"""gradwire: automatic differentiation as a network service, with a PyTorch-style client."""
from __future__ import annotations

import math as _math
import sys as _sys

from gradwire import autograd as _autograd
from gradwire import factories as _factories
from gradwire import ops as _ops
from gradwire._grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from gradwire.dtypes import DType, bool_ as bool, float32, float64, int32, int64  # noqa: A001
from gradwire.errors import (Cancelled, DeadlineExceeded, FailedPrecondition, GradwireError,
                             Internal, InvalidArgument, NotFound, PermissionDenied,
                             ResourceExhausted, Unauthenticated, Unavailable, Unimplemented)
from gradwire.session import Session, bind_method as _bind_method, default_session
from gradwire.tensor import GradFn, Size, Tensor

pi = _math.pi
e = _math.e
float = float32       # noqa: A001  (torch.float / torch.double / torch.long aliases)
double = float64
long = int64


def connect(target: str | None = None, *, token: str | None = None, tls=None,
            timeout: float | None = None, interceptors=(), resident: bool = True,
            shared_memory: bool | None = None) -> Session:
    """Open a session: to `target`, else $GRADWIRE_TARGET, else an embedded local server.
    resident: let the server keep values for this session's later requests (sent by handle).
    shared_memory: with a server on this host, move tensors of 1 MiB or more through shared-memory
    regions (default: on unless GRADWIRE_SHM=0; negotiated on the first request, bytes otherwise)."""
    return Session(target, token=token, tls=tls, timeout=timeout, interceptors=interceptors,
                   resident=resident, shared_memory=shared_memory)


manual_seed = _factories.manual_seed

_FACTORIES = ("tensor", "from_numpy", "arange", "zeros", "ones", "zeros_like", "ones_like", "full",
              "full_like", "randn", "rand", "linspace", "eye")
# Functions not yet moved to declarations (client/api_*.py), one tuple per family.
_ELEMENTWISE = ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "clamp", "where")
_SHAPE = ("cat", "stack", "reshape", "permute", "transpose", "unsqueeze", "squeeze", "flatten", "select", "narrow",
          "unbind", "split", "chunk", "diagonal", "swapaxes", "swapdims")
_FUNCTIONS = _ELEMENTWISE + _SHAPE
_AUTOGRAD = ("grad", "vjp", "jvp", "jacobian", "hessian")

for _name in _FACTORIES:
    globals()[_name] = getattr(_factories, _name)
for _name in _FUNCTIONS:
    globals()[_name] = getattr(_ops, _name)
for _name in _AUTOGRAD:
    globals()[_name] = getattr(_autograd, _name)
for _name in _FACTORIES + _FUNCTIONS + _AUTOGRAD:
    setattr(Session, _name, _bind_method(globals()[_name]))
del _name
# The declared names (gradwire/api_*.py): torch.f, Tensor.f, Tensor.f_ and aliases, one declaration each.
from gradwire import api_creation, api_elementwise, api_linalg, api_reductions, api_shape  # noqa: E402,F401
from gradwire import declare as _declare  # noqa: E402
_DECLARED = _declare.install(_sys.modules[__name__], Tensor, Session, _bind_method)
from gradwire import nn, optim  # noqa: E402  (torch.nn and torch.optim; they build on the names above)
from gradwire.serialization import load, save  # noqa: E402
# Constants and dtypes on a session too, so `with gw.connect() as torch:` reads like PyTorch.
for _name in ("pi", "e", "float32", "float64", "int32", "int64", "bool", "no_grad", "enable_grad", "set_grad_enabled",
              "nn", "optim"):
    setattr(Session, _name, globals()[_name])
del _name

__all__ = ["nn", "optim", "save", "load", "connect", "Session", "Tensor", "Size", "GradFn", "DType", "no_grad",
           "is_grad_enabled", "enable_grad", "set_grad_enabled", "manual_seed", "default_session", "pi", "e",
           "float32", "float64", "int32", "int64", "bool", "GradwireError", "InvalidArgument",
           "NotFound", "ResourceExhausted", "Unauthenticated", "PermissionDenied",
           "DeadlineExceeded", "Cancelled", "Unavailable", "Unimplemented", "FailedPrecondition",
           "Internal", *_FACTORIES, *_FUNCTIONS, *_AUTOGRAD, *_DECLARED]
