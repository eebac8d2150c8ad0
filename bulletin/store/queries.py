"""The store's shared operations on lists, subscribers, subscriptions and events. Each takes the session
of the caller's transaction (see `db.session_scope`) and never commits by itself."""

from __future__ import annotations

import re

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from bulletin.errors import BulletinError, NotFoundError
from bulletin.states import SubscriberStatus, SubscriptionStatus
from bulletin.store.models import Event, MailingList, Subscriber, Subscription, utcnow

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def email_key(email: str) -> str:
    """The case-insensitive identity of an address."""
    return email.strip().lower()


def get_list(session: Session, slug: str) -> MailingList:
    found = session.scalar(select(MailingList).where(MailingList.slug == slug))
    if found is None:
        raise NotFoundError(f"no list named {slug!r} (see `bulletin lists`)", where="--list")
    return found


def create_list(session: Session, slug: str, name: str) -> MailingList:
    if not SLUG.match(slug):
        raise BulletinError("a list slug is lower-case letters, digits, '-' and '_' (at most 64)", where=slug)
    if session.scalar(select(MailingList.id).where(MailingList.slug == slug)) is not None:
        raise BulletinError(f"a list named {slug!r} exists already", where=slug)
    ml = MailingList(slug=slug, name=name)
    session.add(ml)
    session.flush()
    return ml


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email_key == email_key(email)))


def record_event(
    session: Session,
    subscriber_id: int,
    kind: str,
    *,
    list_id: int | None = None,
    send_id: int | None = None,
    detail: str = "",
    source: str = "",
) -> Event:
    ev = Event(subscriber_id=subscriber_id, kind=kind, list_id=list_id, send_id=send_id, detail=detail, source=source)
    session.add(ev)
    return ev


def unsubscribe(
    session: Session, subscriber_id: int, list_id: int, *, send_id: int | None = None, source: str = ""
) -> bool:
    """Mark the subscription unsubscribed and record the event. Idempotent: False when it already was.

    Locks the row, so that two simultaneous requests record one event."""
    sub = session.scalar(
        select(Subscription)
        .where(Subscription.subscriber_id == subscriber_id, Subscription.list_id == list_id)
        .with_for_update()
    )
    if sub is None or sub.status == "unsubscribed":
        return False
    sub.status = "unsubscribed"
    sub.source = source or sub.source
    sub.updated_at = utcnow()
    record_event(session, subscriber_id, "unsubscribe", list_id=list_id, send_id=send_id, source=source)
    return True


def who_receives(query: Select, list_id: int) -> Select:
    """The one rule for who receives a send to a list: subscribed on it and active (not bounced, complained or
    erased). `query` selects from subscribers; the snapshot at send start and every claim of a delivery row
    read this, so the two cannot disagree."""
    return query.join(Subscription, Subscription.subscriber_id == Subscriber.id).where(
        Subscription.list_id == list_id,
        Subscription.status == SubscriptionStatus.SUBSCRIBED,
        Subscriber.status == SubscriberStatus.ACTIVE,
    )


def active_subscribers_select(list_id: int) -> Select:
    """The subscribers a send to this list goes to (`who_receives`). Columns: subscriber_id, email, language.

    Delivery snapshots it in one statement, e.g.
    `insert(Delivery).from_select(["subscriber_id", "email", "language", "send_id"],
    active_subscribers_select(list_id).add_columns(literal(send_id)))`.
    """
    return who_receives(select(Subscriber.id.label("subscriber_id"), Subscriber.email, Subscriber.language), list_id)


def list_counts(session: Session) -> list[tuple[MailingList, dict[str, int]]]:
    """Each list with the number of subscriptions in each status."""
    lists = session.scalars(select(MailingList).order_by(MailingList.slug)).all()
    rows = session.execute(
        select(Subscription.list_id, Subscription.status, func.count()).group_by(Subscription.list_id, Subscription.status)
    ).all()
    counts: dict[int, dict[str, int]] = {}
    for list_id, status, n in rows:
        counts.setdefault(list_id, {})[status] = n
    return [(ml, counts.get(ml.id, {})) for ml in lists]
