"""gradwire: automatic differentiation as a network service, with a PyTorch-style client."""
from __future__ import annotations

import math as _math
import sys as _sys

from gradwire import autograd as _autograd
from gradwire import accelerator, backends, cuda  # noqa: F401
from gradwire import factories as _factories
from gradwire import errors as _errors
from gradwire import ops as _ops
from gradwire import random as _random
from gradwire._grad_mode import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled,  # noqa: F401
                                 no_grad, set_grad_enabled)
from gradwire.devices import device
from gradwire._format import set_printoptions  # noqa: F401
from gradwire.dtypes import (DType, bool_ as bool, finfo, float16, float32, float64, iinfo, int8,  # noqa: A001
                             int16, int32, int64, uint8)
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
half = float16
int = int32           # noqa: A001
short = int16


def connect(target: str | None = None, *, token: str | None = None, tls=None,
            timeout: float | None = None, interceptors=(), resident: bool = True,
            shared_memory: bool | None = None, asynchronous: bool | None = None) -> Session:
    """Open a session: to `target`, else $GRADWIRE_TARGET, else an embedded local server.
    resident: let the server keep values for this session's later requests (sent by handle).
    shared_memory: with a server on this host, move tensors of 1 MiB or more through shared-memory
    regions (default: on unless GRADWIRE_SHM=0; negotiated on the first request, bytes otherwise).
    asynchronous: backward() returns once its request is queued, and the next step is built while the
    server computes; errors surface at the next read, naming the backward() call (default: off unless
    GRADWIRE_ASYNC=1; see gradwire._pipeline)."""
    return Session(target, token=token, tls=tls, timeout=timeout, interceptors=interceptors,
                   resident=resident, shared_memory=shared_memory, asynchronous=asynchronous)


Generator, default_generator = _random.Generator, _random.default_generator

_FACTORIES = ("tensor", "as_tensor", "from_numpy", "arange", "zeros", "ones", "zeros_like", "ones_like", "full",
              "full_like", "linspace", "logspace", "eye", "empty", "empty_like", "tril_indices", "triu_indices")
# Random draws, made in the client (gradwire/random.py), and the default generator's controls.
_RANDOM = ("rand", "randn", "rand_like", "randn_like", "randint", "randint_like", "randperm", "normal",
           "manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state")
# Functions not yet moved to declarations (client/api_*.py), one tuple per family.
_FUNCTIONS = ()
_AUTOGRAD = ("grad", "vjp", "jvp", "jacobian", "hessian")

for _name in _FACTORIES:
    globals()[_name] = getattr(_factories, _name)
for _name in _RANDOM:
    globals()[_name] = getattr(_random, _name)
for _name in _FUNCTIONS:
    globals()[_name] = getattr(_ops, _name)
for _name in _AUTOGRAD:
    globals()[_name] = getattr(_autograd, _name)
for _name in _FACTORIES + _RANDOM + _FUNCTIONS + _AUTOGRAD:
    setattr(Session, _name, _bind_method(globals()[_name]))
del _name
# The declared names (gradwire/api_*.py): torch.f, Tensor.f, Tensor.f_ and aliases, one declaration each.
from gradwire import (api_creation, api_einsum, api_elementwise, api_linalg, api_linalg_decomp,  # noqa: E402,F401
                      api_linalg_extra, api_lstsq, api_pointwise, api_reductions, api_scans, api_shape, api_sorting)
from gradwire import declare as _declare  # noqa: E402
_DECLARED = _declare.install(_sys.modules[__name__], Tensor, Session, _bind_method)
linalg.LinAlgError = _errors.LinAlgError   # noqa: F821  (gradwire.linalg is made by install; torch.linalg.LinAlgError)
from gradwire import nn, optim, utils  # noqa: E402  (torch.nn, torch.optim, torch.utils.data: they build on the above)
from gradwire.serialization import load, save  # noqa: E402
from gradwire.nn.functional import hardshrink, rrelu  # noqa: E402,F401  (torch.hardshrink, torch.rrelu)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False, generator=None):
    return rrelu(input, lower, upper, training, inplace=True)


Tensor.hardshrink = lambda self, lambd=0.5: hardshrink(self, lambd)
from gradwire import distributions  # noqa: E402,F401  (torch.distributions; builds on the names above)
from gradwire.legacy import (BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor,  # noqa: E402
                             HalfTensor, IntTensor, LongTensor, ShortTensor)
# Constants and dtypes on a session too, so `with gw.connect() as torch:` reads like PyTorch.
_DTYPES = ("float16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool", "half", "float",
           "double", "short", "int", "long")
for _name in ("pi", "e", "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "finfo", "iinfo", "Generator",
              "nn", "optim", "utils", "device", "cuda", *_DTYPES):
    setattr(Session, _name, globals()[_name])
del _name

__all__ = ["nn", "optim", "utils", "cuda", "accelerator", "backends", "distributions", "save", "load", "connect", "Session", "Tensor", "Size", "GradFn", "DType",
           "device", "no_grad", "is_grad_enabled", "enable_grad", "set_grad_enabled", "inference_mode",
           "is_inference_mode_enabled", "set_printoptions", "Generator", "default_generator", "default_session",
           "pi", "e", *_DTYPES, "finfo", "iinfo", "GradwireError", "InvalidArgument",
           "NotFound", "ResourceExhausted", "Unauthenticated", "PermissionDenied",
           "DeadlineExceeded", "Cancelled", "Unavailable", "Unimplemented", "FailedPrecondition",
           "Internal", "FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor", "ShortTensor",
           "CharTensor", "ByteTensor", "BoolTensor", *_FACTORIES, *_RANDOM, *_FUNCTIONS, *_AUTOGRAD, *_DECLARED]
