"""What client and server share: dtype rules, shape arithmetic, every op's signature, and the wire codec."""
from . import (dtype_ops, elementwise, indexing, linalg, pointwise, rearranging, reductions, sorting,  # noqa: F401
               structural)  # (each registers its signatures)
from . import nn  # noqa: F401,E402  (the primitives behind gradwire.nn.functional)
from . import conv  # noqa: F401,E402  (convolution and pooling primitives)
from .signature import SIGNATURES, Attr, Aval, Signature, defsig


def _constant_shape(avals, attrs):
    v = attrs["value"]
    return Aval(tuple(int(d) for d in v.shape), v.dtype.name)


defsig("placeholder", inputs=0, attrs={"name": Attr("string", doc="the input's name in the request")},
       shape=None, doc="a named input, fed by value in each request")
defsig("constant", inputs=0, attrs={"value": Attr("tensor", doc="the inline tensor")},
       shape=_constant_shape, doc="an inline tensor")

__all__ = ["SIGNATURES", "Attr", "Aval", "Signature"]
