"""One background thread per kind of work of a `bulletin serve` process (confirmation mails, import jobs): items
are handled one at a time, in the order they were queued, after the answer to the request that queued them."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Background(Generic[T]):
    """A queue and the daemon thread that empties it, started with the first item. A failure of one item is
    logged by `handle` or here, and the thread goes on with the next."""

    def __init__(self, name: str, handle: Callable[[T], None]):
        self.name = name
        self._handle = handle
        self._queue: queue.Queue[tuple[T] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, item: T) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        self._queue.put((item,))

    def drain(self) -> None:
        """Wait until every item queued so far is handled."""
        self._queue.join()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while True:
            entry = self._queue.get()
            try:
                if entry is None:
                    return
                self._handle(entry[0])
            except Exception:
                log.exception("%s: an item failed", self.name)
            finally:
                self._queue.task_done()
