"""Running engine tests on either tier: interpreted plans, or every plan compiled (tape segments) as it is built."""
from __future__ import annotations

import contextlib

from gradwire.engine import compiled
from gradwire.engine.api import CACHE

TIERS = ("interpreted", "compiled")


@contextlib.contextmanager
def tier(name: str):
    """Within: plans built (or hit) are compiled in the caller's thread before they run, when name is
    "compiled"; the plan cache is emptied on entry and exit so neither tier sees the other's plans."""
    CACHE.clear()
    before = compiled.synchronous
    compiled.synchronous = name == "compiled"
    try:
        yield
    finally:
        compiled.synchronous = before
        CACHE.clear()
