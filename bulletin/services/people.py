"""People, one at a time, as the workspace shows them: the search, a person's page with their whole history,
and what an admin does for them (add to a list, change name or language, unsubscribe, invite back, export their
data, erase them). Who may be mailed is decided by `consent` through `subscriptions`; every change is an event
in the person's history and an entry in the audit log, in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from bulletin.errors import InvalidAddress, NotFoundError
from bulletin.i18n import Message
from bulletin.services import audit, forgotten, subscriptions
from bulletin.services.audit import Action, Actor
from bulletin.services.errors import InputRefused
from bulletin.services.store import UnitOfWork
from bulletin.states import EventKind, SubscriberStatus, SubscriptionStatus
from bulletin.store import people as rows
from bulletin.store import queries
from bulletin.store.addresses import normalise_language, search_key
from bulletin.store.models import NAME_MAX, SOURCE_MAX
from bulletin.store.people import DeliveryLine, EventLine, MembershipLine, PersonLine

#: People a page of the search shows.
PAGE_SIZE = 50
#: The longest search kept (an address is at most 320 characters).
QUERY_MAX = 320
#: What the status filter offers: a subscription's status (on the chosen list, or any), or a person's.
STATUS_FILTERS = ("subscribed", "unconfirmed", "unsubscribed", "bounced", "complained", "erased")


def source_of(actor: Actor) -> str:
    """Where a change made by an admin came from, as the person's history says it."""
    return f"admin:{actor.email}"[:SOURCE_MAX]


@dataclass(frozen=True)
class SearchPage:
    rows: list[PersonLine]
    #: the address to start the next page after, None on the last page
    next_after: str | None


def search(uow: UnitOfWork, *, query: str = "", list_slug: str = "", status: str = "", language: str = "",
           after: str = "", limit: int = PAGE_SIZE) -> SearchPage:
    """People whose address or name contains `query` (case and accents ignored), filtered; in address order,
    `limit` a page. An unknown list is refused (InputRefused naming the `list` field); an unknown status or
    language filters nothing."""
    list_id = None
    if list_slug:
        ml = queries.find_list_by_slug(uow.session, list_slug)
        if ml is None:
            raise InputRefused(Message("list.unknown", slug=list_slug), field="list")
        list_id = ml.id
    f = rows.Filter(query=search_key(query[:QUERY_MAX]), list_id=list_id,
                    status=status if status in STATUS_FILTERS else "", language=language[:16])
    found = rows.search(uow.session, f, after=after[:QUERY_MAX] or None, limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    return SearchPage(found, queries.email_key(found[-1].email) if more and found else None)


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    name: str
    language: str
    status: SubscriberStatus
    attributes: dict
    created_at: dt.datetime
    updated_at: dt.datetime
    memberships: list[MembershipLine]
    events: list[EventLine]
    deliveries: list[DeliveryLine]

    @property
    def erased(self) -> bool:
        return self.status == SubscriberStatus.ERASED

    def on(self, list_slug: str) -> MembershipLine | None:
        return next((m for m in self.memberships if m.slug == list_slug), None)


def _require(uow: UnitOfWork, subscriber_id: int, *, lock: bool = False):
    found = rows.person(uow.session, subscriber_id, lock=lock)
    if found is None:
        raise NotFoundError("no such subscriber", where=str(subscriber_id))
    return found


def person(uow: UnitOfWork, subscriber_id: int) -> Person:
    """The person with their whole history: their lists (how and when they came), every event (subscribed,
    confirmed with time and IP address, unsubscribed with the send the link came from, bounced with the
    server's words, ...) and every send that was for them."""
    p = _require(uow, subscriber_id)
    return Person(p.id, p.email, p.name, p.language, SubscriberStatus(p.status), dict(p.attributes or {}),
                  p.created_at, p.updated_at, rows.memberships(uow.session, p.id), rows.events(uow.session, p.id),
                  rows.deliveries(uow.session, p.id))


def _not_erased(p) -> None:
    if p.status == SubscriberStatus.ERASED:
        raise InputRefused(Message("people.erased"))


def update(uow: UnitOfWork, cfg, subscriber_id: int, *, name: str, language: str, actor: Actor,
           now: dt.datetime) -> bool:
    """Change a person's name and language; False when both were already so."""
    p = _require(uow, subscriber_id, lock=True)
    _not_erased(p)
    name = " ".join(name.split())
    if len(name) > NAME_MAX:
        raise InputRefused(Message("people.name.long", max=NAME_MAX), field="name")
    lang = normalise_language(language, cfg.organisation.languages) if language else None
    if lang is None:
        raise InputRefused(Message("people.language.unknown", language=language,
                                   known=", ".join(cfg.organisation.languages)), field="language")
    changes = []
    if name != p.name:
        changes.append("name")
    if lang != p.language:
        changes.append(f"language: {p.language} -> {lang}")
    if not changes:
        return False
    p.name, p.language, p.updated_at = name, lang, now
    detail = "; ".join(changes)
    queries.record_event(uow.session, p.id, EventKind.UPDATE, source=source_of(actor), detail=detail, at=now)
    audit.record(uow, actor, Action.SUBSCRIBER_EDIT, object_type="subscriber", object_id=p.id, detail=detail, now=now)
    return True


def add(uow: UnitOfWork, cfg, email: str, list_slug: str, *, name: str = "", language: str = "", actor: Actor,
        now: dt.datetime) -> subscriptions.Added:
    """Subscribe an address to a list as an admin (subscriptions.add_by_admin: never someone who left, never an
    erased address, never to an archived list)."""
    if not list_slug:
        raise InputRefused(Message("people.list.required"), field="list")
    if queries.find_list_by_slug(uow.session, list_slug) is None:
        raise InputRefused(Message("list.unknown", slug=list_slug), field="list")
    try:
        address = subscriptions.check_address(email)
    except InvalidAddress as e:
        raise InputRefused(Message("people.email.invalid", email=email.strip(), reason=e.what), field="email")
    name = " ".join(name.split())
    if len(name) > NAME_MAX:
        raise InputRefused(Message("people.name.long", max=NAME_MAX), field="name")
    lang = None
    if language:
        lang = normalise_language(language, cfg.organisation.languages)
        if lang is None:
            raise InputRefused(Message("people.language.unknown", language=language,
                                       known=", ".join(cfg.organisation.languages)), field="language")
    added = subscriptions.add_by_admin(uow, cfg, list_slug, address, name=name or None, language=lang,
                                       source=source_of(actor), now=now)
    if added.outcome != "already":
        audit.record(uow, actor, Action.SUBSCRIBER_ADD, object_type="subscriber",
                     object_id=added.membership.subscriber_id, detail=f"{list_slug}: {added.outcome}", now=now)
    return added


def unsubscribe(uow: UnitOfWork, subscriber_id: int, list_slug: str | None, *, actor: Actor,
                now: dt.datetime) -> list[str]:
    """Stop mail to the person on one list (or every list): the slugs they were newly unsubscribed from."""
    p = _require(uow, subscriber_id)
    if list_slug and next((m for m in rows.memberships(uow.session, p.id) if m.slug == list_slug), None) is None:
        raise InputRefused(Message("people.not_on_list", list=list_slug), field="list")
    done = subscriptions.unsubscribe_person(uow, p.id, list_slug or None, source=source_of(actor), now=now)
    if done:
        audit.record(uow, actor, Action.SUBSCRIBER_UNSUBSCRIBE, object_type="subscriber", object_id=p.id,
                     detail=", ".join(done), now=now)
    return done


def invitation(uow: UnitOfWork, cfg, subscriber_id: int, list_slug: str) -> subscriptions.Invitation:
    """The invitation to mail someone who left, for them to come back to the list themselves (nothing is
    recorded yet: `invited` does, once the mail went)."""
    p = _require(uow, subscriber_id)
    _not_erased(p)
    if queries.find_list_by_slug(uow.session, list_slug) is None:
        raise InputRefused(Message("list.unknown", slug=list_slug), field="list")
    return subscriptions.invite_by_admin(uow, cfg, list_slug, p.email, language=p.language)


def invited(uow: UnitOfWork, subscriber_id: int, list_slug: str, *, actor: Actor, now: dt.datetime) -> None:
    audit.record(uow, actor, Action.SUBSCRIBER_INVITE, object_type="subscriber", object_id=subscriber_id,
                 detail=list_slug, now=now)


def export(uow: UnitOfWork, subscriber_id: int, *, actor: Actor, now: dt.datetime) -> dict:
    """Everything Bulletin holds about the person, as JSON data (the right of access), and who asked for it."""
    p = person(uow, subscriber_id)
    audit.record(uow, actor, Action.SUBSCRIBER_EXPORT, object_type="subscriber", object_id=p.id, now=now)

    def when(value):
        return value.isoformat() if isinstance(value, dt.datetime) else value

    def plain(line) -> dict:
        return {k: when(v) for k, v in asdict(line).items()}

    return {
        "exported_at": now.isoformat(),
        "subscriber": {"id": p.id, "email": p.email, "name": p.name, "language": p.language, "status": p.status.value,
                       "attributes": p.attributes, "created_at": when(p.created_at),
                       "updated_at": when(p.updated_at)},
        "lists": [plain(m) for m in p.memberships],
        "events": [plain(e) for e in p.events],
        "deliveries": [plain(d) for d in p.deliveries],
    }


def erase(uow: UnitOfWork, cfg, subscriber_id: int, *, actor: Actor, now: dt.datetime) -> None:
    """Erase a person at their request: every list stops, the address is kept only as a keyed hash (so no
    import or form brings them back), and the row stays without address, name, attributes or the words of
    server replies and IP addresses in their history, so that counts and "never mail again" survive."""
    p = _require(uow, subscriber_id, lock=True)
    if p.status == SubscriberStatus.ERASED:
        raise InputRefused(Message("people.erased"))
    source = source_of(actor)
    subscriptions.unsubscribe_person(uow, p.id, None, source=source, detail="erased", now=now)
    forgotten.remember(uow, cfg, p.email, now=now)
    rows.anonymise(uow.session, p.id, f"erased-{p.id}@erased.invalid", now=now)
    queries.record_event(uow.session, p.id, EventKind.ERASE, source=source, at=now)
    audit.record(uow, actor, Action.SUBSCRIBER_ERASE, object_type="subscriber", object_id=p.id, now=now)


def lists_to_offer(person_: Person, all_lists) -> tuple[list, list]:
    """(the open lists the person is not subscribed to, the lists they left and may be invited back to)."""
    add, invite = [], []
    if person_.erased:
        return add, invite
    for ml in all_lists:
        if ml.archived:
            continue
        m = person_.on(ml.slug)
        stopped = person_.status != SubscriberStatus.ACTIVE or (
            m is not None and m.status in (SubscriptionStatus.UNSUBSCRIBED, SubscriptionStatus.BOUNCED))
        if stopped:
            invite.append(ml)
        elif m is None or m.status == SubscriptionStatus.UNCONFIRMED:
            add.append(ml)
    return add, invite
