"""torch.nn.parameter's place: `gw.nn.parameter.Parameter` (the class lives in module.py, with Module)."""
from .module import Parameter

__all__ = ["Parameter"]
