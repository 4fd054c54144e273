"""torch.nn.parameter's place: `gw.nn.parameter.Parameter` and the lazy layers' placeholders (they live with what uses them)."""
from .lazy import UninitializedBuffer, UninitializedParameter
from .module import Parameter

__all__ = ["Parameter", "UninitializedParameter", "UninitializedBuffer"]
