"""Resident values: a bounded, thread-safe LRU of tensors per caller, addressed by content hash."""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np


class ValueStore:
    """Tensors kept for later requests of the caller that sent or computed them. Keys are (principal,
    hash): the same content held for two callers is two entries, so a hash never reveals another
    caller's value. Bounded by bytes; the least recently used values go first."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._values: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = self.evictions = self.releases = 0
        self._lock = threading.Lock()

    def get(self, principal: str, h: str) -> np.ndarray | None:
        with self._lock:
            value = self._values.get((principal, h))
            if value is None:
                self.misses += 1
                return None
            self._values.move_to_end((principal, h))
            self.hits += 1
            return value

    def put(self, principal: str, h: str, value: np.ndarray) -> bool:
        """Keep value (read-only); False when it is larger than the whole store."""
        if value.nbytes > self.max_bytes:
            return False
        if value.flags.writeable:
            value = value.view()
            value.flags.writeable = False
        with self._lock:
            old = self._values.pop((principal, h), None)
            if old is not None:
                self.bytes -= old.nbytes
            self._values[(principal, h)] = value
            self.bytes += value.nbytes
            while self.bytes > self.max_bytes:
                _, evicted = self._values.popitem(last=False)
                self.bytes -= evicted.nbytes
                self.evictions += 1
        return True

    def release(self, principal: str, handles) -> None:
        """Drop the caller's values under `handles` (those it holds; the rest are ignored)."""
        with self._lock:
            for h in handles:
                old = self._values.pop((principal, h), None)
                if old is not None:
                    self.bytes -= old.nbytes
                    self.releases += 1

    def __len__(self) -> int:
        return len(self._values)
