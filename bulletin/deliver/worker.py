"""`bulletin worker`: fire scheduled sends on time and deliver every running send; `--drain` stops when done."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.engine import Engine

from bulletin.deliver import claims
from bulletin.deliver.engine import ProgressFn, deliver_send
from bulletin.deliver.schedule import start_due_sends, start_scheduler
from bulletin.store.db import session_scope
from bulletin.store.models import Delivery, Send, utcnow


def running_sends(engine: Engine) -> list[int]:
    with session_scope(engine) as session:
        return list(session.scalars(select(Send.id).where(Send.state == "running").order_by(Send.id)))


def run_worker(
    engine: Engine,
    cfg,
    *,
    drain: bool = False,
    stop: threading.Event | None = None,
    progress: Callable[[int], ProgressFn] | None = None,
    poll_seconds: float = 5.0,
    on_send_done: Callable[[int, claims.Outstanding], None] | None = None,
    start_due: Callable[[], object] | None = None,
    monthly: dict | None = None,
) -> None:
    """Deliver due and unfinished sends. Without `drain`, loop until `stop` is set (or the process is stopped).

    `start_due` runs at the start of every pass to start what has come due (default: every due scheduled
    send); `monthly`: the cron fields of the monthly schedule's wake-up job (see deliver.schedule)."""
    stop = stop or threading.Event()
    worker_id = claims.new_worker_id()
    sched, wake = start_scheduler(engine, cfg, monthly)
    try:
        while not stop.is_set():
            wake.clear()
            if start_due is not None:
                start_due()
            else:
                start_due_sends(engine)
            for send_id in running_sends(engine):
                if stop.is_set():
                    break
                left = deliver_send(
                    engine, cfg, send_id, worker_id=worker_id, wait_for_retries=drain, stop=stop,
                    progress=progress(send_id) if progress else None,
                )
                if on_send_done:
                    on_send_done(send_id, left)
            if drain:
                # Retries are waited for inside deliver_send; what is left now is other workers' business.
                if not _due_work(engine):
                    return
                continue
            _nap(wake, stop, poll_seconds)
    finally:
        sched.shutdown(wait=True)


def _nap(wake: threading.Event, stop: threading.Event, seconds: float) -> None:
    """Sleep until a scheduled send fires, the worker is told to stop, or `seconds` pass."""
    end = time.monotonic() + seconds
    while not (wake.is_set() or stop.is_set()) and time.monotonic() < end:
        wake.wait(0.2)


def _due_work(engine: Engine) -> bool:
    """Anything this worker could deliver now: due scheduled sends or unclaimed rows of running sends."""
    with session_scope(engine) as session:
        claims.release_dead_claims(session)
        scheduled = session.scalar(
            select(Send.id).where(Send.state == "scheduled", Send.scheduled_at <= utcnow(),
                                  Send.waiting.is_(None)).limit(1)
        )
        pending = session.scalar(
            select(Delivery.id)
            .join(Send, Send.id == Delivery.send_id)
            .where(Send.state == "running", Delivery.status == "pending")
            .limit(1)
        )
    return scheduled is not None or pending is not None
