"""Adding and unsubscribing one subscriber by address, as an admin does from the command line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bulletin.errors import BulletinError, NotFoundError
from bulletin.store import queries
from bulletin.store.addresses import normalise_email, normalise_language
from bulletin.store.models import MailingList, Subscriber, Subscription, utcnow


@dataclass
class Added:
    subscriber: Subscriber
    #: added (new on the list), confirmed (was unconfirmed), updated (name or language), already (nothing changed)
    outcome: str


def add_subscriber(
    session: Session,
    ml: MailingList,
    email: str,
    *,
    name: str | None,
    language: str | None,
    languages: Sequence[str],
    default_language: str,
    source: str = "cli",
) -> Added:
    """Subscribe `email` to `ml`, creating the subscriber if needed. Refuses someone who unsubscribed, bounced or
    complained: only they can subscribe again (through the web form's double opt-in)."""
    address = normalise_email(email)
    lang = None
    if language:
        lang = normalise_language(language, languages)
        if lang is None:
            raise BulletinError(f"unknown language {language!r} (known: {', '.join(languages)})", where="--language")
    if name is not None and len(name.strip()) > 200:
        raise BulletinError("a name is at most 200 characters", where="--name")
    person = queries.find_subscriber(session, address)
    now = utcnow()
    if person is None:
        person = Subscriber(email=address, email_key=address.lower(), name=(name or "").strip(),
                            language=lang or default_language, status="active", attributes={})
        session.add(person)
        session.flush()
    elif person.status != "active":
        raise BulletinError(f"this address {person.status} before: it is not subscribed again by an admin", where=email)
    sub = session.get(Subscription, (person.id, ml.id))
    if sub is not None and sub.status in ("unsubscribed", "bounced"):
        raise BulletinError(
            f"{sub.status} from {ml.slug!r} on {sub.updated_at:%Y-%m-%d}: only they can subscribe again", where=email
        )
    changed = False
    if name and name.strip() != person.name:
        person.name, changed = name.strip(), True
    if lang and lang != person.language:
        person.language, changed = lang, True
    if changed:
        person.updated_at = now
    if sub is None:
        session.add(Subscription(subscriber_id=person.id, list_id=ml.id, status="subscribed", source=source,
                                 created_at=now, updated_at=now))
        queries.record_event(session, person.id, "subscribe", list_id=ml.id, source=source)
        session.flush()
        return Added(person, "added")
    if sub.status == "unconfirmed":
        sub.status, sub.source, sub.updated_at = "subscribed", source, now
        queries.record_event(session, person.id, "confirm", list_id=ml.id, source=source)
        return Added(person, "confirmed")
    return Added(person, "updated" if changed else "already")


def unsubscribe_address(session: Session, email: str, list_slug: str | None, *, source: str = "cli") -> list[str]:
    """Unsubscribe `email` from one list or from all; returns the slugs it was newly unsubscribed from."""
    person = queries.find_subscriber(session, email)
    if person is None:
        raise NotFoundError("no subscriber with this address", where=email)
    if list_slug is not None:
        lists = [queries.get_list(session, list_slug)]
        if session.get(Subscription, (person.id, lists[0].id)) is None:
            raise NotFoundError(f"not on the list {list_slug!r}", where=email)
    else:
        lists = list(session.scalars(
            select(MailingList).join(Subscription).where(Subscription.subscriber_id == person.id)
            .order_by(MailingList.slug)
        ))
    return [ml.slug for ml in lists if queries.unsubscribe(session, person.id, ml.id, source=source)]
