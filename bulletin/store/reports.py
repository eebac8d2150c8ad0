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


def all_sends_figures(session: Session) -> list[dict]:
    """Every send with its deliveries counted by status and its unsubscribes, bounces and complaints counted by
    person, newest first: four GROUP BY queries whatever the number of sends (the sends page)."""
    sends = session.execute(
        select(Send.id, Send.issue_slug, MailingList.slug, Send.state, Send.scheduled_at, Send.started_at,
               Send.finished_at, Send.total)
        .join(MailingList, MailingList.id == Send.list_id).order_by(Send.id.desc())
    ).all()
    by_status: dict[int, dict[str, int]] = {}
    for send_id, status, n in session.execute(
        select(Delivery.send_id, Delivery.status, func.count()).group_by(Delivery.send_id, Delivery.status)
    ):
        by_status.setdefault(send_id, {})[str(status)] = n
    people: dict[int, dict[str, int]] = {}
    for send_id, kind, n in session.execute(
        select(Event.send_id, Event.kind, func.count(func.distinct(Event.subscriber_id)))
        .where(Event.send_id.is_not(None), Event.kind.in_(PER_SEND_EVENTS))
        .group_by(Event.send_id, Event.kind)
    ):
        people.setdefault(send_id, {})[str(kind)] = n
    hard = Event.__table__.alias("hard")
    soft_only = dict(session.execute(
        select(Event.send_id, func.count(func.distinct(Event.subscriber_id)))
        .where(Event.kind == EventKind.BOUNCE_SOFT, Event.send_id.is_not(None),
               ~select(hard.c.id).where(hard.c.send_id == Event.send_id, hard.c.subscriber_id == Event.subscriber_id,
                                        hard.c.kind == EventKind.BOUNCE_HARD).exists())
        .group_by(Event.send_id)
    ).all())
    out = []
    for send_id, slug, list_slug, state, scheduled_at, started_at, finished_at, total in sends:
        counts = people.get(send_id, {})
        out.append({
            "id": send_id, "issue": slug, "list": list_slug, "state": state, "scheduled_at": scheduled_at,
            "started_at": started_at, "finished_at": finished_at, "total": total,
            "by_status": by_status.get(send_id, {}), "unsubscribed": counts.get(EventKind.UNSUBSCRIBE, 0),
            "bounced_hard": counts.get(EventKind.BOUNCE_HARD, 0), "bounced_soft": soft_only.get(send_id, 0),
            "complaints": counts.get(EventKind.COMPLAINT, 0),
        })
    return out


#: The events counted per send on the sends page.
PER_SEND_EVENTS = (EventKind.UNSUBSCRIBE, EventKind.BOUNCE_HARD, EventKind.COMPLAINT)
