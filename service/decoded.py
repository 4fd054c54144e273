"""Identical small requests decoded once: the parsed message by its bytes, and that message's feeds and graph key."""
from __future__ import annotations

import threading

from gradwire.core.hashing import MIN_RESIDENT_BYTES


class DecodedRequests:
    """A client repeating a request (a training step by part hash, the same probe) sends the same bytes
    each time: `parse` hands back the message parsed the first time, and `get` what `remember` stored for
    it (the servicer's decode of it). Only what does not depend on the caller or on server state may be
    remembered: the servicer stores feeds sent by bytes and the graph's part key, never resolved handles
    or shared-memory regions, and looks the part up again on every hit (so eviction and NOT_FOUND behave
    as without the memo). Requests of at most MIN_RESIDENT_BYTES are remembered: none of their tensors
    is large enough to be kept resident, so decoding them has no side effect to repeat. Messages are
    shared between calls and must not be modified (no handler does)."""

    def __init__(self, max_entries: int = 256, max_bytes: int = MIN_RESIDENT_BYTES):
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._messages: dict[tuple, object] = {}      # (message class, bytes) -> message
        self._entries: dict[int, list] = {}           # id(message) -> [message, its key, decode or None]
        self._lock = threading.Lock()

    def parse(self, message_class, data: bytes):
        """The message `data` encodes (raises DecodeError as FromString does)."""
        if len(data) > self.max_bytes:
            return message_class.FromString(data)
        key = (message_class, data)
        message = self._messages.get(key)
        if message is None:
            message = message_class.FromString(data)
            with self._lock:
                if key in self._messages:
                    return self._messages[key]
                if len(self._messages) >= self.max_entries:   # oldest first: a plain dict keeps insertion order
                    old = self._messages.pop(next(iter(self._messages)))
                    del self._entries[id(old)]
                self._messages[key] = message
                self._entries[id(message)] = [message, key, None]
        return message

    def get(self, message):
        """What was remembered for this very message object, or None."""
        entry = self._entries.get(id(message))
        # The entry holds the message, so its id cannot be reused while the entry exists.
        return entry[2] if entry is not None and entry[0] is message else None

    def remember(self, message, decode) -> None:
        """Store `decode` for a message `parse` handed out and still holds (others are not kept)."""
        entry = self._entries.get(id(message))
        if entry is not None and entry[0] is message:
            entry[2] = decode

    def __len__(self) -> int:
        return len(self._messages)
