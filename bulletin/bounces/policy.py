"""The list-cleaning policy: a hard bounce or a complaint marks a subscriber at once, soft bounces add up.

As in listmonk and Mailchimp: a hard bounce marks the subscriber bounced, a complaint marks them complained
(and off every list), and `soft_limit` soft bounces within `soft_window_days` count as a hard one. Nothing is
deleted: every bounce is an Event with its raw reason, and a marked subscriber keeps their rows. The reads and
writes are store/bounces.py's; the decisions are here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bulletin import i18n
from bulletin.config import Bounces
from bulletin.states import EventKind, SubscriberStatus
from bulletin.store import bounces as store
from bulletin.store.models import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bulletin.store.models import Subscriber


@dataclass(frozen=True)
class Applied:
    """What the policy did with one bounce or complaint, and the words that say it (for --explain)."""

    marked: bool
    said: i18n.Message


def mark_bounced(session: Session, subscriber: Subscriber, source: str, now: dt.datetime) -> bool:
    """The subscriber gets nothing more from any list. False when they were not active any more."""
    if subscriber.status != SubscriberStatus.ACTIVE:
        return False
    store.set_bounced(session, subscriber, source, now)
    return True


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
) -> Applied:
    """Record one bounce and apply the policy."""
    now = now or utcnow()
    kind = EventKind.BOUNCE_HARD if hard else EventKind.BOUNCE_SOFT
    store.record_event(session, subscriber.id, kind, detail=detail, source=source, at=now, send_id=send_id,
                       list_id=list_id)
    address = subscriber.email
    if hard:
        if mark_bounced(session, subscriber, source, now):
            return Applied(True, i18n.Message("bounces.outcome.marked_bounced", address=address))
        return Applied(False, i18n.Message("bounces.outcome.already", address=address, status=subscriber.status))
    count = store.soft_bounces_since(session, subscriber.id, now - dt.timedelta(days=rules.soft_window_days))
    values = {"address": address, "count": count, "limit": rules.soft_limit, "days": rules.soft_window_days}
    if count >= rules.soft_limit:
        if mark_bounced(session, subscriber, source, now):
            return Applied(True, i18n.Message("bounces.outcome.soft_marked", **values))
        return Applied(False, i18n.Message("bounces.outcome.already", address=address, status=subscriber.status))
    return Applied(False, i18n.Message("bounces.outcome.soft", **values))


def apply_complaint(
    session: Session,
    subscriber: Subscriber,
    *,
    detail: str,
    source: str,
    send_id: int | None = None,
    list_id: int | None = None,
    now: dt.datetime | None = None,
) -> Applied:
    """Record a spam complaint: the subscriber is marked complained and unsubscribed from every list (a second
    complaint only adds its event)."""
    now = now or utcnow()
    store.record_event(session, subscriber.id, EventKind.COMPLAINT, detail=detail, source=source, at=now,
                       send_id=send_id, list_id=list_id)
    if subscriber.status == SubscriberStatus.COMPLAINED:
        said = i18n.Message("bounces.outcome.already", address=subscriber.email, status=subscriber.status)
        return Applied(False, said)
    store.set_complained(session, subscriber, source, now)
    return Applied(True, i18n.Message("bounces.outcome.complained", address=subscriber.email))
