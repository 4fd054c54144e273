"""gradwire.backends: the torch.backends flags scripts read to pick a device, as a CPU-only PyTorch reports them."""
from __future__ import annotations

import types


def _absent() -> types.SimpleNamespace:
    return types.SimpleNamespace(is_available=lambda: False, is_built=lambda: False)


mps = _absent()
cuda = _absent()
cudnn = types.SimpleNamespace(is_available=lambda: False, enabled=True, benchmark=False, deterministic=False)
