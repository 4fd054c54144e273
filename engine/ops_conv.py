"""Kernels and derivatives of convolution, unfold/fold and the max pools' argmax (signatures in gradwire.core.conv).

conv is bilinear, and its two partial transposes are conv_input_grad and conv_weight_grad; each of the three
differentiates into the other two, so every order of derivative is again these three ops:
    <conv(x, w), g> = <x, conv_input_grad(g, w)> = <w, conv_weight_grad(x, g)>.
"""
from __future__ import annotations

from . import conv_kernels as K
from .registry import defop


def _geo(attrs):
    return {k: attrs[k] for k in ("stride", "pad_lo", "pad_hi", "dilation", "groups")}


def _bilinear_jvp(name):
    def rule(tangents, out, a, b, **attrs):
        ta, tb = tangents
        parts = ([ta.b.op(name, ta, b, **attrs)] if ta is not None else []) + \
                ([a.b.op(name, a, tb, **attrs)] if tb is not None else [])
        return parts[0] if len(parts) == 1 else parts[0] + parts[1]
    return rule


defop("conv", impl=K.conv,
      vjp=(lambda g, out, x, w, **a: g.conv_input_grad(w, shape=x.shape, **a),
           lambda g, out, x, w, **a: x.conv_weight_grad(g, shape=w.shape, **a)),
      jvp=_bilinear_jvp("conv"))
# conv_input_grad(g, w) = T_w^T g: its g-cotangent h goes back through conv(h, w), its w-cotangent is the
# weight gradient of conv(h, .) at output gradient g.
defop("conv_input_grad", impl=K.conv_input_grad,
      vjp=(lambda h, out, g, w, shape, **a: h.conv(w, **a),
           lambda h, out, g, w, shape, **a: h.conv_weight_grad(g, shape=w.shape, **a)),
      jvp=_bilinear_jvp("conv_input_grad"))
defop("conv_weight_grad", impl=K.conv_weight_grad,
      vjp=(lambda h, out, x, g, shape, **a: g.conv_input_grad(h, shape=x.shape, **a),
           lambda h, out, x, g, shape, **a: x.conv(h, **a)),
      jvp=_bilinear_jvp("conv_weight_grad"))

defop("im2col", impl=K.unfold,
      vjp=(lambda g, out, x, **a: g.col2im(shape=x.shape[2:], **a),),
      jvp=lambda ts, out, x, **a: ts[0].im2col(**a))
defop("col2im", impl=K.fold,
      vjp=(lambda g, out, c, shape, **a: g.im2col(**a),),
      jvp=lambda ts, out, c, shape, **a: ts[0].col2im(shape=shape, **a))

defop("max_pool_indices", impl=K.max_pool_indices, vjp=(None,))
defop("adaptive_max_pool_indices", impl=K.adaptive_max_pool_indices, vjp=(None,))
