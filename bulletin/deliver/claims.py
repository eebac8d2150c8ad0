"""One delivery row per recipient: claimed in batches, then marked sent, deferred or failed.

Never a "last id" checkpoint: a row is marked only after the transport accepted its message, so a worker
killed at any moment loses nobody and repeats at most the rows it had claimed and not yet marked. On
PostgreSQL, workers on several machines claim with FOR UPDATE SKIP LOCKED; SQLite serialises writers.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from bulletin.store.models import Delivery, Send, Subscriber, Subscription, utcnow

HOST = socket.gethostname()

#: Statuses of rows that still have work to do.
OPEN = ("pending", "claimed", "deferred")


def new_worker_id() -> str:
    """`host:pid:nonce`: the host and pid let a worker on the same machine see that a claimant has died."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Claimed:
    id: int
    subscriber_id: int
    email: str
    language: str
    name: str
    attempts: int


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    status: str  # sent | deferred | failed
    error: str | None = None
    next_attempt_at: dt.datetime | None = None


def claim_batch(
    session: Session, send_id: int, list_id: int, worker_id: str, limit: int, claim_timeout: float
) -> list[Claimed]:
    """Claim up to `limit` rows that are due; rows whose subscriber left the list meanwhile are marked skipped."""
    now = utcnow()
    # Two index-friendly statements (send_id, status) rather than one OR that scans the whole send: due retries
    # and rows of dead workers first (there are few), then never-tried rows. No ORDER BY: any due rows will do,
    # and sorting would read every pending row of a 100,000-recipient send at each claim.
    again = or_(
        and_(Delivery.status == "deferred", Delivery.next_attempt_at <= now),
        and_(Delivery.status == "claimed", Delivery.claimed_at < now - dt.timedelta(seconds=claim_timeout)),
    )
    rows = _claim(session, send_id, [Delivery.status.in_(("deferred", "claimed")), again], worker_id, now, limit)
    if len(rows) < limit:
        rows += _claim(session, send_id, [Delivery.status == "pending"], worker_id, now, limit - len(rows))
    if not rows:
        return []
    still_there = dict(
        session.execute(
            select(Subscriber.id, Subscriber.name)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .where(
                Subscription.list_id == list_id,
                Subscription.status == "subscribed",
                Subscriber.status == "active",
                Subscriber.id.in_([r.subscriber_id for r in rows]),
            )
        ).all()
    )
    gone = [r.id for r in rows if r.subscriber_id not in still_there]
    if gone:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(gone))
            .values(status="skipped", last_error="no longer subscribed or active when its turn came")
            .execution_options(synchronize_session=False)
        )
    return sorted(
        (
            Claimed(r.id, r.subscriber_id, r.email, r.language, still_there[r.subscriber_id] or "", r.attempts)
            for r in rows
            if r.subscriber_id in still_there
        ),
        key=lambda c: c.id,
    )


def _claim(session: Session, send_id: int, where: list, worker_id: str, now: dt.datetime, limit: int) -> list:
    ids = select(Delivery.id).where(Delivery.send_id == send_id, *where).limit(limit).with_for_update(skip_locked=True)
    return list(
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids.scalar_subquery()))
            .values(status="claimed", claimed_by=worker_id, claimed_at=now, attempts=Delivery.attempts + 1)
            .returning(Delivery.id, Delivery.subscriber_id, Delivery.email, Delivery.language, Delivery.attempts)
            .execution_options(synchronize_session=False)
        ).all()
    )


_MARK = (
    Delivery.__table__.update()
    .where(Delivery.__table__.c.id == bindparam("b_id"), Delivery.__table__.c.claimed_by == bindparam("b_worker"))
    .values(
        status=bindparam("b_status"),
        last_error=bindparam("b_error"),
        next_attempt_at=bindparam("b_next"),
        sent_at=bindparam("b_sent_at"),
    )
)


def mark(session: Session, worker_id: str, outcomes: list[Outcome]) -> None:
    """Record what happened to claimed rows (only rows this worker still holds). `claimed_by` stays: it says
    which worker sent a message."""
    if not outcomes:
        return
    now = utcnow()
    session.connection().execute(
        _MARK,
        [
            {
                "b_id": o.delivery_id,
                "b_worker": worker_id,
                "b_status": o.status,
                "b_error": o.error,
                "b_next": o.next_attempt_at,
                "b_sent_at": now if o.status == "sent" else None,
            }
            for o in outcomes
        ],
    )


def release(session: Session, worker_id: str, delivery_ids: list[int]) -> None:
    """Give rows back untouched (a send stopped by a configuration error); their attempt is not counted."""
    if delivery_ids:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(delivery_ids), Delivery.claimed_by == worker_id, Delivery.status == "claimed")
            .values(status="pending", claimed_by=None, attempts=Delivery.attempts - 1)
            .execution_options(synchronize_session=False)
        )


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie is dead, just not reaped
    except (OSError, IndexError):
        return False


def release_dead_claims(session: Session, send_id: int | None = None) -> int:
    """Give back at once the rows claimed by workers of this machine that no longer run (killed, crashed).

    Workers elsewhere are given back after `[delivery].claim_timeout_seconds` by `claim_batch`."""
    query = select(Delivery.claimed_by).where(Delivery.status == "claimed").distinct()
    if send_id is not None:
        query = query.where(Delivery.send_id == send_id)
    dead = []
    for worker in session.scalars(query):
        host, _, rest = (worker or "").partition(":")
        pid = rest.partition(":")[0]
        if host == HOST and pid.isdigit() and int(pid) != os.getpid() and _process_gone(int(pid)):
            dead.append(worker)
    if not dead:
        return 0
    result = session.execute(
        update(Delivery)
        .where(Delivery.status == "claimed", Delivery.claimed_by.in_(dead))
        .values(status="pending", claimed_by=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


@dataclass(frozen=True)
class Outstanding:
    pending: int
    claimed: int
    deferred: int
    next_retry_at: dt.datetime | None

    @property
    def total(self) -> int:
        return self.pending + self.claimed + self.deferred


def outstanding(session: Session, send_id: int) -> Outstanding:
    counts = dict(
        session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.send_id == send_id, Delivery.status.in_(OPEN))
            .group_by(Delivery.status)
        ).all()
    )
    next_retry = session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(Delivery.send_id == send_id, Delivery.status == "deferred")
    )
    if next_retry is not None and next_retry.tzinfo is None:
        next_retry = next_retry.replace(tzinfo=dt.timezone.utc)
    return Outstanding(counts.get("pending", 0), counts.get("claimed", 0), counts.get("deferred", 0), next_retry)


def finish_if_done(session: Session, send_id: int) -> bool:
    """Mark the send done when no row is left to deliver; harmless when several workers try at once."""
    if outstanding(session, send_id).total:
        return False
    result = session.execute(
        update(Send)
        .where(Send.id == send_id, Send.state == "running")
        .values(state="done", finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
