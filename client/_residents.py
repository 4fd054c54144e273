"""Which resident values a session still names, so the server can drop the ones it no longer does.

A resident value is held on the server under its content hash for as long as some node of this session
names that hash (node.resident). Two nodes of equal content share one hash, so handles are counted. When
the last node naming a hash is gone, the hash travels in the next request's Options.release and the server
frees the value, instead of keeping every old parameter and gradient of a training loop until its store's
LRU bound pushes them out.

Nodes die in the garbage collector, which may run in the middle of any bytecode of any thread: a dying
node only appends its hash to a deque (atomic, no lock); the counts are brought up to date under a lock,
by normal code, when a request is built.
"""
from __future__ import annotations

import collections
import itertools
import threading

# Handles released per request at most (each costs ~70 bytes of message); the rest go with the next one.
MAX_RELEASE = 4096


class Residents:
    def __init__(self, held: dict):
        self._count: dict[str, int] = {}
        self._gone: dict[str, None] = {}     # hashes no node names any more, not yet released (in order)
        self._dead: collections.deque[str] = collections.deque()
        self._held = held                    # the session's hashes of client data the server holds
        self._lock = threading.Lock()

    def ref(self, h: str) -> None:
        """A node names h now."""
        with self._lock:
            self._count[h] = self._count.get(h, 0) + 1
            self._gone.pop(h, None)

    def unref(self, h: str) -> None:
        """A node no longer names h (it died, or names another hash). Safe from a finalizer."""
        self._dead.append(h)

    def releasable(self) -> list[str]:
        """The hashes to release with the request being sent (settle the dead nodes first)."""
        with self._lock:
            while self._dead:
                h = self._dead.popleft()
                n = self._count.get(h, 0) - 1
                if n > 0:
                    self._count[h] = n
                    continue
                self._count.pop(h, None)
                self._gone[h] = None
                self._held.pop(h, None)      # not to be named optimistically by a later request
            return list(itertools.islice(self._gone, MAX_RELEASE))

    def released(self, handles) -> None:
        """The server has taken the release of `handles` (a hash named again since stays counted)."""
        with self._lock:
            for h in handles:
                if h not in self._count:
                    self._gone.pop(h, None)

    def everything(self) -> list[str]:
        """Every hash this session has named and not released (the session is closing)."""
        with self._lock:
            self._dead.clear()
            out = list(dict.fromkeys([*self._count, *self._gone]))
            self._count.clear()
            self._gone.clear()
            return out

    def __len__(self) -> int:
        """Hashes some node names (tests)."""
        with self._lock:
            return len(self._count)
