"""Scheduled sends: APScheduler 3 with its SQLAlchemy job store in Bulletin's own database.

The traps, measured: the default `misfire_grace_time` (1 s) silently drops a date job that is late by more
than a second, so a send due while no worker ran would never go; here it is None (run however late), with
`coalesce=True`, a textual `module:function` reference and the send id as the only argument. Starting a send
is idempotent, so a job that fires twice (two workers, a restart mid-run) starts it once.

A job only wakes the worker: what is due, and whether it may go, is decided by the worker's pass (the services
check a scheduled send's folder and run the monthly schedule there). The monthly schedule's cron job ("monthly",
on [schedule].day at [schedule].time) is written by each worker when it starts, or removed without a schedule.
"""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bulletin.deliver.sends import start_send
from bulletin.errors import BulletinError
from bulletin.store.db import session_scope
from bulletin.store.models import Send, utcnow

JOB_TABLE = "apscheduler_jobs"
FIRE = "bulletin.deliver.schedule:fire_send"
WAKE = "bulletin.deliver.schedule:wake_worker"
MONTHLY_JOB = "monthly"


class ScheduleError(BulletinError, ValueError):
    """`send --at` got a time that cannot be read or has passed."""


def parse_at(value: str, timezone: str, now: dt.datetime | None = None) -> dt.datetime:
    """An ISO 8601 date-time; without an offset it is in the organisation's time zone. Must be in the future."""
    text = value.strip()
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ScheduleError(f"{value!r} is not an ISO 8601 date and time, e.g. 2026-12-01T08:00", where="--at")
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(timezone))
    if at <= (now or utcnow()):
        raise ScheduleError(f"{at.isoformat()} is in the past", where="--at")
    return at


def job_id(send_id: int) -> str:
    return f"send-{send_id}"


class _Scheduler(BackgroundScheduler):
    """The worker's scheduler. Workers on several machines share the job store; when two fire the same job, the
    second finds it removed, which APScheduler 3 raises in its main loop (killing that thread). Starting a send
    is idempotent, so the lost race is nothing."""

    def remove_job(self, job_id, jobstore=None):
        try:
            super().remove_job(job_id, jobstore)
        except JobLookupError:
            pass


class _JobWriter(BaseScheduler):
    """Writes and removes jobs without running any (`send --at`). A BackgroundScheduler started paused would
    still run due jobs once when shut down: its loop processes jobs after the stop wake-up."""

    def wakeup(self) -> None:
        pass

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)


def scheduler(engine: Engine, timezone: str, kind: type[BaseScheduler] = _Scheduler) -> BaseScheduler:
    return kind(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)},
        job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        timezone=ZoneInfo(timezone),
    )


def schedule_send(engine: Engine, cfg, send_id: int, at: dt.datetime) -> None:
    """Store a date job for the send; it survives restarts because it lives in the database."""
    s = scheduler(engine, cfg.organisation.timezone, _JobWriter)
    s.start(paused=True)
    try:
        s.add_job(FIRE, trigger="date", run_date=at, args=[send_id], id=job_id(send_id), replace_existing=True,
                  misfire_grace_time=None, coalesce=True)
    finally:
        s.shutdown(wait=False)


def unschedule_send(engine: Engine, cfg, send_id: int) -> None:
    s = scheduler(engine, cfg.organisation.timezone, _JobWriter)
    s.start(paused=True)
    try:
        if s.get_job(job_id(send_id)) is not None:
            s.remove_job(job_id(send_id))
    finally:
        s.shutdown(wait=False)


class _Worker:
    """What the job function reaches in the process that runs it: the engine and the worker's wake-up call."""

    engine: Engine | None = None
    wake = threading.Event()


def fire_send(send_id: int) -> None:
    """A scheduled send's job: wake the worker, whose pass starts the send if it may go."""
    if _Worker.engine is None:
        raise RuntimeError("a scheduled send fired outside `bulletin worker`")
    _Worker.wake.set()


def wake_worker() -> None:
    """The monthly job: wake the worker, whose pass runs the monthly schedule."""
    _Worker.wake.set()


def start_scheduler(engine: Engine, cfg, monthly: dict | None = None) -> tuple[BaseScheduler, threading.Event]:
    """Run the job store's scheduler in this process; jobs that came due while nothing ran fire at once.

    `monthly`: the cron fields of the monthly job (day, hour, minute), written or replaced now; None removes it."""
    _Worker.engine = engine
    _Worker.wake = threading.Event()
    s = scheduler(engine, cfg.organisation.timezone)
    s.start()
    if monthly is not None:
        s.add_job(WAKE, trigger="cron", id=MONTHLY_JOB, replace_existing=True, misfire_grace_time=None,
                  coalesce=True, timezone=ZoneInfo(cfg.organisation.timezone), **monthly)
    elif s.get_job(MONTHLY_JOB) is not None:
        s.remove_job(MONTHLY_JOB)
    return s, _Worker.wake


def start_due_sends(engine: Engine) -> list[int]:
    """Start scheduled sends that are due, whatever became of their job (the job is written after the send's row,
    so a crash between the two leaves a send with no job). The worker's default pass; `bulletin worker` passes
    the services' own, which check a send's folder first."""
    with session_scope(engine) as session:
        due = list(
            session.scalars(
                select(Send.id).where(Send.state == "scheduled", Send.scheduled_at <= utcnow(),
                                      Send.waiting.is_(None)).order_by(Send.id)
            )
        )
    started = []
    for send_id in due:
        with session_scope(engine) as session:
            if start_send(session, send_id):
                started.append(send_id)
    return started
