"""Applying the unsubscribe journal (store/journal.py) to the lists: at once when the database allows, else by a
thread of this process that tries again until it does, and at every pass of `bulletin worker`.

An entry is applied as the person's own unsubscribe (`subscriptions._leave`, the consent rule and the event), unless
they came back to the list after asking (a later confirmation, undo or re-subscription): the later wish stands.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from bulletin.errors import DatabaseUnavailable
from bulletin.services.store import Store, UnitOfWork
from bulletin.store import queries
from bulletin.store.db import lock_wait, unavailable
from bulletin.store.journal import Entry, superseded
from bulletin.store.models import utcnow

log = logging.getLogger(__name__)

#: How long a request waits for the database to change the lists itself before leaving it to the journal:
#: an unsubscribe answers within about this, whatever holds the database.
REQUEST_WAIT_SECONDS = 0.5
#: The thread that applies what a request could not: its first try, doubling up to the second figure (so that
#: the journal is applied within a few seconds of the database being free again).
RETRY = (0.5, 4.0)


def apply_entry(uow: UnitOfWork, entry: Entry) -> None:
    from bulletin.services.subscriptions import _leave

    s = uow.session
    if entry.subscriber_id is not None:
        subscriber_id = entry.subscriber_id
    else:
        person = queries.find_subscriber(s, entry.email_key)
        if person is None:
            return
        subscriber_id = person.id
    lists = [entry.list_id] if entry.list_id is not None else [ml.id for ml, _ in queries.memberships(s, subscriber_id)]
    for list_id in lists:
        if not superseded(s, entry, subscriber_id, list_id):
            _leave(uow, subscriber_id, list_id, send_id=entry.send_id, source=entry.source, ip=entry.ip)


def apply_in(uow: UnitOfWork, entries: list[Entry], *, wait: float) -> bool:
    """Apply entries in the caller's unit of work (so that they see what it did before), under a savepoint that
    waits at most `wait` seconds for the database: True when done (the journal marks them applied once the unit
    of work commits); False when the database would not take them now: the unit of work goes on unharmed, and a
    thread of this process tries again until it does.

    On SQLite a savepoint opened before the unit of work wrote anything (pysqlite begins transactions only at a
    write) commits when it is released: the unsubscribe then stands even if the rest of the unit of work fails,
    which is what the person asked for; its entry, not marked, is applied again later and changes nothing."""
    session = uow.session
    try:
        with session.begin_nested():
            with lock_wait(session, wait):
                for entry in entries:
                    apply_entry(uow, entry)
                session.flush()  # the writes wait inside the short limit, not at the commit
    except DBAPIError as e:
        if unavailable(e) is None:
            raise
        if uow.store is not None:
            retry_soon(uow.store)
        return False
    if uow.store is not None:
        journal, ids = uow.store.journal, [e.id for e in entries]

        def applied(_session) -> None:
            try:
                journal.mark_applied(ids, utcnow())
            except Exception:  # still pending: applying it again changes nothing
                log.exception("unsubscribe journal: entries %s applied, not yet marked", ids)

        event.listen(session, "after_commit", applied, once=True)
    return True


def apply_pending(store: Store, *, wait: float | None = None, subscriber_id: int | None = None,
                  list_id: int | None = None) -> bool:
    """Apply the pending entries (of one membership, if given), oldest first, in one transaction that waits at
    most `wait` seconds for the database. True when they are in (or there were none); False when the database
    would not take them now: a thread of this process then tries again until it does."""
    journal = store.journal
    entries = journal.pending(subscriber_id=subscriber_id, list_id=list_id)
    if not entries:
        return True
    try:
        with store.unit_of_work() as uow:
            if wait is None:
                for entry in entries:
                    apply_entry(uow, entry)
            else:
                with lock_wait(uow.session, wait):
                    for entry in entries:
                        apply_entry(uow, entry)
                    uow.session.flush()  # the writes wait inside the short limit, not at the commit
    except DatabaseUnavailable:
        retry_soon(store)
        return False
    journal.mark_applied([e.id for e in entries], utcnow())
    return True


class _Retrier:
    """Tries the journal again, doubling its wait, until nothing is pending; then ends. A wake-up that comes
    while it is about to end keeps it going (`again`), so that no entry is left without someone to apply it."""

    def __init__(self, store: Store):
        self.store = store
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.again = False

    def wake(self) -> None:
        with self.lock:
            self.again = True
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="bulletin-journal", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        first, longest = RETRY
        delay = first
        pause = threading.Event()
        while True:
            pause.wait(delay)
            with self.lock:
                self.again = False
            try:
                done = apply_pending(self.store, wait=REQUEST_WAIT_SECONDS * 4) and not self.store.journal.pending(
                    limit=1)
            except Exception:
                log.exception("unsubscribe journal: this try failed; trying again")
                done = False
            if done:
                with self.lock:
                    if not self.again:
                        return
                delay = first
            else:
                delay = min(delay * 2, longest)


_retriers: dict[int, _Retrier] = {}
_retriers_lock = threading.Lock()


def retry_soon(store: Store) -> None:
    with _retriers_lock:
        retrier = _retriers.get(id(store.engine))
        if retrier is None or retrier.store.engine is not store.engine:
            retrier = _retriers[id(store.engine)] = _Retrier(store)
    retrier.wake()
