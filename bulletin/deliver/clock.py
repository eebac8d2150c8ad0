"""One clock for all delivery timing (retries, deadlines, backoff, the rate limit, the worker's naps, the
schedule), so that tests move time instead of waiting for it, whatever the load of the machine.

Code takes a `Clock` argument and falls back to `clock.DEFAULT` at call time (not import time), so a test may
replace the default for code it reaches only through the command line.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The time of day, UTC, aware: what is stored and compared with stored times."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes back: what intervals are measured with."""

    def wait_until(self, deadline: float, *events: threading.Event) -> bool:
        """Until `monotonic()` reaches `deadline` or one of `events` is set; True when an event was set."""


class SystemClock:
    """The real time. Waits are cut into short slices when there are several events to watch."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    def wait_until(self, deadline: float, *events: threading.Event) -> bool:
        while True:
            if any(e.is_set() for e in events):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if len(events) == 1:
                events[0].wait(left)
            elif events:
                events[0].wait(min(left, 0.2))
            else:
                time.sleep(left)


class ManualClock:
    """Time for tests: it stands still until some code waits on it, then jumps at once to the end of the wait
    (never back). `at(seconds, action)` runs an action when the clock passes that many seconds from its start:
    open a port, unlock a database, stop a worker."""

    def __init__(self, start: dt.datetime | None = None):
        self.start = start or dt.datetime.now(dt.timezone.utc)
        self._elapsed = 0.0
        self._lock = threading.Lock()
        self._alarms: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self.waits = 0

    @property
    def elapsed(self) -> float:
        return self._elapsed

    def now(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    def wait_until(self, deadline: float, *events: threading.Event) -> bool:
        self.waits += 1
        if any(e.is_set() for e in events):
            return True
        self.advance_to(deadline)
        return any(e.is_set() for e in events)

    def sleep(self, seconds: float) -> None:
        self.wait_until(self._elapsed + seconds)

    def at(self, seconds: float, action: Callable[[], None]) -> None:
        with self._lock:
            heapq.heappush(self._alarms, (seconds, next(self._order), action))

    def advance_to(self, seconds: float) -> None:
        due = []
        with self._lock:
            if seconds > self._elapsed:
                self._elapsed = seconds
            while self._alarms and self._alarms[0][0] <= self._elapsed:
                due.append(heapq.heappop(self._alarms)[2])
        for action in due:
            action()


SYSTEM = SystemClock()
#: The clock of code that was given none.
DEFAULT: Clock = SYSTEM


def default() -> Clock:
    return DEFAULT
