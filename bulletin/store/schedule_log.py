"""The monthly schedule's log: each step (reminder, alert, missed, sent) once per month and list.

Recording a step is how a worker claims it: the unique key (month, list, step) lets one worker in, and the
others find the row there and do nothing, so a reminder is mailed and a send made once however many run.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bulletin.states import ScheduleStep
from bulletin.store.models import ScheduleEntry


def claim(session: Session, month: str, list_slug: str, step: ScheduleStep, *, at: dt.datetime, detail: str = "",
          send_id: int | None = None) -> ScheduleEntry | None:
    """Record the step in the caller's transaction; None when it was recorded already (by this worker earlier, or
    another one). An INSERT that does nothing on the unique key, not a savepoint: on SQLite (pysqlite's
    transaction handling) a savepoint opened before any write commits when it is released, and the step would
    stay recorded even when the rest of the transaction (the send it stands for) is rolled back."""
    if entry(session, month, list_slug, step) is not None:
        return None
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    table = ScheduleEntry.__table__
    added = session.execute(insert(table).values(
        month=month, list_slug=list_slug, step=step, at=at, detail=detail, send_id=send_id,
    ).on_conflict_do_nothing(index_elements=["month", "list_slug", "step"]).returning(table.c.id)).first()
    return session.get(ScheduleEntry, added.id) if added is not None else None


def entry(session: Session, month: str, list_slug: str, step: ScheduleStep) -> ScheduleEntry | None:
    return session.scalars(select(ScheduleEntry).where(
        ScheduleEntry.month == month, ScheduleEntry.list_slug == list_slug, ScheduleEntry.step == step)).first()


def entries(session: Session, month: str, list_slug: str) -> list[ScheduleEntry]:
    """The steps recorded for the month, in the order they happened."""
    return list(session.scalars(select(ScheduleEntry).where(
        ScheduleEntry.month == month, ScheduleEntry.list_slug == list_slug).order_by(ScheduleEntry.at,
                                                                                     ScheduleEntry.id)))
