"""The store's side of the workspace's import jobs: a row per uploaded file, its state and progress."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bulletin.states import ImportState
from bulletin.store.models import ImportJob, MailingList


def create(session: Session, *, list_id: int, user_id: int | None, actor: str, file_name: str, stored_name: str,
           size: int, now: dt.datetime) -> ImportJob:
    job = ImportJob(list_id=list_id, user_id=user_id, actor=actor, file_name=file_name, stored_name=stored_name,
                    size=size, state=ImportState.CHECKING, bytes_done=0, created_at=now, updated_at=now)
    session.add(job)
    session.flush()
    return job


def get(session: Session, job_id: int, *, lock: bool = False) -> tuple[ImportJob, str] | None:
    """The job and its list's slug."""
    query = select(ImportJob, MailingList.slug).join(MailingList, MailingList.id == ImportJob.list_id) \
        .where(ImportJob.id == job_id)
    row = session.execute(query.with_for_update(of=ImportJob) if lock else query).first()
    return (row[0], row[1]) if row else None


def recent(session: Session, limit: int) -> list[tuple[ImportJob, str]]:
    return [(job, slug) for job, slug in session.execute(
        select(ImportJob, MailingList.slug).join(MailingList, MailingList.id == ImportJob.list_id)
        .order_by(ImportJob.id.desc()).limit(limit))]


def move(session: Session, job_id: int, frm: tuple[ImportState, ...], to: ImportState, *, now: dt.datetime,
         **values: Any) -> bool:
    """Move the job from one of the states `frm` to `to` (with `values`), in one statement: False when it was in
    none of them (another request moved it first)."""
    result = session.execute(update(ImportJob).where(ImportJob.id == job_id, ImportJob.state.in_(frm))
                             .values(state=to, updated_at=now, **values))
    return result.rowcount == 1


def progress(session: Session, job_id: int, bytes_done: int, *, now: dt.datetime) -> None:
    session.execute(update(ImportJob).where(ImportJob.id == job_id).values(bytes_done=bytes_done, updated_at=now))
