"""The store's side of bounces and complaints: who a bounce names, the events it leaves, the statuses it changes,
and a send's bounce figures counted by the database. bounces/ decides; these functions read and write.

Each takes the session of the caller's transaction (see `db.session_scope`) and never commits by itself.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from bulletin.states import EventKind, SubscriberStatus, SubscriptionStatus
from bulletin.store import queries
from bulletin.store.models import SOURCE_MAX, Delivery, Event, Send, Subscriber, Subscription

#: The events a bounce mailbox leaves.
BOUNCE_EVENTS = (EventKind.BOUNCE_HARD, EventKind.BOUNCE_SOFT, EventKind.COMPLAINT)



def subscriber(session: Session, subscriber_id: int) -> Subscriber | None:
    return session.get(Subscriber, subscriber_id)


def subscriber_by_address(session: Session, address: str) -> Subscriber | None:
    return queries.find_subscriber(session, address)


def send(session: Session, send_id: int) -> Send | None:
    return session.get(Send, send_id)


def send_of(session: Session, send_id: int, subscriber_id: int) -> Send | None:
    """The send, only when this subscriber was one of its recipients (a stray or forged send id names nothing)."""
    delivered = session.scalar(
        select(Delivery.id).where(Delivery.send_id == send_id, Delivery.subscriber_id == subscriber_id).limit(1)
    )
    return session.get(Send, send_id) if delivered is not None else None


def event_recorded(session: Session, subscriber_id: int, kind: EventKind, source: str) -> bool:
    """Whether this bounce message already left this event (the same message read twice counts once)."""
    found = session.scalar(
        select(Event.id)
        .where(Event.subscriber_id == subscriber_id, Event.kind == kind, Event.source == source[:SOURCE_MAX])
        .limit(1)
    )
    return found is not None


def record_event(
    session: Session,
    subscriber_id: int,
    kind: EventKind,
    *,
    detail: str,
    source: str,
    at: dt.datetime,
    send_id: int | None = None,
    list_id: int | None = None,
) -> Event:
    event = queries.record_event(
        session, subscriber_id, kind, list_id=list_id, send_id=send_id, detail=detail, source=source[:SOURCE_MAX]
    )
    event.at = at
    session.flush()
    return event


def soft_bounces_since(session: Session, subscriber_id: int, since: dt.datetime) -> int:
    return session.scalar(
        select(func.count(Event.id)).where(
            Event.subscriber_id == subscriber_id, Event.kind == EventKind.BOUNCE_SOFT, Event.at >= since
        )
    ) or 0


def set_bounced(session: Session, subscriber: Subscriber, source: str, now: dt.datetime) -> None:
    """The subscriber, and each list they were on or confirming, marked bounced."""
    subscriber.status = SubscriberStatus.BOUNCED
    subscriber.updated_at = now
    _set_subscriptions(
        session, subscriber.id, (SubscriptionStatus.SUBSCRIBED, SubscriptionStatus.UNCONFIRMED),
        SubscriptionStatus.BOUNCED, source, now,
    )


def set_complained(session: Session, subscriber: Subscriber, source: str, now: dt.datetime) -> None:
    """The subscriber marked complained and unsubscribed from every list."""
    subscriber.status = SubscriberStatus.COMPLAINED
    subscriber.updated_at = now
    _set_subscriptions(
        session, subscriber.id, tuple(s for s in SubscriptionStatus if s != SubscriptionStatus.UNSUBSCRIBED),
        SubscriptionStatus.UNSUBSCRIBED, source, now,
    )


def _set_subscriptions(
    session: Session, subscriber_id: int, current: tuple[str, ...], status: str, source: str, now: dt.datetime
) -> None:
    rows = session.scalars(
        select(Subscription).where(Subscription.subscriber_id == subscriber_id, Subscription.status.in_(current))
    ).all()
    for sub in rows:
        sub.status = status
        sub.source = source[:SOURCE_MAX]
        sub.updated_at = now


def bounce_counts(session: Session, send_id: int) -> dict[str, int]:
    """Subscribers of a send with a hard bounce, with soft bounces only (not also hard), with a complaint."""
    hard_ids = select(Event.subscriber_id).where(Event.send_id == send_id, Event.kind == EventKind.BOUNCE_HARD)
    rows = session.execute(
        select(Event.kind, func.count(func.distinct(Event.subscriber_id)))
        .where(
            Event.send_id == send_id,
            Event.kind.in_(BOUNCE_EVENTS),
            ~and_(Event.kind == EventKind.BOUNCE_SOFT, Event.subscriber_id.in_(hard_ids)),
        )
        .group_by(Event.kind)
    ).all()
    counts = {kind: 0 for kind in BOUNCE_EVENTS}
    counts.update({EventKind(kind): n for kind, n in rows})
    return counts


def bounce_details(session: Session, send_id: int) -> list[tuple[str, int]]:
    """Each raw bounce reason of a send with the number of bounces that gave it."""
    return [
        (detail or "", n)
        for detail, n in session.execute(
            select(Event.detail, func.count())
            .where(Event.send_id == send_id, Event.kind.in_((EventKind.BOUNCE_HARD, EventKind.BOUNCE_SOFT)))
            .group_by(Event.detail)
        ).all()
    ]
