"""Bounded, thread-safe LRU cache of parsed graph parts, addressed by a content hash."""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

from gradwire.core.hashing import part_hash
from gradwire.engine import Graph
from gradwire.v1 import gradwire_pb2 as pb


def serialized_digest(part: pb.Graph) -> bytes:
    """A fast, local key for a part's bytes (protobuf's serializer is C; the canonical hash is Python): the
    cache maps it to the canonical hash so that a part seen before is not canonically hashed again."""
    return hashlib.sha256(part.SerializeToString(deterministic=True)).digest()


def content_hash(part_hashes) -> str:
    """The engine's graph hash for a graph made of these parts, in order: the part hashes already
    identify the content, so the engine need not hash every node again."""
    return hashlib.sha256("\n".join(part_hashes).encode()).hexdigest()


@dataclass(frozen=True)
class Part:
    nodes: tuple          # engine Nodes, input ids global as sent
    nbytes: int           # encoded size, charged against the cache and request budgets
    graph: Graph          # the part as a whole graph (most requests have one part): built once


class PartCache:
    def __init__(self, max_entries: int, max_bytes: int):
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._parts: OrderedDict[str, Part] = OrderedDict()
        self._aliases: OrderedDict[bytes, str] = OrderedDict()   # serialized digest -> canonical hash
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def hash_of(self, part: pb.Graph) -> str:
        """The part's canonical hash (gradwire.core.hashing.part_hash), remembered by its serialized bytes."""
        digest = serialized_digest(part)
        with self._lock:
            key = self._aliases.get(digest)
            if key is not None:
                self._aliases.move_to_end(digest)
                return key
        key = part_hash(part)
        with self._lock:
            self._aliases[digest] = key
            while len(self._aliases) > 2 * self._max_entries:
                self._aliases.popitem(last=False)
        return key

    def get(self, key: str, *, count: bool = True) -> Part | None:
        """The part stored under `key`; `count` records the lookup as a by-hash hit or miss."""
        with self._lock:
            part = self._parts.get(key)
            if part is not None:
                self._parts.move_to_end(key)
            if count:
                self.hits += part is not None
                self.misses += part is None
            return part

    def put(self, key: str, part: Part) -> None:
        if part.nbytes > self._max_bytes:
            return  # would evict everything else and still not fit
        with self._lock:
            old = self._parts.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._parts[key] = part
            self._bytes += part.nbytes
            while len(self._parts) > self._max_entries or self._bytes > self._max_bytes:
                _, evicted = self._parts.popitem(last=False)
                self._bytes -= evicted.nbytes

    def __len__(self) -> int:
        return len(self._parts)
