"""Outcomes recorded as soon as the server answered, without slowing the send: each commit takes whatever the
connections handed over since the previous one (group commit), so a commit never waits for a batch to fill.

A connection needs its previous outcome recorded before its next message may end; it does not wait for a
hand-off to another thread: when no commit is running it commits what is pending itself. The writer's own thread
commits what nobody waits for (the last outcomes of a pass, those of a connection waiting on a slow server)
within `BACKSTOP_SECONDS`. A database that does not take the commit (locked, read-only) makes the writer hold
what it has, tell the send, and wait to be told to try again; nothing it holds is lost while the process lives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from bulletin.deliver import clock as clock_mod
from bulletin.deliver.claims import DeliveryStore, Outcome, Recorder
from bulletin.errors import DatabaseUnavailable

#: What no connection waits for is committed by the writer's thread within this many seconds.
BACKSTOP_SECONDS = 0.02


class OutcomeWriter:
    def __init__(self, store: DeliveryStore, worker_id: str, clock: clock_mod.Clock, *,
                 on_unavailable: Callable[[DatabaseUnavailable], None],
                 on_error: Callable[[BaseException], None]):
        self.store, self.worker_id, self.clock = store, worker_id, clock
        self.on_unavailable, self.on_error = on_unavailable, on_error
        # One lock (plain `with self._lock` is the fast path) and two conditions on it: `_done` for whoever waits
        # for a commit to end, `_work` for the writer's thread, so that a commit wakes only those who wait for it.
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._work = threading.Condition(self._lock)
        self._waiting = 0
        self._outcomes: list[Outcome] = []
        self._give_back: list[int] = []
        self._last = 0  # the number of the last outcome handed over ...
        self._recorded = 0  # ... and of the last one committed (commits go in order)
        self._held = False  # the last commit failed: wait for retry()
        self._busy = False  # a commit is running (in any thread)
        self._closing = False
        self._recorder: Recorder | None = None
        self.commits = 0
        self._thread = threading.Thread(target=self._loop, name="bulletin-record", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def record(self, outcome: Outcome) -> int:
        """Hand over one outcome; returns its number for `wait_recorded`."""
        with self._lock:
            self._outcomes.append(outcome)
            self._last += 1
            return self._last

    def give_back(self, delivery_ids: Sequence[int]) -> None:
        """Rows claimed and not tried: pending again at the next commit, their attempt not counted."""
        if delivery_ids:
            with self._lock:
                self._give_back.extend(delivery_ids)
                self._work.notify()

    def wait_recorded(self, number: int, give_up: Callable[[], bool]) -> bool:
        """Until outcome `number` is committed (True), committing in this thread when no commit runs; False when
        the writer holds its outcomes (the database does not take them) or `give_up()` says so."""
        while True:
            with self._lock:
                if self._recorded >= number:
                    return True
                if self._held or give_up():
                    return False
                if self._busy:
                    self._waiting += 1
                    self._done.wait(0.1)
                    self._waiting -= 1
                    continue
                taken = self._take()
            self._commit(*taken)

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
            self._work.notify()

    def drain(self) -> bool:
        """Wait until everything handed over is committed (True) or the writer holds it (False)."""
        with self._lock:
            self._work.notify()  # the writer's thread: now, not at its next round
            self._waiting += 1
            while (self._outcomes or self._give_back or self._busy) and not self._held:
                self._done.wait()
            self._waiting -= 1
            return not self._held

    def close(self) -> int:
        """Commit what is left unless the database refuses it, and end the thread; returns how many outcomes
        could not be recorded (those messages may go again on resume)."""
        with self._lock:
            self._closing = True
            self._work.notify()
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            if self._recorder is not None:
                self._recorder.close()
                self._recorder = None
            return len(self._outcomes)

    def _take(self) -> tuple[list[Outcome], list[int], int]:
        """Everything pending, for one commit (called holding the lock)."""
        taken, self._outcomes = self._outcomes, []
        give_back, self._give_back = self._give_back, []
        self._busy = True
        return taken, give_back, self._last

    def _commit(self, taken: list[Outcome], give_back: list[int], last: int) -> None:
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
                self._work.notify()
            return
        with self._lock:
            self._recorded = last  # every outcome handed over up to `last` was in this commit
            self.commits += 1
            self._busy = False
            if self._waiting:
                self._done.notify_all()
            if self._closing:
                self._work.notify()

    def _loop(self) -> None:
        while True:
            with self._lock:
                while True:
                    if not self._busy and not self._held and (self._outcomes or self._give_back):
                        break
                    if self._closing and not self._busy:
                        return
                    self._work.wait(BACKSTOP_SECONDS)
                taken = self._take()
            self._commit(*taken)
