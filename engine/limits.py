"""Size limits, on by default: every request is sized before it runs."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_nodes: int = 100_000
    max_tensor_elements: int = 2**27          # one input or constant (512 MiB of float32)
    max_intermediate_elements: int = 2**27    # any node's value, after broadcasting
    max_total_elements: int = 2**29           # computed values alive at once (buffers die after last use)
    jacobian_memory_bytes: int = 256 * 2**20  # a Jacobian/Hessian result and its working chunk
    max_check_elements: int = 100_000         # elements perturbed by one finite-difference check

    def __hash__(self) -> int:
        # Limits are part of every plan-cache key; hash the fields once, not on every lookup.
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash(tuple(getattr(self, f) for f in self.__dataclass_fields__))
            object.__setattr__(self, "_hash", h)
        return h
