"""gradwire.cuda: torch.cuda as a CPU-only PyTorch build has it. The server computes on its CPU, so there is no CUDA
device to find, and the seeding calls scripts make for one do nothing, as there."""
from __future__ import annotations


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def manual_seed(seed) -> None:
    """Seeds CUDA's generator in PyTorch; without a CUDA device there is none (gw.manual_seed seeds the draws)."""


def manual_seed_all(seed) -> None:
    """As manual_seed, for every CUDA device: none."""
