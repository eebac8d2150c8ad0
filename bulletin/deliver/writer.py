"""Outcomes recorded as soon as the server answered, without slowing the send: one thread commits whatever the
connections handed it while its previous commit ran (group commit), so a commit never waits for a batch to fill
and the connections never wait for a commit to start.

A database that does not take the commit (locked, read-only) makes the writer hold what it has, tell the send,
and wait to be told to try again; nothing it holds is lost while the process lives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from bulletin.deliver import clock as clock_mod
from bulletin.deliver.claims import DeliveryStore, Outcome
from bulletin.errors import DatabaseUnavailable


class OutcomeWriter:
    def __init__(self, store: DeliveryStore, worker_id: str, clock: clock_mod.Clock, *,
                 on_unavailable: Callable[[DatabaseUnavailable], None],
                 on_error: Callable[[BaseException], None]):
        self.store, self.worker_id, self.clock = store, worker_id, clock
        self.on_unavailable, self.on_error = on_unavailable, on_error
        self._cond = threading.Condition()
        self._outcomes: list[tuple[Outcome, threading.Event]] = []
        self._give_back: list[int] = []
        self._held = False  # the last commit failed: wait for retry()
        self._busy = False
        self._closing = False
        self.commits = 0
        self._thread = threading.Thread(target=self._loop, name="bulletin-record", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def record(self, outcome: Outcome) -> threading.Event:
        """Hand over one outcome; the event is set once it is committed."""
        done = threading.Event()
        with self._cond:
            self._outcomes.append((outcome, done))
            self._cond.notify_all()
        return done

    def give_back(self, delivery_ids: Sequence[int]) -> None:
        """Rows claimed and not tried: pending again at the next commit, their attempt not counted."""
        if delivery_ids:
            with self._cond:
                self._give_back.extend(delivery_ids)
                self._cond.notify_all()

    @property
    def held(self) -> bool:
        return self._held

    @property
    def held_count(self) -> int:
        with self._cond:
            return len(self._outcomes)

    def retry(self) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()

    def drain(self) -> bool:
        """Wait until everything handed over is committed (True) or the writer holds it (False)."""
        with self._cond:
            while (self._outcomes or self._give_back or self._busy) and not self._held:
                self._cond.wait()
            return not self._held

    def close(self) -> int:
        """Commit what is left unless the database refuses it, and end the thread; returns how many outcomes
        could not be recorded (those messages may go again on resume)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        with self._cond:
            return len(self._outcomes)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not (self._closing or (not self._held and (self._outcomes or self._give_back))):
                    self._cond.wait()
                if self._held or not (self._outcomes or self._give_back):
                    return  # closing
                taken, self._outcomes = self._outcomes, []
                give_back, self._give_back = self._give_back, []
                self._busy = True
            try:
                self.store.record(self.worker_id, [o for o, _ in taken], give_back, now=self.clock.now())
            except BaseException as e:
                with self._cond:
                    self._outcomes[:0] = taken
                    self._give_back[:0] = give_back
                # The send hears why before anyone waiting in drain() wakes up to look.
                if isinstance(e, DatabaseUnavailable):
                    self.on_unavailable(e)
                else:
                    self.on_error(e)
                with self._cond:
                    self._held, self._busy = True, False
                    self._cond.notify_all()
                continue
            for _, done in taken:
                done.set()
            with self._cond:
                self.commits += 1
                self._busy = False
                self._cond.notify_all()
