"""A token bucket shared by all connections: `[delivery].rate` is messages per second in total, not per connection."""

from __future__ import annotations

import threading

from bulletin.deliver import clock as clock_mod


class TokenBucket:
    """`acquire()` blocks until one message may go. Bursts are at most `burst` messages (one by default)."""

    def __init__(self, rate: float, burst: int = 1, clock: clock_mod.Clock | None = None):
        self.rate = rate
        self.burst = max(1, burst)
        self.clock = clock or clock_mod.default()
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._last = self.clock.monotonic()

    def acquire(self) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            now = self.clock.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            # The token is already taken (the count went negative): others queue behind it in order.
            self.clock.wait_until(now + wait)
