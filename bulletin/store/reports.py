"""The figures of sends, counted by the database (GROUP BY), never by loading rows into Python."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

from bulletin.errors import NotFoundError
from bulletin.states import DeliveryStatus, EventKind
from bulletin.store.models import Delivery, Event, MailingList, Send

TOP_REASONS = 5


def send_row(session: Session, send_id: int) -> Send:
    send = session.get(Send, send_id)
    if send is None:
        raise NotFoundError(f"no send {send_id} (see `bulletin status`)", where="SEND_ID")
    return send


def send_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Send.id).order_by(Send.id)))


def delivery_figures(session: Session, send_id: int) -> dict:
    """The send's identity, state, times, the count of deliveries in each status, the commonest failure replies
    and the subscribers who unsubscribed from it."""
    send = send_row(session, send_id)
    slug = session.scalar(select(MailingList.slug).where(MailingList.id == send.list_id))
    by_status = dict(session.execute(
        select(Delivery.status, func.count()).where(Delivery.send_id == send_id).group_by(Delivery.status)
    ).all())
    reasons = session.execute(
        select(Delivery.last_error, func.count().label("n"))
        .where(Delivery.send_id == send_id, Delivery.status == DeliveryStatus.FAILED)
        .group_by(Delivery.last_error)
        .order_by(func.count().desc(), Delivery.last_error)
        .limit(TOP_REASONS)
    ).all()
    unsubscribed = session.scalar(
        select(func.count(func.distinct(Event.subscriber_id)))
        .where(Event.send_id == send_id, Event.kind == EventKind.UNSUBSCRIBE)
    )
    return {
        "id": send.id, "issue": send.issue_slug, "list": slug, "state": send.state,
        "scheduled_at": send.scheduled_at, "started_at": send.started_at, "finished_at": send.finished_at,
        "total": send.total, "by_status": {str(k): v for k, v in by_status.items()},
        "waiting": send.waiting, "waiting_since": send.waiting_since, "issue_dir": send.issue_dir,
        "failure_reasons": [(r or "", n) for r, n in reasons], "unsubscribed": unsubscribed or 0,
    }


def sent_over_time(session: Session, send_id: int, bars: int) -> tuple[list[int], dt.datetime | None,
                                                                      dt.datetime | None]:
    """How many messages went out in each of `bars` equal slices between the first and the last, counted by
    the database: the first and last times, then one GROUP BY over the slice number."""
    first, last = session.execute(
        select(func.min(Delivery.sent_at), func.max(Delivery.sent_at))
        .where(Delivery.send_id == send_id, Delivery.sent_at.is_not(None))
    ).one()
    if first is None:
        return [0] * bars, None, None
    first = first if first.tzinfo else first.replace(tzinfo=dt.timezone.utc)
    last = last if last.tzinfo else last.replace(tzinfo=dt.timezone.utc)
    span = (last - first).total_seconds() or 1.0
    slice_ = (_epoch(session, Delivery.sent_at) - first.timestamp()) * bars / span
    if session.get_bind().dialect.name == "sqlite":
        bucket = cast(slice_, Integer)  # truncates, which is floor for these non-negative values
    else:
        bucket = cast(func.floor(slice_), Integer)  # a cast alone rounds on PostgreSQL
    counts = [0] * bars
    for index, n in session.execute(
        select(bucket.label("b"), func.count())
        .where(Delivery.send_id == send_id, Delivery.sent_at.is_not(None))
        .group_by("b")
    ):
        counts[max(0, min(bars - 1, int(index)))] += n
    return counts, first, last


def _epoch(session: Session, column):
    """Seconds since 1970 of a timestamp column, in SQL."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return func.extract("epoch", column)

