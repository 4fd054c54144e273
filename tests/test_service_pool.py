"""The server's handler threads (service/pool.py): every task runs, every done callback once, bounded threads."""
from __future__ import annotations

import gc
import threading
import time

from gradwire.service.pool import HandlerThreads


def _wait(predicate, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while not predicate() and time.monotonic() < end:
        time.sleep(0.005)
    return predicate()


def test_tasks_run_on_at_most_max_threads_and_each_callback_runs_once():
    pool = HandlerThreads(3, name="test-pool")
    release = threading.Event()
    ran, called, running, peak = [], [], [0], [0]
    lock = threading.Lock()

    def task(k):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(5)
        with lock:
            running[0] -= 1
        ran.append(k)

    tasks = [pool.submit(task, k) for k in range(10)]
    for k, t in enumerate(tasks[:5]):           # added while the tasks wait (or queue)
        t.add_done_callback(lambda _, k=k: called.append(k))
    assert _wait(lambda: running[0] == 3)
    release.set()
    assert _wait(lambda: len(ran) == 10)
    for k, t in enumerate(tasks[5:], 5):        # added after the task finished: runs at once
        t.add_done_callback(lambda _, k=k: called.append(k))
    assert _wait(lambda: len(called) == 10)
    assert sorted(ran) == list(range(10)) and sorted(called) == list(range(10)) and peak[0] == 3
    assert sum(t.name.startswith("test-pool_") for t in threading.enumerate()) == 3
    pool.shutdown()
    assert not any(t.name.startswith("test-pool_") for t in threading.enumerate())


def test_a_failing_task_still_finishes_and_a_dropped_pool_ends_its_threads():
    pool = HandlerThreads(2, name="dropped-pool")
    done = threading.Event()
    pool.submit(lambda: 1 / 0).add_done_callback(lambda _: done.set())
    assert done.wait(5)
    assert pool.submit(lambda: None) is not None
    del pool
    gc.collect()
    assert _wait(lambda: not any(t.name.startswith("dropped-pool_") for t in threading.enumerate()))
