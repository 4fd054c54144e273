"""Which parts of a request graph the server already holds, so they travel as hashes."""
from __future__ import annotations

import hashlib
import threading
from collections import Counter, OrderedDict


class PartCache:
    """Maps (offset, digest of a run of serialized nodes) -> the server's hash for that part.

    Node ids are global over a request, so a part is only reused at the offset it was first
    sent at. Requests are split greedily: the longest run from the current offset that was
    sent before goes by hash; the rest is one new part (learned from the response).
    """

    def __init__(self, capacity: int = 4096):
        self._capacity = capacity
        # (offset, digest) -> (server hash, part length)
        self._hashes: OrderedDict[tuple[int, str], tuple[str, int]] = OrderedDict()
        self._lengths: dict[int, Counter] = {}   # offset -> lengths of parts held there
        self._lock = threading.Lock()

    def split(self, framed: list[bytes]) -> list[tuple[int, int, str, str | None]]:
        """[(start, stop, digest, server hash or None)] covering the nodes in order. framed: each node's
        bytes as a Graph.nodes element (tag, length, serialized node), so a run of them joined is that
        part's serialized graph; the digest is SHA-256 of the start offset and those bytes."""
        parts, start, n = [], 0, len(framed)
        while start < n:
            with self._lock:
                lengths = sorted(self._lengths.get(start, ()), reverse=True)
            prefix = start.to_bytes(8, "little")
            best = None
            for length in lengths:             # longest first: the first part the server holds wins
                if start + length > n:
                    continue
                digest = hashlib.sha256(prefix + b"".join(framed[start:start + length])).hexdigest()
                with self._lock:
                    entry = self._hashes.get((start, digest))
                if entry is not None:
                    best = (start, start + length, digest, entry[0])
                    break
            if best is None:
                digest = hashlib.sha256(prefix + b"".join(framed[start:])).hexdigest()
                parts.append((start, n, digest, None))
                break
            parts.append(best)
            start = best[1]
        return parts

    def learn(self, parts, server_hashes) -> None:
        with self._lock:
            for (start, stop, digest, _), server_hash in zip(parts, server_hashes):
                if not server_hash:
                    continue
                if (start, digest) not in self._hashes:
                    self._lengths.setdefault(start, Counter())[stop - start] += 1
                self._hashes[(start, digest)] = (server_hash, stop - start)
                self._hashes.move_to_end((start, digest))
            while len(self._hashes) > self._capacity:
                (start, _), (_, length) = self._hashes.popitem(last=False)
                self._drop_length(start, length)

    def forget(self, parts) -> None:
        """Drop parts a server did not know (NOT_FOUND): they are resent in full."""
        with self._lock:
            for start, stop, digest, server_hash in parts:
                if server_hash is not None and self._hashes.pop((start, digest), None):
                    self._drop_length(start, stop - start)

    def _drop_length(self, start: int, length: int) -> None:
        counts = self._lengths[start]
        counts[length] -= 1
        if counts[length] <= 0:
            del counts[length]
        if not counts:
            del self._lengths[start]

    def clear(self) -> None:
        with self._lock:
            self._hashes.clear()
            self._lengths.clear()
