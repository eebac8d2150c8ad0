"""The database as the adapters see it: a handle to open units of work on, and nothing of SQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bulletin.store import db

T = TypeVar("T")


@dataclass
class UnitOfWork:
    """One transaction: committed when the `with` block ends, rolled back if it raises or on `rollback()`
    (a dry run). Services reach the store through `session`; adapters only pass the unit along."""

    session: Session
    #: the installation's store, for a use case that must commit part of its work apart (an unsubscribe)
    store: Store | None = None

    def rollback(self) -> None:
        self.session.rollback()


class Store:
    """The database of one installation (migrated to the latest schema when opened)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @classmethod
    def open(cls, cfg) -> Store:
        return cls(db.engine_for(cfg.database_url))

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        with db.session_scope(self.engine) as session:
            yield UnitOfWork(session, self)

    @property
    def journal(self):
        """The unsubscribe journal (store/journal.py): what a person asked for, before the lists change."""
        from bulletin.store.journal import journal_for

        return journal_for(self.engine)

    def run(self, use_case: Callable[..., T], *args, **kwargs) -> T:
        """`use_case(uow, *args, **kwargs)` in a unit of work of its own, tried again once when another
        transaction inserted the same row meanwhile (two clicks on one link): the second try sees it."""
        for attempt in (1, 2):
            try:
                with self.unit_of_work() as uow:
                    return use_case(uow, *args, **kwargs)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def writes_alongside(self) -> bool:
        """Whether another transaction may write while one writes (PostgreSQL); SQLite has one writer at a time."""
        return self.engine.dialect.name != "sqlite"

    def healthy(self) -> bool:
        """Whether the database answers (the health check of `bulletin serve`)."""
        return db.ping(self.engine)
