"""Declarations of PyTorch's creation functions (torch.empty, torch.randint, ...) and dtypes conversions."""
from __future__ import annotations
