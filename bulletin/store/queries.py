"""The store's shared operations on lists, subscribers, subscriptions and events. Each takes the session
of the caller's transaction (see `db.session_scope`) and never commits by itself."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from bulletin.errors import BulletinError, NotFoundError
from bulletin.states import EventKind, SubscriberStatus, SubscriptionStatus
from bulletin.store.models import IP_MAX, LIST_SLUG_MAX, Event, MailingList, Send, Subscriber, Subscription, utcnow

SLUG = re.compile(rf"^[a-z0-9][a-z0-9_-]{{0,{LIST_SLUG_MAX - 1}}}$")
#: The events that say a person left: on one list (unsubscribe) or everywhere (bounces, complaints).
LEAVING = (EventKind.UNSUBSCRIBE, EventKind.BOUNCE_HARD, EventKind.BOUNCE_SOFT, EventKind.COMPLAINT)


def email_key(email: str) -> str:
    """The case-insensitive identity of an address."""
    return email.strip().lower()


def get_list(session: Session, slug: str) -> MailingList:
    found = session.scalar(select(MailingList).where(MailingList.slug == slug))
    if found is None:
        raise NotFoundError(f"no list named {slug!r} (see `bulletin lists`)", where="--list")
    return found


def create_list(session: Session, slug: str, name: str, description: str = "") -> MailingList:
    if not SLUG.match(slug):
        raise BulletinError("a list slug is lower-case letters, digits, '-' and '_' (at most 64)", where=slug)
    if list_exists(session, slug):
        raise BulletinError(f"a list named {slug!r} exists already", where=slug)
    ml = MailingList(slug=slug, name=name, description=description)
    session.add(ml)
    session.flush()
    return ml


def list_exists(session: Session, slug: str) -> bool:
    return session.scalar(select(MailingList.id).where(MailingList.slug == slug)) is not None


def lock_list(session: Session, slug: str) -> MailingList:
    """The list, its row held until the transaction ends (an edit and an archiving at once apply one by one)."""
    get_list(session, slug)
    return session.scalar(select(MailingList).where(MailingList.slug == slug).with_for_update())


def find_list_by_slug(session: Session, slug: str) -> MailingList | None:
    return session.scalar(select(MailingList).where(MailingList.slug == slug))


def find_list(session: Session, list_id: int) -> MailingList | None:
    return session.get(MailingList, list_id)


def lists(session: Session, slugs: list[str] | None = None, *, archived: bool = True) -> list[MailingList]:
    """Every list by name, or those named by `slugs`; without the archived ones if `archived` is False."""
    query = select(MailingList).order_by(MailingList.name)
    if slugs:
        query = query.where(MailingList.slug.in_(slugs))
    if not archived:
        query = query.where(MailingList.archived_at.is_(None))
    return list(session.scalars(query))


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email_key == email_key(email)))


def add_subscriber(session: Session, email: str, *, name: str, language: str) -> Subscriber:
    """A new active subscriber. Two transactions adding the same address at once: the second fails with an
    IntegrityError at commit or flush, and `services.store.Store.run` tries it again (no savepoint: pysqlite's
    are not transactional)."""
    person = Subscriber(email=email, email_key=email_key(email), name=name, language=language,
                        status=SubscriberStatus.ACTIVE, attributes={})
    session.add(person)
    session.flush()
    return person


def subscription(session: Session, subscriber_id: int, list_id: int, *, lock: bool = False) -> Subscription | None:
    """The subscriber's row on the list; `lock` holds it until the transaction ends (two requests at once
    record one event)."""
    query = select(Subscription).where(Subscription.subscriber_id == subscriber_id, Subscription.list_id == list_id)
    return session.scalar(query.with_for_update() if lock else query)


def set_subscription(session: Session, subscriber_id: int, list_id: int, status: SubscriptionStatus, *,
                     source: str, now: dt.datetime | None = None) -> Subscription:
    """Create or update the subscriber's row on the list."""
    now = now or utcnow()
    sub = subscription(session, subscriber_id, list_id)
    if sub is None:
        sub = Subscription(subscriber_id=subscriber_id, list_id=list_id, status=status, source=source,
                           added_by=source, created_at=now, updated_at=now)
        session.add(sub)
    else:
        sub.status, sub.source, sub.updated_at = status, source, now
    session.flush()
    return sub


def left_at(session: Session, subscriber_id: int, list_id: int) -> dt.datetime | None:
    """When the person last left this list or every list (unsubscribed, bounced, complained), from their
    events; for a row stopped without one (an old import), when that row last changed."""
    at = session.scalar(
        select(func.max(Event.at)).where(
            Event.subscriber_id == subscriber_id, Event.kind.in_(LEAVING),
            or_(Event.list_id == list_id, Event.list_id.is_(None), Event.kind != EventKind.UNSUBSCRIBE),
        )
    )
    if at is not None:
        return at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)
    rows = [session.get(Subscriber, subscriber_id), subscription(session, subscriber_id, list_id)]
    times = [r.updated_at for r in rows if r is not None]
    return max(times) if times else None


def send_exists(session: Session, send_id: int) -> bool:
    return session.get(Send, send_id) is not None


def memberships(session: Session, subscriber_id: int) -> list[tuple[MailingList, Subscription]]:
    """The lists the subscriber is or was on, by slug."""
    return [tuple(r) for r in session.execute(
        select(MailingList, Subscription).join(Subscription, Subscription.list_id == MailingList.id)
        .where(Subscription.subscriber_id == subscriber_id).order_by(MailingList.slug)
    )]


def record_event(
    session: Session,
    subscriber_id: int,
    kind: str,
    *,
    list_id: int | None = None,
    send_id: int | None = None,
    detail: str = "",
    source: str = "",
    ip: str = "",
    at: dt.datetime | None = None,
) -> Event:
    ev = Event(subscriber_id=subscriber_id, kind=kind, list_id=list_id, send_id=send_id, detail=detail, source=source,
               ip=ip[:IP_MAX], at=at or utcnow())
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


def list_languages(session: Session, list_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per list, its subscribed people (the ones a send goes to) counted by language: one query a list, which
    reads the active people in language order (index ix_subscribers_status_language) and looks up each one's
    subscription (about 60 ms for 100,000 people on SQLite; one query for every list sorts them all, 160 ms)."""
    counts: dict[int, dict[str, int]] = {}
    for list_id in list_ids:
        counts[list_id] = dict(session.execute(
            select(Subscriber.language, func.count())
            .join(Subscription, (Subscription.subscriber_id == Subscriber.id) & (Subscription.list_id == list_id))
            .where(Subscriber.status == SubscriberStatus.ACTIVE, Subscription.status == SubscriptionStatus.SUBSCRIBED)
            .group_by(Subscriber.language)).all())
    return counts
