"""The list-cleaning policy: a hard bounce or a complaint marks a subscriber at once, soft bounces add up.

As in listmonk and Mailchimp: a hard bounce marks the subscriber bounced, a complaint marks them complained
(and off every list), and `soft_limit` soft bounces within `soft_window_days` count as a hard one. Nothing is
deleted: every bounce is an Event with its raw reason, and a marked subscriber keeps their rows.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bulletin.config import Bounces
from bulletin.store import queries
from bulletin.store.models import Event, Subscriber, Subscription, utcnow

BOUNCE_HARD = "bounce_hard"
BOUNCE_SOFT = "bounce_soft"
COMPLAINT = "complaint"


def _set_subscriptions(session: Session, subscriber_id: int, status: str, source: str, now: dt.datetime) -> None:
    rows = session.scalars(
        select(Subscription).where(
            Subscription.subscriber_id == subscriber_id, Subscription.status.in_(("subscribed", "unconfirmed"))
        )
    ).all()
    for sub in rows:
        sub.status = status
        sub.source = source[:200]
        sub.updated_at = now


def mark_bounced(session: Session, subscriber: Subscriber, source: str, now: dt.datetime) -> bool:
    """The subscriber gets nothing more from any list. False when they were already marked."""
    if subscriber.status != "active":
        return False
    subscriber.status = "bounced"
    subscriber.updated_at = now
    _set_subscriptions(session, subscriber.id, "bounced", source, now)
    return True


def soft_bounces_within(session: Session, subscriber_id: int, days: int, now: dt.datetime) -> int:
    since = now - dt.timedelta(days=days)
    return session.scalar(
        select(func.count(Event.id)).where(
            Event.subscriber_id == subscriber_id, Event.kind == BOUNCE_SOFT, Event.at >= since
        )
    ) or 0


def apply_bounce(
    session: Session,
    rules: Bounces,
    subscriber: Subscriber,
    *,
    hard: bool,
    detail: str,
    source: str,
    send_id: int | None = None,
    list_id: int | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Record one bounce and apply the policy. True when it marked the subscriber bounced."""
    now = now or utcnow()
    kind = BOUNCE_HARD if hard else BOUNCE_SOFT
    event = queries.record_event(
        session, subscriber.id, kind, list_id=list_id, send_id=send_id, detail=detail, source=source[:200]
    )
    event.at = now
    session.flush()
    if hard:
        return mark_bounced(session, subscriber, source, now)
    if soft_bounces_within(session, subscriber.id, rules.soft_window_days, now) >= rules.soft_limit:
        return mark_bounced(session, subscriber, source, now)
    return False


def apply_complaint(
    session: Session,
    subscriber: Subscriber,
    *,
    detail: str,
    source: str,
    send_id: int | None = None,
    list_id: int | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Record a spam complaint: the subscriber is marked complained and unsubscribed from every list.

    True when this changed their status (a second complaint only adds its event)."""
    now = now or utcnow()
    event = queries.record_event(
        session, subscriber.id, COMPLAINT, list_id=list_id, send_id=send_id, detail=detail, source=source[:200]
    )
    event.at = now
    if subscriber.status == "complained":
        return False
    subscriber.status = "complained"
    subscriber.updated_at = now
    rows = session.scalars(
        select(Subscription).where(Subscription.subscriber_id == subscriber.id, Subscription.status != "unsubscribed")
    ).all()
    for sub in rows:
        sub.status = "unsubscribed"
        sub.source = source[:200]
        sub.updated_at = now
    return True
