"""Asynchronous dispatch: a session's backward() requests sent in order by one thread, while the caller goes on.

With `Session(asynchronous=True)` a `backward()` returns as soon as its request is queued: the leaves' `.grad`
become *future* nodes (shape and dtype known, value not yet) that later ops may use freely; the updates they
feed are recorded as usual and travel with the next request. One sender thread lays each request out, sends
it, and settles its futures before it starts the next one, so a request never names a value the server has
not computed yet, and the client's graph building for step k+1 overlaps the server's work on step k.

Anything else that talks to the server (a read such as `item()` or `numpy()`, `autograd.grad`, Jacobians) is
a synchronisation point: it first waits for the queued requests. A queued request that fails makes the next
synchronisation point (or the next backward()) raise that error, of the same class, naming the line of the
backward() call it came from; the requests queued behind it are dropped, and their futures raise the same
error whenever they are used.
"""
from __future__ import annotations

import copy
import os
import threading
from collections import deque

from gradwire._user_frame import user_frame

# Requests queued at most (one in flight, one waiting): a loop that reads nothing stays at most this far ahead,
# so its graphs, and the values they hold, do not pile up.
MAX_QUEUED = 2


def call_site() -> str:
    """`file:line in function` of the innermost frame outside gradwire (the user's backward() call)."""
    frame = user_frame()
    if frame is None:
        return "an unknown place"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


def _blamed(error: BaseException, site: str) -> BaseException:
    """The error again (same class and attributes), its message naming the call it came from."""
    text = f"{getattr(error, 'message', None) or error} (from backward() at {site}, dispatched asynchronously)"
    try:
        out = copy.copy(error)
        out.args = (text,)
        if hasattr(out, "message"):
            out.message = text
    except Exception:       # noqa: BLE001  (an exception class that does not copy: keep the original)
        return error
    out.__cause__ = error
    return out


class Future:
    """What a queued request's result nodes wait on: its error, once it failed."""
    __slots__ = ("error",)

    def __init__(self):
        self.error: BaseException | None = None


class Pipeline:
    def __init__(self):
        self._jobs: deque = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._error: BaseException | None = None     # raised at the next synchronisation point
        self._thread: threading.Thread | None = None
        self._ident: int | None = None
        self._pid = os.getpid()

    def on_sender(self) -> bool:
        return threading.get_ident() == self._ident

    def submit(self, run, nodes, site: str) -> Future:
        """Queue run() (a request and the settling of its results); `nodes` are the futures it settles.
        Raises the error of an earlier queued request first, if one failed."""
        self.raise_error()
        if self._pid != os.getpid():    # a forked child: the sender thread stayed in the parent
            self.__init__()
        future = Future()
        for node in nodes:
            node.future = future
        with self._cond:
            while len(self._jobs) + self._busy >= MAX_QUEUED:
                self._cond.wait()
            self._jobs.append((run, nodes, future, site))
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="gradwire-dispatch", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return future

    def drain(self) -> None:
        """Wait until every queued request is done; raise the first failure (once)."""
        if self.on_sender():
            return
        if self._pid != os.getpid():
            self.__init__()
        with self._cond:
            while self._jobs or self._busy:
                self._cond.wait()
        self.raise_error()

    def raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _serve(self) -> None:
        self._ident = threading.get_ident()
        while True:
            with self._cond:
                while not self._jobs:
                    self._cond.wait()
                run, nodes, future, site = self._jobs.popleft()
                self._busy = True
                dropped = self._error
            try:
                if dropped is not None:     # an earlier request failed: this one may need its results
                    future.error = dropped
                else:
                    run()
                    for node in nodes:
                        node.future = None
            except BaseException as e:      # noqa: BLE001  (any failure is the caller's to see)
                future.error = _blamed(e, site)
                with self._cond:
                    if self._error is None:
                        self._error = future.error
            finally:
                # A finished job's closure holds its step's graph: not past its end, so the nodes (and the
                # handles they name on the server) go now, not when the next job comes.
                run = nodes = future = None
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
