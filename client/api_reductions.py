"""Declarations of PyTorch's reductions (torch.f and Tensor.f; `axis=`/`keepdims=` accepted as PyTorch does)."""
from __future__ import annotations

from gradwire import ops
from gradwire.declare import declare

declare("sum", doc="Sum over dims (all by default), as torch.sum.")(ops.sum)
declare("mean", doc="Mean over dims, as torch.mean.")(ops.mean)
declare("prod", doc="Product over dims; exact gradients where inputs are zero, as torch.prod.")(ops.prod)
declare("amax", doc="Largest value over dims; ties share the gradient evenly, as torch.amax.")(ops.amax)
declare("amin", doc="Smallest value over dims; ties share the gradient evenly, as torch.amin.")(ops.amin)
declare("max", doc="max(x), max(x, dim) -> (values, indices), max(x, other), as torch.max.")(ops.max)
declare("min", doc="min(x), min(x, dim) -> (values, indices), min(x, other), as torch.min.")(ops.min)
declare("argmax", doc="Index of the largest value, as torch.argmax.")(ops.argmax)
declare("argmin", doc="Index of the smallest value, as torch.argmin.")(ops.argmin)
declare("var", doc="Variance with `correction` (Bessel's by default), as torch.var.")(ops.var)
declare("std", doc="Standard deviation with `correction`, as torch.std.")(ops.std)
declare("all", doc="Whether every element is true, as torch.all.")(ops.all)
declare("any", doc="Whether some element is true, as torch.any.")(ops.any)
declare("norm", doc="Vector p-norm over dims (p=2, 'fro' by default), as torch.norm.")(ops.norm)
declare("logsumexp", doc="log(sum(exp(x))) over dims, computed stably, as torch.logsumexp.")(ops.logsumexp)
declare("softmax", doc="exp(x) / sum(exp(x)) along dim, as torch.softmax.")(ops.softmax)
declare("log_softmax", doc="log(softmax(x)) along dim, computed stably, as torch.log_softmax.")(ops.log_softmax)
