"""The handler threads grpc's sync server hands each call to: started once, one queue, no per-call locks."""
from __future__ import annotations

import functools
import logging
import queue
import threading
import weakref
from concurrent import futures

log = logging.getLogger("gradwire.service")


class _Task:
    """What submit() returns: grpc only adds a done callback (to count the call finished). Callbacks
    are kept in a list and popped one by one, each by whichever thread pops it (list append and pop
    are atomic), so a callback added while the task finishes still runs exactly once."""
    __slots__ = ("fn", "args", "finished", "callbacks")

    def __init__(self, fn, args):
        self.fn, self.args, self.finished, self.callbacks = fn, args, False, []

    def add_done_callback(self, callback) -> None:
        self.callbacks.append(callback)
        if self.finished:
            self._run_callbacks()

    def _run_callbacks(self) -> None:
        callbacks = self.callbacks
        while True:
            try:
                callback = callbacks.pop()
            except IndexError:
                return
            try:
                callback(self)
            except Exception:
                log.exception("a call's done callback failed")


def _work(pool_ref, tasks: queue.SimpleQueue) -> None:
    while True:
        task = tasks.get()
        if task is None:          # the pool shut down or was dropped: pass the word on, then stop
            tasks.put(None)
            return
        try:
            task.fn(*task.args)
        except BaseException:     # grpc's own call wrappers catch and log; this is a backstop
            log.exception("a handler thread's task failed")
        task.finished = True
        task._run_callbacks()
        del task
        pool = pool_ref()
        if pool is None:
            tasks.put(None)
            return
        pool._idle_one()
        del pool


class HandlerThreads(futures.Executor):
    """Threads taking calls from one SimpleQueue. grpc's sync server submits every call to its executor
    from its single serving thread; a ThreadPoolExecutor spends, per call, a Future (a Condition and its
    lock), a work item, two locks in submit, a Semaphore (a Condition again) to find an idle thread and a
    notify_all on completion, all under the GIL that the serving thread needs for the next event. Here a
    call costs a queue put and get and an idle count under one plain lock. Threads are made on demand,
    up to `max_threads`, like ThreadPoolExecutor's, and end when the pool is shut down or dropped."""

    def __init__(self, max_threads: int, name: str = "gradwire-rpc"):
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._max, self._name = max_threads, name
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()

    def _idle_one(self) -> None:
        with self._lock:
            self._idle += 1

    def submit(self, fn, /, *args, **kwargs) -> _Task:
        if kwargs:
            fn, args = functools.partial(fn, *args, **kwargs), ()
        task = _Task(fn, args)
        self._tasks.put(task)
        with self._lock:
            if self._idle:
                self._idle -= 1
                return task
            if len(self._threads) >= self._max:
                return task
            t = threading.Thread(target=_work, args=(weakref.ref(self, lambda _, tasks=self._tasks: tasks.put(None)), self._tasks),
                                 name=f"{self._name}_{len(self._threads)}", daemon=True)
            self._threads.append(t)
        t.start()
        return task

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._tasks.put(None)
        if wait:
            for t in list(self._threads):
                t.join()
