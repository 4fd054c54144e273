"""gw.save and gw.load: state dicts and tensors in PyTorch's file format (through torch, when it is installed),
so checkpoints move between gradwire and PyTorch both ways."""
from __future__ import annotations

import numpy as np

from gradwire.tensor import Tensor


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("gw.save and gw.load read and write PyTorch's .pt format, which needs torch installed; "
                          "without it, save arrays with numpy.savez (t.numpy()) and load them with "
                          "module.load_state_dict({k: array})") from None
    return torch


def _convert(obj, leaf):
    if isinstance(obj, dict):
        return type(obj)((k, _convert(v, leaf)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_convert(v, leaf) for v in obj)
    return leaf(obj)


def save(obj, f) -> None:
    """Write obj (a state dict, a tensor, or nested dicts/lists of them) as torch.save does."""
    torch = _torch()
    torch.save(_convert(obj, lambda v: torch.from_numpy(np.array(v.detach().numpy())) if isinstance(v, Tensor)
                        else v), f)


def load(f, map_location=None, weights_only=True):
    """Read a file written by torch.save or gw.save; tensors come back as gradwire tensors."""
    import gradwire as gw
    torch = _torch()
    obj = torch.load(f, map_location="cpu", weights_only=weights_only)
    return _convert(obj, lambda v: gw.tensor(v.detach().cpu().numpy()) if isinstance(v, torch.Tensor) else v)
