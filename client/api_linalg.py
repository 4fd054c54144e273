"""Declarations of PyTorch's linear algebra (torch.f, Tensor.f, torch.linalg.f)."""
from __future__ import annotations

from gradwire import ops
from gradwire.declare import declare

declare("dot", doc="Inner product of two 1-d tensors, as torch.dot.")(ops.dot)
declare("matmul", doc="Matrix product with broadcasting batch dims, as torch.matmul.")(ops.matmul)
