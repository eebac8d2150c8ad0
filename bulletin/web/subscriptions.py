"""What the subscriber pages change in the store: unsubscribe from a link, undo it, confirm an opt-in.

Knows nothing of HTTP: takes the caller's session, raises BulletinError subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from bulletin.config import Config
from bulletin.errors import BulletinError, NotFoundError, TokenError
from bulletin.store import queries
from bulletin.store.models import MailingList, Send, Subscriber, Subscription, utcnow
from bulletin.tokens import UnsubscribeToken


class InvalidAddress(BulletinError, ValueError):
    """An address typed into the subscribe form is not an email address."""


@dataclass
class Membership:
    """A subscriber on a list, as named by an unsubscribe link."""

    subscriber: Subscriber
    mailing_list: MailingList
    subscription: Subscription
    send_id: int | None


def membership(session: Session, token: UnsubscribeToken) -> Membership:
    """The subscription an unsubscribe link names; TokenError when it names nothing that exists.

    A signed token for a list the subscriber was never on (or a deleted one) is refused like a forged one."""
    sub = session.get(Subscription, (token.subscriber_id, token.list_id))
    if sub is None:
        raise TokenError("this unsubscribe link names no subscription")
    send_id = token.send_id
    if send_id is not None and session.get(Send, send_id) is None:
        send_id = None  # the send was deleted since; the unsubscribe still counts
    return Membership(sub.subscriber, sub.mailing_list, sub, send_id)


def unsubscribe(session: Session, m: Membership, *, source: str) -> bool:
    """Unsubscribe at once; False when it already was (repeating is harmless and records nothing).

    A bounced subscription is left as it is: it gets nothing either way, and an undo must not revive it."""
    if m.subscription.status == "bounced":
        return False
    return queries.unsubscribe(session, m.subscriber.id, m.mailing_list.id, send_id=m.send_id, source=source)


def resubscribe(session: Session, m: Membership, *, source: str) -> bool:
    """Undo an unsubscribe. Only an unsubscribed row comes back: a bounced one stays bounced."""
    sub = session.scalar(
        select(Subscription)
        .where(Subscription.subscriber_id == m.subscriber.id, Subscription.list_id == m.mailing_list.id)
        .with_for_update()
    )
    if sub is None or sub.status != "unsubscribed":
        return False
    sub.status = "subscribed"
    sub.source = source
    sub.updated_at = utcnow()
    queries.record_event(session, m.subscriber.id, "resubscribe", list_id=m.mailing_list.id, send_id=m.send_id,
                         source=source)
    return True


def normalise_address(email: str) -> str:
    """The address as it will be stored; InvalidAddress when it is not one."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise InvalidAddress(str(e), where="email")


def subscribable_lists(session: Session, cfg: Config) -> list[MailingList]:
    """The lists the public form offers: `[web].subscribe_lists`, or every list when it is empty."""
    query = select(MailingList).order_by(MailingList.name)
    if cfg.web.subscribe_lists:
        query = query.where(MailingList.slug.in_(cfg.web.subscribe_lists))
    return list(session.scalars(query))


def may_receive_confirmation(session: Session, email: str) -> bool:
    """False for addresses that bounced or complained: mailing them again hurts every later send."""
    found = queries.find_subscriber(session, email)
    return found is None or found.status == "active"


def confirm(session: Session, cfg: Config, email: str, list_id: int, language: str, name: str) -> Membership:
    """Subscribe the address that proved it reads its mail. Idempotent; records a `confirm` event when it changes."""
    ml = session.get(MailingList, list_id)
    if ml is None or ml not in subscribable_lists(session, cfg):
        raise NotFoundError("this list no longer takes subscriptions")
    if language not in cfg.organisation.languages:
        language = cfg.organisation.language
    subscriber = queries.find_subscriber(session, email)
    if subscriber is None:
        subscriber = Subscriber(email=email, email_key=queries.email_key(email), name=name[:200], language=language)
        session.add(subscriber)
        session.flush()
    elif name and not subscriber.name:
        subscriber.name = name[:200]
    sub = session.get(Subscription, (subscriber.id, ml.id), with_for_update=True)
    if sub is None:
        sub = Subscription(subscriber_id=subscriber.id, list_id=ml.id, status="subscribed", source="web")
        session.add(sub)
        changed = True
    else:
        # A bounced row keeps its status: the bounce handling decides when an address is good again.
        changed = sub.status in ("unconfirmed", "unsubscribed")
        if changed:
            sub.status = "subscribed"
            sub.source = "web"
            sub.updated_at = utcnow()
    if changed:
        queries.record_event(session, subscriber.id, "confirm", list_id=ml.id, source="web")
    session.flush()
    return Membership(subscriber, ml, sub, None)
