"""Signatures of rearrangements (flip, roll, tril/triu, repeat, diag_embed, unfold)."""
from __future__ import annotations

from . import shapes
from .signature import Attr, Aval, defsig


# flip, roll ------------------------------------------------------------------------------------
def _flip_shape(avals, attrs):
    (x,) = avals
    attrs["dims"] = shapes.axes(attrs["dims"], x.ndim)
    return Aval(x.shape, x.dtype)


defsig("flip", inputs=1, attrs={"dims": Attr("axes", doc="the dims reversed (none repeated)")}, shape=_flip_shape,
       doc="reverse the order of elements along dims (a copy, as torch.flip)")


def _roll_shape(avals, attrs):
    (x,) = avals
    shifts, dims = tuple(attrs["shifts"]), tuple(attrs["dims"])
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    attrs["dims"] = tuple(shapes.axis(d, x.ndim) for d in dims)
    return Aval(x.shape, x.dtype)


defsig("roll", inputs=1, attrs={"shifts": Attr("ints", doc="shift per dim (elements leaving one end enter at "
                                                           "the other)"),
                                "dims": Attr("ints", doc="the dims rolled, one per shift (may repeat)")},
       shape=_roll_shape, doc="roll elements along dims (numpy.roll with explicit dims)")


# tril, triu ------------------------------------------------------------------------------------
def _triangle(name):
    def rule(avals, attrs):
        (x,) = avals
        if x.ndim < 2:
            raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions")
        return Aval(x.shape, x.dtype)
    return rule


for _name, _where in (("tril", "on and below"), ("triu", "on and above")):
    defsig(_name, inputs=1, attrs={"diagonal": Attr("int", 0, "0: the main diagonal; > 0 above it; < 0 below")},
           shape=_triangle(_name), doc=f"the last two dims' elements {_where} the diagonal, zeros elsewhere")


# repeat ----------------------------------------------------------------------------------------
def _repeat_shape(avals, attrs):
    (x,) = avals
    reps = tuple(attrs["repeats"])
    if len(reps) < x.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of "
                           "tensor")
    shape = (1,) * (len(reps) - x.ndim) + x.shape
    out = tuple(r * d for r, d in zip(reps, shape))
    for d in out:
        if d < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {d}: {list(out)}")
    return Aval(out, x.dtype)


defsig("repeat", inputs=1, attrs={"repeats": Attr("ints", doc="copies per dim (at least x's rank; leading ones "
                                                              "add dims)")},
       shape=_repeat_shape, doc="tile x (torch.Tensor.repeat, numpy.tile)")


# diag_embed ------------------------------------------------------------------------------------
def diag_embed_shape(shape, offset, dim1, dim2):
    nd = len(shape) + 1
    a1, a2 = shapes.axis(dim1, nd), shapes.axis(dim2, nd)
    if a1 == a2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    n = (shape[-1] if shape else 1) + abs(offset)
    rest = list(shape[:-1])
    out = []
    for k in range(nd):
        out.append(n if k in (a1, a2) else rest.pop(0))
    return tuple(out), a1, a2


def _diag_embed_shape(avals, attrs):
    (x,) = avals
    if x.ndim == 0:
        shapes.axis(attrs["dim1"], 1), shapes.axis(attrs["dim2"], 1)     # both name dim 0 of a 1-d result
        raise RuntimeError(f"diagonal dimensions cannot be identical {attrs['dim1']}, {attrs['dim2']}")
    out, attrs["dim1"], attrs["dim2"] = diag_embed_shape(x.shape, attrs["offset"], attrs["dim1"], attrs["dim2"])
    return Aval(out, x.dtype)


defsig("diag_embed", inputs=1, attrs={"offset": Attr("int", 0, "which diagonal: 0 main, > 0 above, < 0 below"),
                                      "dim1": Attr("int", -2, "first dim of the planes"),
                                      "dim2": Attr("int", -1, "second dim of the planes")},
       shape=_diag_embed_shape, doc="zeros with the last dim of x on a diagonal of the planes (dim1, dim2)")


# unfold ----------------------------------------------------------------------------------------
def _unfold_shape(avals, attrs):
    (x,) = avals
    d = attrs["dimension"] = shapes.axis(attrs["dimension"], x.ndim)
    size, step = attrs["size"], attrs["step"]
    n = x.shape[d] if x.ndim else 1
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if x.ndim == 0:
        return Aval((size,), x.dtype)
    return Aval(x.shape[:d] + ((n - size) // step + 1,) + x.shape[d + 1:] + (size,), x.dtype)


defsig("unfold", inputs=1, attrs={"dimension": Attr("int", doc="the dim windowed"),
                                  "size": Attr("int", doc="window length"), "step": Attr("int", doc="window stride")},
       shape=_unfold_shape, doc="the windows of x along a dim, as a new last dim (torch.Tensor.unfold)")
