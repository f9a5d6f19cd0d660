"""A small pool of daemon threads for downloads.

Unlike ``concurrent.futures.ThreadPoolExecutor``, whose threads the interpreter joins at exit,
these threads never hold up an interrupted run: the workers only download and decode (all
file writes happen in the calling thread), so abandoning them loses nothing.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable


class DaemonPool:
    """``submit(fn, *args) -> Future`` on ``size`` daemon threads; ``close()`` drops queued work."""

    def __init__(self, size: int, name: str = "worker") -> None:
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(size)]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            future, fn, args = task
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as error:  # noqa: BLE001 - handed to the caller through the future
                    future.set_exception(error)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run ``fn(*args)`` on a worker thread."""
        future: Future = Future()
        self._tasks.put((future, fn, args))
        return future

    def close(self) -> None:
        """Let the workers stop after their current task; queued tasks are cancelled by the caller."""
        for _ in self._threads:
            self._tasks.put(None)
