"""Activation modules: each calls its function in gradwire.nn.functional."""
from __future__ import annotations

from . import functional as F
from .module import Module


def _activation(name: str, fn, params: tuple = (), defaults: tuple = (), repr_fmt=None):
    """A Module class whose forward is fn(input, *params)."""
    def __init__(self, *args, **kwargs):
        Module.__init__(self)
        values = dict(zip(params, defaults))
        values.update(zip(params, args))
        for k, v in kwargs.items():
            if k not in params:
                raise TypeError(f"{name}.__init__() got an unexpected keyword argument '{k}'")
            values[k] = v
        for k in params:
            setattr(self, k, values[k])

    def forward(self, input):
        return fn(input, *(getattr(self, k) for k in params))

    def extra_repr(self):
        if repr_fmt is not None:
            return repr_fmt(self)
        shown = [f"{k}={getattr(self, k)}" for k in params if not (k == "inplace" and not getattr(self, k))]
        return ", ".join(shown)
    return type(name, (Module,), {"__init__": __init__, "forward": forward, "extra_repr": extra_repr,
                                  "__doc__": f"As torch.nn.{name}."})


ReLU = _activation("ReLU", F.relu, ("inplace",), (False,), lambda m: "inplace=True" if m.inplace else "")
ReLU6 = _activation("ReLU6", F.relu6, ("inplace",), (False,), lambda m: "inplace=True" if m.inplace else "")
LeakyReLU = _activation("LeakyReLU", F.leaky_relu, ("negative_slope", "inplace"), (0.01, False))
ELU = _activation("ELU", F.elu, ("alpha", "inplace"), (1.0, False))
SELU = _activation("SELU", F.selu, ("inplace",), (False,), lambda m: "inplace=True" if m.inplace else "")
CELU = _activation("CELU", F.celu, ("alpha", "inplace"), (1.0, False))
GELU = _activation("GELU", F.gelu, ("approximate",), ("none",), lambda m: f"approximate='{m.approximate}'")
SiLU = _activation("SiLU", F.silu, ("inplace",), (False,), lambda m: "inplace=True" if m.inplace else "")
Mish = _activation("Mish", F.mish, ("inplace",), (False,), lambda m: "inplace=True" if m.inplace else "")
Sigmoid = _activation("Sigmoid", F.sigmoid)
Tanh = _activation("Tanh", F.tanh)
Softplus = _activation("Softplus", F.softplus, ("beta", "threshold"), (1.0, 20.0))
Softsign = _activation("Softsign", F.softsign)
Hardtanh = _activation("Hardtanh", F.hardtanh, ("min_val", "max_val", "inplace"), (-1.0, 1.0, False))
Hardsigmoid = _activation("Hardsigmoid", F.hardsigmoid, ("inplace",), (False,), lambda m: "")
Hardswish = _activation("Hardswish", F.hardswish, ("inplace",), (False,), lambda m: "")
LogSigmoid = _activation("LogSigmoid", F.logsigmoid)
Tanhshrink = _activation("Tanhshrink", F.tanhshrink)
Threshold = _activation("Threshold", F.threshold, ("threshold", "value", "inplace"), (None, None, False))
GLU = _activation("GLU", F.glu, ("dim",), (-1,))
Hardshrink = _activation("Hardshrink", F.hardshrink, ("lambd",), (0.5,), lambda m: f"{m.lambd}")
Softshrink = _activation("Softshrink", F.softshrink, ("lambd",), (0.5,), lambda m: f"{m.lambd}")


class RReLU(Module):
    """As torch.nn.RReLU: random slopes in training, their mean in eval."""

    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, inplace=False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input):
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace else "")
Softmax = _activation("Softmax", F.softmax, ("dim",), (None,))
LogSoftmax = _activation("LogSoftmax", F.log_softmax, ("dim",), (None,))
Softmin = _activation("Softmin", F.softmin, ("dim",), (None,))
