"""The store's side of the workspace's people: finding them by address or name, reading a person's whole
history, anonymising an erased person, and the keyed hashes of erased addresses.

Searching. A query matches people whose address or name (both lower-case, accents folded) contains it; filters
keep people on a list, in a status, of a language. Pages go in address order, a page starting after the last
address of the one before (keyset pagination). Two ways to find a page, chosen per request:
- few matches: where the status and list filters select few people (at most `DENSE`, read from
  ix_subscriptions_list_status_subscriber or ix_subscribers_status_language), only those are looked up and sorted;
- else the people are read in address order until a page is full, from ix_subscribers_search alone (address,
  name, language, status): no row is read until a page is found. A query found in nobody reads the whole index,
  about 15 ms for 100,000 people on SQLite and on PostgreSQL; a common one stops within a few hundred entries.
A trigram index (SQLite's FTS5, PostgreSQL's pg_trgm) answers a rare query in 2 ms instead of 15, but doubled the
time of an import of 100,000 people on both databases (measured with bench/bench_import.py: SQLite 4.3 s -> 8.3 s,
PostgreSQL 5.8 s -> 10.2 s); the covering index costs a tenth of that. bench/bench_admin.py times each kind of
search.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from bulletin.states import SubscriberStatus, SubscriptionStatus
from bulletin.store.models import (
    Delivery,
    ErasedAddress,
    Event,
    MailingList,
    Send,
    Subscriber,
    Subscription,
    utcnow,
)

#: Filters selecting more people than this are answered by reading people in address order (a page fills
#: quickly), not by looking up each of them.
DENSE = 2000


@dataclass(frozen=True)
class Filter:
    """What the subscriber list shows: `query` (already folded: store/addresses.search_key), people on the list
    `list_id`, in `status` (a subscription status, on that list or any; or a person's status: bounced,
    complained, erased), speaking `language`."""

    query: str = ""
    list_id: int | None = None
    status: str = ""
    language: str = ""


@dataclass(frozen=True)
class PersonLine:
    id: int
    email: str
    name: str
    language: str
    status: SubscriberStatus
    #: (list slug, subscription status) of each list they are or were on
    lists: tuple[tuple[str, SubscriptionStatus], ...]


def _like(query: str):
    return or_(Subscriber.email_key.contains(query, autoescape=True),
               Subscriber.name_key.contains(query, autoescape=True))


def _capped(session: Session, query) -> list[int] | None:
    """The ids `query` selects, or None when there are more than DENSE (reading them all would cost more than
    reading the rows in address order until a page is full)."""
    ids = session.scalars(query.limit(DENSE + 1)).all()
    return None if len(ids) > DENSE else list(ids)


def _subscription_candidates(session: Session, list_id: int | None, status: SubscriptionStatus | None):
    query = select(Subscription.subscriber_id)
    if list_id is not None:
        query = query.where(Subscription.list_id == list_id)
    if status is not None:
        query = query.where(Subscription.status == status)
    return _capped(session, query)


def _status_candidates(session: Session, f: Filter) -> list[int] | None:
    """The people the status and list filters allow, where they are few (read through their indexes)."""
    statuses = {s.value for s in SubscriptionStatus}
    if f.status == SubscriptionStatus.BOUNCED:
        on_list = _subscription_candidates(session, f.list_id, SubscriptionStatus.BOUNCED)
        person = _capped(session, select(Subscriber.id).where(Subscriber.status == SubscriberStatus.BOUNCED))
        return None if on_list is None or person is None else on_list + person
    if f.status in statuses:
        return _subscription_candidates(session, f.list_id, SubscriptionStatus(f.status))
    if f.status in {s.value for s in SubscriberStatus}:
        return _capped(session, select(Subscriber.id).where(Subscriber.status == f.status))
    if f.list_id is not None:
        return _subscription_candidates(session, f.list_id, None)
    return None


def _on_list(list_id: int | None, status: SubscriptionStatus | None = None):
    sub = select(Subscription.subscriber_id).where(Subscription.subscriber_id == Subscriber.id)
    if list_id is not None:
        sub = sub.where(Subscription.list_id == list_id)
    if status is not None:
        sub = sub.where(Subscription.status == status)
    return exists(sub)


def _where(session: Session, f: Filter) -> list:
    """The conditions of the filter. Where the status and list filters select few people (through their
    indexes), their ids come first, so that the database looks up those few instead of reading every person in
    address order to find a page of them."""
    conditions = []
    few = _status_candidates(session, f)
    if few is not None:
        conditions.append(Subscriber.id.in_(sorted(set(few))))
    if f.query:
        conditions.append(_like(f.query))
    if f.language:
        conditions.append(Subscriber.language == f.language)
    statuses = {s.value for s in SubscriptionStatus}
    if f.status == SubscriptionStatus.BOUNCED:
        # Bounced on the list (or any), or bounced as a person (then on the list, if one is chosen).
        person = Subscriber.status == SubscriberStatus.BOUNCED
        conditions.append(or_(_on_list(f.list_id, SubscriptionStatus.BOUNCED),
                              and_(person, _on_list(f.list_id)) if f.list_id is not None else person))
    elif f.status in statuses:
        conditions.append(_on_list(f.list_id, SubscriptionStatus(f.status)))
    else:
        if f.status in {s.value for s in SubscriberStatus}:
            conditions.append(Subscriber.status == f.status)
        if f.list_id is not None:
            conditions.append(_on_list(f.list_id))
    return conditions


def search(session: Session, f: Filter, *, after: str | None = None, limit: int = 50) -> list[PersonLine]:
    """The people matching `f` in address order, `limit` of them, after the address `after` (the last of the
    page before)."""
    # The page's ids first, from ix_subscribers_search alone; then only those rows are read.
    page = select(Subscriber.id).where(*_where(session, f)).order_by(Subscriber.email_key).limit(limit)
    if after:
        page = page.where(Subscriber.email_key > after)
    people = session.scalars(select(Subscriber).where(Subscriber.id.in_(page.scalar_subquery()))
                             .order_by(Subscriber.email_key)).all()
    lists: dict[int, list[tuple[str, SubscriptionStatus]]] = {p.id: [] for p in people}
    if people:
        for sid, slug, status in session.execute(
            select(Subscription.subscriber_id, MailingList.slug, Subscription.status)
            .join(MailingList, MailingList.id == Subscription.list_id)
            .where(Subscription.subscriber_id.in_(list(lists))).order_by(MailingList.slug)
        ):
            lists[sid].append((slug, SubscriptionStatus(status)))
    return [PersonLine(p.id, p.email, p.name, p.language, SubscriberStatus(p.status), tuple(lists[p.id]))
            for p in people]


# -- one person ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MembershipLine:
    list_id: int
    slug: str
    name: str
    archived: bool
    status: SubscriptionStatus
    #: where the last change came from
    source: str
    #: how they were added to the list
    added_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class EventLine:
    id: int
    at: dt.datetime
    kind: str
    list_slug: str | None
    send_id: int | None
    issue: str | None
    detail: str
    source: str
    ip: str


@dataclass(frozen=True)
class DeliveryLine:
    send_id: int
    issue: str
    list_slug: str
    status: str
    attempts: int
    sent_at: dt.datetime | None
    last_error: str | None
    started_at: dt.datetime | None


def person(session: Session, subscriber_id: int, *, lock: bool = False) -> Subscriber | None:
    query = select(Subscriber).where(Subscriber.id == subscriber_id)
    return session.scalar(query.with_for_update() if lock else query)


def memberships(session: Session, subscriber_id: int) -> list[MembershipLine]:
    return [MembershipLine(ml.id, ml.slug, ml.name, ml.archived_at is not None, SubscriptionStatus(sub.status),
                           sub.source, sub.added_by, sub.created_at, sub.updated_at)
            for ml, sub in session.execute(
                select(MailingList, Subscription).join(Subscription, Subscription.list_id == MailingList.id)
                .where(Subscription.subscriber_id == subscriber_id).order_by(MailingList.slug))]


def events(session: Session, subscriber_id: int) -> list[EventLine]:
    """Everything that happened to the person, newest first, with the list and the send it came with."""
    ml = aliased(MailingList)
    return [EventLine(e.id, e.at, str(e.kind), slug, e.send_id, issue, e.detail, e.source, e.ip)
            for e, slug, issue in session.execute(
                select(Event, ml.slug, Send.issue_slug).outerjoin(ml, ml.id == Event.list_id)
                .outerjoin(Send, Send.id == Event.send_id)
                .where(Event.subscriber_id == subscriber_id).order_by(Event.at.desc(), Event.id.desc()))]


def deliveries(session: Session, subscriber_id: int) -> list[DeliveryLine]:
    """Each send that was for the person, newest first, with what became of their copy."""
    return [DeliveryLine(d.send_id, issue, slug, str(d.status), d.attempts, d.sent_at, d.last_error, started)
            for d, issue, slug, started in session.execute(
                select(Delivery, Send.issue_slug, MailingList.slug, Send.started_at)
                .join(Send, Send.id == Delivery.send_id).join(MailingList, MailingList.id == Send.list_id)
                .where(Delivery.subscriber_id == subscriber_id).order_by(Delivery.send_id.desc()))]


def anonymise(session: Session, subscriber_id: int, placeholder: str, *, now: dt.datetime) -> None:
    """Remove what says who the person was: address, name, attributes (the row, its language and its history's
    kinds and dates stay, so counts survive); the address in their deliveries, server replies and IP addresses."""
    p = session.get(Subscriber, subscriber_id)
    p.email, p.email_key, p.name, p.attributes = placeholder, placeholder, "", {}
    p.status, p.updated_at = SubscriberStatus.ERASED, now
    session.execute(update(Event).where(Event.subscriber_id == subscriber_id).values(detail="", ip=""))
    session.execute(update(Delivery).where(Delivery.subscriber_id == subscriber_id)
                    .values(email=placeholder, last_error=None))
    session.flush()


def remember_erased(session: Session, digest: str, *, now: dt.datetime | None = None) -> None:
    if session.get(ErasedAddress, digest) is None:
        session.add(ErasedAddress(digest=digest, erased_at=now or utcnow()))
        session.flush()


def erased(session: Session, digests: list[str]) -> set[str]:
    """Those of `digests` that name an erased address."""
    if not digests:
        return set()
    return set(session.scalars(select(ErasedAddress.digest).where(ErasedAddress.digest.in_(digests))))


def count_people(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Subscriber))
