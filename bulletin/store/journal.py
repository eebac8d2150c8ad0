"""The unsubscribe journal: a person who leaves is written down first, where no other writer can hold them up, and
the lists are changed as soon as the database allows. An unsubscribe is then never lost and answers at once,
whatever holds the database (an import of a million rows keeps SQLite's write lock for minutes); sends read the
journal before each message, so that nobody is mailed in between.

On PostgreSQL the journal is the `unsubscribe_journal` table (an insert waits for no row lock). SQLite has one
writer for the whole file, so there the journal is the same table in a file of its own beside the database,
written with `synchronous=FULL` (the entry may be the only record of the request for a while).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, delete, event, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from bulletin.states import EventKind
from bulletin.store.db import unavailable
from bulletin.store.models import Event, LeavingEntry

_table = LeavingEntry.__table__
#: How long a journal write waits for another journal writer (they hold it for milliseconds).
JOURNAL_WAIT_SECONDS = 5.0
#: A PostgreSQL journal is read again at most this often by a send (SQLite's is watched for each message).
PG_REFRESH_SECONDS = 0.2
#: Applied entries are kept this long (what a send started meanwhile reads), then dropped.
KEEP_APPLIED = dt.timedelta(days=30)
#: Events after which an older unsubscribe no longer stands: the person (or an admin) came back since.
RETURNS = (EventKind.SUBSCRIBE, EventKind.CONFIRM, EventKind.RESUBSCRIBE)


@dataclass(frozen=True)
class Entry:
    id: int
    at: dt.datetime
    email_key: str
    subscriber_id: int | None
    list_id: int | None
    send_id: int | None
    source: str
    #: the IP address of the request that asked (kept in the person's history); "" from the command line
    ip: str = ""


def journal_file(engine: Engine) -> Path | None:
    """The SQLite journal beside a SQLite database (`bulletin.db` -> `bulletin.unsubscribes.db`); None on
    PostgreSQL or for a database in memory."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    return path.with_name(f"{path.stem}.unsubscribes{path.suffix or '.db'}")


def _sqlite_journal(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": JOURNAL_WAIT_SECONDS})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={int(JOURNAL_WAIT_SECONDS * 1000)}")
        cur.close()

    _table.create(engine, checkfirst=True)
    return engine


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


class Journal:
    """The journal of one database."""

    def __init__(self, engine: Engine):
        self.main = engine
        path = journal_file(engine)
        self.engine = _sqlite_journal(path) if path is not None else engine
        self.separate = path is not None

    def _write(self, statement) -> object:
        try:
            with self.engine.begin() as conn:
                return conn.execute(statement)
        except DBAPIError as e:
            problem = unavailable(e)
            if problem is None:
                raise
            raise problem from e

    def append(self, *, email_key: str, subscriber_id: int | None, list_id: int | None, send_id: int | None,
               source: str, now: dt.datetime, ip: str = "") -> int:
        """Write one unsubscribe down (committed when this returns); its id."""
        result = self._write(insert(_table).values(at=now, email_key=email_key, subscriber_id=subscriber_id,
                                                   list_id=list_id, send_id=send_id, source=source, ip=ip))
        return result.inserted_primary_key[0]

    def pending(self, *, subscriber_id: int | None = None, list_id: int | None = None,
                limit: int = 500) -> list[Entry]:
        """Entries not applied yet, oldest first (of one subscriber's membership, if given)."""
        query = select(_table).where(_table.c.applied_at.is_(None)).order_by(_table.c.id).limit(limit)
        if subscriber_id is not None:
            query = query.where(_table.c.subscriber_id == subscriber_id)
            if list_id is not None:
                query = query.where(or_(_table.c.list_id == list_id, _table.c.list_id.is_(None)))
        with self.engine.connect() as conn:
            return [Entry(r.id, _aware(r.at), r.email_key, r.subscriber_id, r.list_id, r.send_id, r.source, r.ip)
                    for r in conn.execute(query)]

    def mark_applied(self, ids: Iterable[int], now: dt.datetime) -> None:
        ids = list(ids)
        if ids:
            self._write(update(_table).where(_table.c.id.in_(ids)).values(applied_at=now))
            self._write(delete(_table).where(_table.c.applied_at < now - KEEP_APPLIED))

    def watch(self, list_id: int, since: dt.datetime) -> LeavingWatch:
        return LeavingWatch(self, list_id, since)


_journals: dict[str, Journal] = {}
_journals_lock = threading.Lock()


def journal_for(engine: Engine) -> Journal:
    """The journal of this database, one per process."""
    key = str(engine.url)
    with _journals_lock:
        journal = _journals.get(key)
        if journal is None or journal.main is not engine:
            journal = _journals[key] = Journal(engine)
        return journal


def superseded(session, entry: Entry, subscriber_id: int, list_id: int) -> bool:
    """The person (or an admin) came back to the list after this unsubscribe was asked for: it no longer stands."""
    return session.scalar(
        select(Event.id).where(Event.subscriber_id == subscriber_id, Event.list_id == list_id,
                               Event.kind.in_(RETURNS), Event.at > entry.at).limit(1)
    ) is not None


class LeavingWatch:
    """What a send checks before each message: has this address left the list (an entry not applied yet, or
    one written since the send started)? Reads the journal again only when it changed: on SQLite the file's
    data_version says so for a few microseconds; PostgreSQL is read again at most every PG_REFRESH_SECONDS."""

    def __init__(self, journal: Journal, list_id: int, since: dt.datetime):
        self.journal, self.list_id, self.since = journal, list_id, since
        self._lock = threading.Lock()
        self._left: set[str] = set()
        self._seen = 0
        self._version: object = None
        self._checked = 0.0
        self._raw = journal.engine.raw_connection() if journal.separate else None

    def _changed(self) -> bool:
        if self._raw is not None:
            cursor = self._raw.cursor()
            try:
                version = cursor.execute("PRAGMA data_version").fetchone()[0]
            finally:
                cursor.close()
            changed, self._version = version != self._version, version
            return changed
        now = time.monotonic()
        if now - self._checked >= PG_REFRESH_SECONDS:
            self._checked = now
            return True
        return False

    def _read(self) -> None:
        query = (
            select(_table.c.id, _table.c.email_key)
            .where(_table.c.id > self._seen,
                   or_(_table.c.list_id == self.list_id, _table.c.list_id.is_(None)),
                   or_(_table.c.applied_at.is_(None), _table.c.at >= self.since))
            .order_by(_table.c.id)
        )
        with self.journal.engine.connect() as conn:
            for entry_id, key in conn.execute(query):
                self._left.add(key)
                self._seen = entry_id

    def has_left(self, email: str) -> bool:
        with self._lock:
            if self._changed():
                self._read()
            return email.strip().lower() in self._left

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None
