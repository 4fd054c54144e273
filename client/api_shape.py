"""Declarations of PyTorch's shape and indexing functions (torch.flip, torch.gather, ...)."""
from __future__ import annotations
