"""The database's copy of the outcomes, in groups: the connections have already written each one to the worker's
log (outcomelog.py) when they hand it over, so a commit a message would only slow the send. One thread commits
what accumulated when GROUP outcomes wait or the oldest has waited GROUP_SECONDS, and at once when asked
(`drain`, `close`).

A database that does not take the commit (locked, read-only) makes the writer hold what it has, tell the send,
and wait to be told to try again; what it holds is in the log meanwhile, so even a kill loses none of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from bulletin.deliver import clock as clock_mod
from bulletin.deliver.claims import DeliveryStore, Outcome, Recorder
from bulletin.errors import DatabaseUnavailable

#: A commit takes what accumulated when this many outcomes wait ...
GROUP = 100
#: ... or when the oldest has waited this long (what `bulletin status` may lag behind the wire).
GROUP_SECONDS = 0.25


class OutcomeWriter:
    def __init__(self, store: DeliveryStore, worker_id: str, clock: clock_mod.Clock, *,
                 on_unavailable: Callable[[DatabaseUnavailable], None],
                 on_error: Callable[[BaseException], None]):
        self.store, self.worker_id, self.clock = store, worker_id, clock
        self.on_unavailable, self.on_error = on_unavailable, on_error
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the writer's thread waits here
        self._done = threading.Condition(self._lock)  # whoever drains waits here
        self._outcomes: list[Outcome] = []
        self._give_back: list[int] = []
        self._since = 0.0  # when the oldest waiting outcome came (time.monotonic)
        self._urgent = False  # commit now, whatever the group's size
        self._held = False  # the last commit failed: wait for retry()
        self._busy = False
        self._closing = False
        self._recorder: Recorder | None = None
        self.commits = 0
        self._thread = threading.Thread(target=self._loop, name="bulletin-record", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def record(self, outcome: Outcome) -> None:
        with self._lock:
            if not self._outcomes:
                self._since = time.monotonic()
            self._outcomes.append(outcome)
            if len(self._outcomes) >= GROUP:
                self._work.notify()

    def give_back(self, delivery_ids: Sequence[int]) -> None:
        """Rows claimed and not tried: pending again at the next commit (at once), their attempt not counted."""
        if delivery_ids:
            with self._lock:
                self._give_back.extend(delivery_ids)
                self._urgent = True
                self._work.notify()

    @property
    def held(self) -> bool:
        return self._held

    @property
    def held_count(self) -> int:
        with self._lock:
            return len(self._outcomes)

    def retry(self) -> None:
        with self._lock:
            self._held = False
            self._urgent = True
            self._work.notify()

    def drain(self) -> bool:
        """Commit what is waiting now; True once it is in, False when the writer holds it."""
        with self._lock:
            self._urgent = True
            self._work.notify()
            while (self._outcomes or self._give_back or self._busy) and not self._held:
                self._done.wait()
            return not self._held

    def close(self) -> int:
        """Commit what is left unless the database refuses it, and end the thread; returns how many outcomes
        the database lacks (the log keeps them for the next worker)."""
        with self._lock:
            self._closing = self._urgent = True
            self._work.notify()
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            if self._recorder is not None:
                self._recorder.close()
                self._recorder = None
            return len(self._outcomes)

    def _due(self) -> float | None:
        """0 when a commit is due now, the seconds until it is, or None when there is nothing to commit."""
        if self._held or not (self._outcomes or self._give_back):
            return None
        if self._urgent or len(self._outcomes) >= GROUP:
            return 0.0
        return max(0.0, self._since + GROUP_SECONDS - time.monotonic())

    def _loop(self) -> None:
        while True:
            with self._lock:
                while True:
                    due = self._due()
                    if due == 0.0:
                        break
                    if due is None and self._closing:
                        return
                    self._work.wait(due)
                taken, self._outcomes = self._outcomes, []
                give_back, self._give_back = self._give_back, []
                self._urgent = False
                self._busy = True
            try:
                if self._recorder is None:
                    self._recorder = self.store.recorder(self.worker_id)
                self._recorder.record(taken, give_back, now=self.clock.now())
            except BaseException as e:
                with self._lock:
                    self._outcomes[:0] = taken
                    self._give_back[:0] = give_back
                # The send hears why before anyone waiting wakes up to look.
                if isinstance(e, DatabaseUnavailable):
                    self.on_unavailable(e)
                else:
                    self.on_error(e)
                with self._lock:
                    self._held, self._busy = True, False
                    self._done.notify_all()
                continue
            with self._lock:
                self.commits += 1
                self._busy = False
                if self._closing:
                    self._urgent = True
                self._done.notify_all()
