"""Subscribing and leaving: the public form's double opt-in, its confirmation, the unsubscribe link and its
undo, and an admin adding, unsubscribing or inviting one person. Every change of status is decided by
`consent` and recorded as an event with where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bulletin.errors import BulletinError, NotFoundError, TokenError
from bulletin.i18n import Message
from bulletin.services import consent, forgotten, journal
from bulletin.services.consent import Actor
from bulletin.services.lists import takes_subscriptions
from bulletin.services.store import UnitOfWork
from bulletin.states import EventKind, SubscriberStatus, SubscriptionStatus
from bulletin.store import queries
from bulletin.store.addresses import normalise_email, normalise_language
from bulletin.store.models import IP_MAX, NAME_MAX, SOURCE_MAX, MailingList, Subscriber, utcnow
from bulletin.tokens import ConfirmToken, UnsubscribeToken


class ConsentRefused(BulletinError, PermissionError):
    """The change would mail someone who did not (or no longer) agree to it; `message` says why, in any
    language."""

    def __init__(self, message: Message, where: str | None = None):
        self.message = message
        super().__init__(message.render(), where=where)


@dataclass(frozen=True)
class Membership:
    """A person on a list, as the pages and commands show them."""

    subscriber_id: int
    list_id: int
    email: str
    name: str
    language: str
    list_slug: str
    list_name: str
    status: SubscriptionStatus
    #: the send an unsubscribe link came from, where it still exists
    send_id: int | None = None


@dataclass(frozen=True)
class Outcome:
    membership: Membership
    #: whether this request changed anything (repeating a request is harmless and records nothing)
    changed: bool
    #: why nothing changed where the request was refused (a spent confirmation link)
    refused: Message | None = None


def _membership(person: Subscriber, ml: MailingList, status: SubscriptionStatus | None,
                send_id: int | None = None) -> Membership:
    return Membership(person.id, ml.id, person.email, person.name, person.language, ml.slug, ml.name,
                      SubscriptionStatus(status) if status else SubscriptionStatus.UNSUBSCRIBED, send_id)


def subscribable_lists(uow: UnitOfWork, cfg) -> list[MailingList]:
    """The lists the public form offers: `[web].subscribe_lists`, or every list when it is empty; never an
    archived one."""
    return queries.lists(uow.session, cfg.web.subscribe_lists or None, archived=False)


def _subscribable(uow: UnitOfWork, cfg, list_id: int) -> MailingList:
    ml = queries.find_list(uow.session, list_id)
    if ml is None or ml.archived_at is not None or (cfg.web.subscribe_lists and ml.slug not in cfg.web.subscribe_lists):
        raise NotFoundError("this list no longer takes subscriptions")
    return ml


# -- the unsubscribe link ---------------------------------------------------------------------------------------

def membership(uow: UnitOfWork, token: UnsubscribeToken) -> Membership:
    """The subscription an unsubscribe link names; TokenError when it names nothing that exists.

    A signed token for a list the subscriber was never on (or a deleted one) is refused like a forged one."""
    s = uow.session
    sub = queries.subscription(s, token.subscriber_id, token.list_id)
    if sub is None:
        raise TokenError("this unsubscribe link names no subscription")
    send_id = token.send_id if token.send_id is not None and queries.send_exists(s, token.send_id) else None
    return _membership(sub.subscriber, sub.mailing_list, sub.status, send_id)


def unsubscribe(uow: UnitOfWork, token: UnsubscribeToken, *, source: str, ip: str = "") -> Outcome:
    """The person leaves the list of the link, at once (the button, RFC 8058 one-click). Idempotent. `ip`: the
    address of the request, kept in the person's history.

    It is written to the unsubscribe journal first, then applied to the list if the database takes it within
    journal.REQUEST_WAIT_SECONDS, else soon after: it is never lost and answers at once, whatever holds the
    database, and sends skip journalled people before each message."""
    m = membership(uow, token)
    if uow.store is None:  # a unit of work made by hand, without its store: straight to the list
        changed = _leave(uow, m.subscriber_id, m.list_id, send_id=m.send_id, source=source, ip=ip)
        return Outcome(membership(uow, token), changed)
    store = uow.store
    gone = replace(m, status=SubscriptionStatus.UNSUBSCRIBED)
    if not consent.leave(m.status).changed:
        return Outcome(m, False)
    if store.journal.pending(subscriber_id=m.subscriber_id, list_id=m.list_id):
        return Outcome(gone, False)  # asked already; the journal applies it
    store.journal.append(email_key=queries.email_key(m.email), subscriber_id=m.subscriber_id, list_id=m.list_id,
                         send_id=m.send_id, source=source[:SOURCE_MAX], ip=ip[:IP_MAX], now=utcnow())
    journal.apply_in(uow, store.journal.pending(subscriber_id=m.subscriber_id, list_id=m.list_id),
                     wait=journal.REQUEST_WAIT_SECONDS)
    return Outcome(gone, True)


def undo_unsubscribe(uow: UnitOfWork, token: UnsubscribeToken, *, source: str, ip: str = "") -> Outcome:
    """The person's "that was a mistake", with the same link: only an unsubscribed row comes back. An unsubscribe
    still in the journal is applied first (and the journal, finding the undo later than it, leaves it be)."""
    s = uow.session
    m = membership(uow, token)
    if uow.store is not None:
        for entry in uow.store.journal.pending(subscriber_id=m.subscriber_id, list_id=m.list_id):
            journal.apply_entry(uow, entry)
    sub = queries.subscription(s, m.subscriber_id, m.list_id, lock=True)
    person = s.get(Subscriber, m.subscriber_id)
    decision = consent.undo_leave(person.status, sub.status)
    if decision.changed:
        queries.set_subscription(s, m.subscriber_id, m.list_id, decision.status, source=source)
        queries.record_event(s, m.subscriber_id, EventKind.RESUBSCRIBE, list_id=m.list_id, send_id=m.send_id,
                             source=source, ip=ip)
    return Outcome(membership(uow, token), decision.changed)


def _leave(uow: UnitOfWork, subscriber_id: int, list_id: int, *, send_id: int | None, source: str,
           ip: str = "", detail: str = "", now=None) -> bool:
    s = uow.session
    sub = queries.subscription(s, subscriber_id, list_id, lock=True)
    decision = consent.leave(sub.status if sub else None)
    if not decision.changed:
        return False
    queries.set_subscription(s, subscriber_id, list_id, decision.status, source=source[:SOURCE_MAX], now=now)
    queries.record_event(s, subscriber_id, EventKind.UNSUBSCRIBE, list_id=list_id, send_id=send_id,
                         source=source[:SOURCE_MAX], ip=ip, detail=detail, at=now)
    return True


# -- the public form: double opt-in -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Invitation:
    """A confirmation mail to send: the address, the list and the language of the request."""

    email: str
    list_id: int
    list_name: str
    language: str
    name: str


def mailbox_key(email: str) -> str:
    """The mailbox an address reaches, for abuse limits: `user+tag@example.org` counts as `user@example.org`
    (the sub-address convention of most mail servers), and case is ignored."""
    local, _, domain = email.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0] or local}@{domain}"


def check_address(raw: str) -> str:
    """The address as it will be stored; InvalidAddress (a BulletinError) saying what is wrong with it."""
    return normalise_email(raw)


def request_subscription(uow: UnitOfWork, cfg, email: str, list_id: int, language: str, name: str, *,
                         actor: Actor = Actor.PERSON) -> Invitation | None:
    """Someone asked for `email` (already checked) to receive the list: the invitation to mail them, or None
    where no mail may go (an address that bounced or complained, from the public form). The caller answers the
    same either way, so the form never tells who is on a list."""
    ml = _subscribable(uow, cfg, list_id) if actor is Actor.PERSON else queries.find_list(uow.session, list_id)
    if ml is None:
        raise NotFoundError("no such list")
    takes_subscriptions(ml)
    found = queries.find_subscriber(uow.session, email)
    erased = forgotten.is_erased(uow, cfg, email)  # asked for every address: the answer takes the same time
    if found is None and erased:
        return None  # the page answers the same: the form never tells that an address was erased
    if not consent.may_be_invited(found.status if found else None, actor):
        return None
    return Invitation(email, ml.id, ml.name, language, name[:NAME_MAX])


def confirm(uow: UnitOfWork, cfg, token: ConfirmToken, *, ip: str = "") -> Outcome:
    """The person pressed the button of their confirmation link. Idempotent; a link issued before the person
    last left (unsubscribed, bounced, complained) is spent: it changes nothing and says so; an erased address is
    never stored again. `ip`: the address of the request, kept in the person's history with the time."""
    s = uow.session
    ml = _subscribable(uow, cfg, token.list_id)
    language = token.language if token.language in cfg.organisation.languages else cfg.organisation.language
    person = queries.find_subscriber(s, token.email)
    if person is None and forgotten.is_erased(uow, cfg, token.email):
        return Outcome(Membership(0, ml.id, token.email, "", language, ml.slug, ml.name,
                                  SubscriptionStatus.UNSUBSCRIBED), False, Message("consent.erased"))
    if person is None:
        person = queries.add_subscriber(s, token.email, name=token.name[:NAME_MAX], language=language)
    elif token.name and not person.name:
        person.name = token.name[:NAME_MAX]
    sub = queries.subscription(s, person.id, ml.id, lock=True)
    current = sub.status if sub else None
    left = queries.left_at(s, person.id, ml.id) if current is not None or person.status != SubscriberStatus.ACTIVE else None
    decision = consent.join(person.status, current, Actor.PERSON, list_slug=ml.slug, consent_at=token.issued_at,
                            left_at=left)
    if decision.refused is not None:
        return Outcome(_membership(person, ml, current), False, decision.refused)
    if decision.person is not None:
        person.status, person.updated_at = decision.person, utcnow()
    if decision.changed:
        queries.set_subscription(s, person.id, ml.id, decision.status, source="web")
        queries.record_event(s, person.id, EventKind.CONFIRM, list_id=ml.id, source="web",
                             detail=f"link issued {token.issued_at.isoformat()}", ip=ip)
    s.flush()
    return Outcome(_membership(person, ml, decision.status), decision.changed)


# -- an admin, one person at a time ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Added:
    membership: Membership
    #: added (new on the list), confirmed (was unconfirmed), updated (name or language), already (nothing changed)
    outcome: str


def add_by_admin(uow: UnitOfWork, cfg, list_slug: str, email: str, *, name: str | None = None,
                 language: str | None = None, source: str = "cli", now=None) -> Added:
    """Subscribe `email` to the list, creating the person if needed. Refuses anyone who left: only they can
    come back (`invite_by_admin` mails them a link to do so); an erased address, and an archived list."""
    s = uow.session
    ml = queries.get_list(s, list_slug)
    takes_subscriptions(ml)
    address = normalise_email(email)
    languages = cfg.organisation.languages
    lang = None
    if language:
        lang = normalise_language(language, languages)
        if lang is None:
            raise BulletinError(f"unknown language {language!r} (known: {', '.join(languages)})", where="--language")
    if name is not None and len(name.strip()) > NAME_MAX:
        raise BulletinError(f"a name is at most {NAME_MAX} characters", where="--name")
    person = queries.find_subscriber(s, address)
    if person is None and forgotten.is_erased(uow, cfg, address):
        raise ConsentRefused(Message("consent.erased"), where=email)
    sub = queries.subscription(s, person.id, ml.id, lock=True) if person else None
    current = sub.status if sub else None
    decision = consent.join(person.status if person else None, current, Actor.ADMIN, list_slug=ml.slug)
    if decision.refused is not None:
        raise ConsentRefused(decision.refused, where=email)
    if person is None:
        person = queries.add_subscriber(s, address, name=(name or "").strip(), language=lang or cfg.organisation.language)
        changed = False
    else:
        changed = False
        if name and name.strip() != person.name:
            person.name, changed = name.strip(), True
        if lang and lang != person.language:
            person.language, changed = lang, True
        if changed:
            person.updated_at = utcnow()
    if decision.changed:
        queries.set_subscription(s, person.id, ml.id, decision.status, source=source, now=now)
        kind = EventKind.CONFIRM if current == SubscriptionStatus.UNCONFIRMED else EventKind.SUBSCRIBE
        queries.record_event(s, person.id, kind, list_id=ml.id, source=source, at=now)
        outcome = "confirmed" if current == SubscriptionStatus.UNCONFIRMED else "added"
    else:
        outcome = "updated" if changed else "already"
    s.flush()
    return Added(_membership(person, ml, decision.status), outcome)


def unsubscribe_address(uow: UnitOfWork, email: str, list_slug: str | None, *, source: str = "cli") -> list[str]:
    """Unsubscribe `email` from one list or from all; returns the slugs it was newly unsubscribed from. Written
    to the unsubscribe journal first, as the link's unsubscribe (see `unsubscribe`)."""
    s = uow.session
    person = queries.find_subscriber(s, email)
    if person is None:
        raise NotFoundError("no subscriber with this address", where=email)
    if list_slug is not None:
        ml = queries.get_list(s, list_slug)
        if queries.subscription(s, person.id, ml.id) is None:
            raise NotFoundError(f"not on the list {list_slug!r}", where=email)
    if uow.store is None:  # a unit of work made by hand, without its store: straight to the lists
        return unsubscribe_person(uow, person.id, list_slug, source=source)
    store = uow.store
    leaving = [ml for ml, sub in queries.memberships(s, person.id)
               if (list_slug is None or ml.slug == list_slug) and consent.leave(sub.status).changed
               and not store.journal.pending(subscriber_id=person.id, list_id=ml.id)]
    for ml in leaving:
        store.journal.append(email_key=person.email_key, subscriber_id=person.id, list_id=ml.id, send_id=None,
                             source=source[:SOURCE_MAX], now=utcnow())
    if leaving:
        journal.apply_in(uow, store.journal.pending(subscriber_id=person.id), wait=journal.REQUEST_WAIT_SECONDS)
    return [ml.slug for ml in leaving]


def unsubscribe_person(uow: UnitOfWork, subscriber_id: int, list_slug: str | None, *, source: str,
                       detail: str = "", now=None) -> list[str]:
    """Stop mail to a person on one list (or every list they are on) at once, by an admin's hand; the slugs
    newly unsubscribed from."""
    rows = queries.memberships(uow.session, subscriber_id)
    return [ml.slug for ml, _sub in rows if (list_slug is None or ml.slug == list_slug)
            and _leave(uow, subscriber_id, ml.id, send_id=None, source=source, detail=detail, now=now)]


def invite_by_admin(uow: UnitOfWork, cfg, list_slug: str, email: str, *, language: str | None = None
                    ) -> Invitation:
    """An admin who was asked to lets someone come back: a confirmation mail that only they can act on."""
    s = uow.session
    ml = queries.get_list(s, list_slug)
    takes_subscriptions(ml)
    address = normalise_email(email)
    person = queries.find_subscriber(s, address)
    if (person is not None and person.status == SubscriberStatus.ERASED) or \
            (person is None and forgotten.is_erased(uow, cfg, address)):
        raise ConsentRefused(Message("consent.erased"), where=email)
    lang = (normalise_language(language, cfg.organisation.languages) if language else None) \
        or (person.language if person else cfg.organisation.language)
    invitation = request_subscription(uow, cfg, address, ml.id, lang, person.name if person else "",
                                      actor=Actor.ADMIN)
    assert invitation is not None  # an admin may invite anyone not erased
    return invitation
