"""Admission of computing calls: a few compute slots, a bounded FIFO queue in front, deadline-aware."""
from __future__ import annotations

import threading
import time
from collections import deque

import grpc

from .errors import RequestError

# Weight of the newest call in the running mean of a slot's hold time (the queue's service time).
_EWMA = 0.1


class _Ticket:
    """A waiter's place in line: a lock created held, released when the slot is handed over (one
    futex wake; an Event would take a Condition and two locks per hand-over)."""
    __slots__ = ("granted", "handed")

    def __init__(self):
        self.granted = False
        self.handed = threading.Lock()
        self.handed.acquire()


class Admission:
    """At most `slots` computing calls run at once; up to `queue` more wait in arrival order. A call
    is refused (RESOURCE_EXHAUSTED) only when the queue is full, or when the work queued ahead of it
    (waiting calls × mean hold time ÷ slots) would outlast its deadline. While draining, new calls get
    UNAVAILABLE (every RPC is pure, so clients retry elsewhere); queued ones still run."""

    def __init__(self, slots: int, queue: int):
        self.capacity = slots
        self.queue_capacity = queue
        self._lock = threading.Lock()
        self._waiting: deque[_Ticket] = deque()
        self.in_flight = 0          # calls holding a slot
        self.mean_hold = 0.0        # seconds, running mean over finished calls
        self.draining = False
        self.refused = {"queue_full": 0, "deadline": 0}

    @property
    def queued(self) -> int:
        return len(self._waiting)

    def acquire(self, remaining: float | None, cancelled) -> float:
        """Take a slot, waiting in line if need be; returns the seconds waited. `remaining` is the
        caller's deadline budget in seconds (None: no deadline); `cancelled()` ends a wait early."""
        with self._lock:
            if self.draining:
                raise RequestError(grpc.StatusCode.UNAVAILABLE,
                                   "the server is shutting down; retry (on another replica)")
            if self.in_flight < self.capacity and not self._waiting:
                self.in_flight += 1
                return 0.0
            ahead = len(self._waiting)
            if ahead >= self.queue_capacity:
                self.refused["queue_full"] += 1
                raise RequestError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"queue full: {self.capacity} requests are computing and {ahead} more are "
                    f"waiting (the queue holds {self.queue_capacity}); retry later")
            if remaining is not None and remaining <= 0:
                raise RequestError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                   "the deadline passed before start")
            expected = (ahead + 1) * self.mean_hold / self.capacity
            if remaining is not None and expected > remaining:
                self.refused["deadline"] += 1
                raise RequestError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"deadline cannot be met: about {expected * 1e3:.0f} ms of queued work is "
                    f"ahead of this call ({ahead} waiting for {self.capacity} slots) and its "
                    f"deadline is {remaining * 1e3:.0f} ms away")
            ticket = _Ticket()
            self._waiting.append(ticket)
        start = time.monotonic()
        while not ticket.handed.acquire(timeout=0.05 if remaining is None else max(
                min(0.05, remaining - (time.monotonic() - start)), 0.001)):
            if cancelled():
                with self._lock:
                    if not ticket.granted:
                        self._waiting.remove(ticket)
                        raise RequestError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                           f"the deadline passed (or the call was cancelled) "
                                           f"after {time.monotonic() - start:.3f} s in the queue")
                break   # granted while we looked: the slot is ours, run
        return time.monotonic() - start

    def release(self, held: float) -> None:
        """Give the slot back after holding it `held` seconds: to the first waiter, else free it."""
        with self._lock:
            self.mean_hold = held if not self.mean_hold else \
                self.mean_hold + _EWMA * (held - self.mean_hold)
            if self._waiting:
                ticket = self._waiting.popleft()
                ticket.granted = True
                ticket.handed.release()
            else:
                self.in_flight -= 1
