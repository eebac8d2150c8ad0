"""Who may change whether a person is mailed: the one place that decides "may this status change, and who says so".

Every adapter asks here: the public pages (a signed link or the form: the person), the command line and the web
workspace (an admin), a CSV file (an import), the bounce and complaint reader (the mail system). The rules:

- Anyone may stop mail to someone; stopping is never refused and repeating it changes nothing.
- Only the person may start mail again after they left (unsubscribed, bounced, complained, erased), and only
  with a consent given after they left: a confirmation link issued before they left is spent.
- An admin may add a new person or confirm a pending one, never re-admit someone who left: an admin who was
  asked to may send them a fresh invitation, which they confirm themselves.
- An import may add and may stop; it never re-admits anyone.

Pure functions over states: no database, no I/O, so the rules are tested exhaustively on their own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from bulletin.i18n import Message
from bulletin.states import STOPPED_SUBSCRIBERS, STOPPED_SUBSCRIPTIONS, SubscriberStatus, SubscriptionStatus

S = SubscriptionStatus
P = SubscriberStatus


class Actor(StrEnum):
    """Who asks for the change."""

    #: the person themselves: a signed link from a mail they received, the confirmation of the public form
    PERSON = "person"
    #: an admin, from the command line or the web workspace
    ADMIN = "admin"
    #: a subscriber file
    IMPORT = "import"
    #: bounces and complaints reported by mail servers
    MAIL_SYSTEM = "mail-system"


@dataclass(frozen=True)
class Decision:
    """What becomes of one subscription: its status afterwards, whether that is a change, and, when the request
    is refused, why (a catalogue message, shown in the reader's language)."""

    status: SubscriptionStatus | None
    changed: bool = False
    refused: Message | None = None
    #: the person's own status afterwards, where the decision changes it (their fresh consent after a bounce)
    person: SubscriberStatus | None = None

    @property
    def allowed(self) -> bool:
        return self.refused is None


def _left(person: SubscriberStatus | None, current: SubscriptionStatus | None, list_slug: str) -> Message | None:
    """How the person left, if they did: their own status first (it stops every list), then this list's."""
    if person in STOPPED_SUBSCRIBERS:
        return Message(f"consent.person_left.{person}")
    if current in STOPPED_SUBSCRIPTIONS:
        return Message(f"consent.list_left.{current}", list=list_slug)
    return None


def join(
    person: SubscriberStatus | None,
    current: SubscriptionStatus | None,
    actor: Actor,
    *,
    list_slug: str = "",
    wanted: SubscriptionStatus = S.SUBSCRIBED,
    consent_at: dt.datetime | None = None,
    left_at: dt.datetime | None = None,
) -> Decision:
    """May `actor` put a person (status `person`, None when new) on a list where they are `current` (None when
    not on it) in status `wanted` (subscribed, or unconfirmed while a confirmation is pending)?

    For the person, `consent_at` is when their consent was given (a confirmation link's issue time) and
    `left_at` when they last left: a consent older than their leaving is spent."""
    left = _left(person, current, list_slug)
    if left is None:
        if current == S.SUBSCRIBED or current == wanted:
            return Decision(current)
        # New on the list, or pending: anybody may add them; an admin or a file may vouch for a pending one.
        return Decision(wanted, changed=True)
    if actor is Actor.PERSON:
        if person == P.ERASED:
            return Decision(current, refused=Message("consent.erased"))
        if consent_at is not None and left_at is not None and consent_at > left_at:
            again = P.ACTIVE if person in STOPPED_SUBSCRIBERS else None
            return Decision(wanted, changed=wanted != current or again is not None, person=again)
        return Decision(current, refused=Message("consent.link_spent"))
    if actor is Actor.ADMIN:
        return Decision(current, refused=Message("consent.admin_cannot_readmit", how=left))
    return Decision(current, refused=Message("consent.import_cannot_readmit", how=left))


def leave(current: SubscriptionStatus | None) -> Decision:
    """Stop mail on one list, whoever asks: always allowed; no change when they already get nothing (a bounced
    subscription stays bounced: it gets nothing either way, and an undo must not revive it)."""
    if current in (S.SUBSCRIBED, S.UNCONFIRMED):
        return Decision(S.UNSUBSCRIBED, changed=True)
    return Decision(current)


def undo_leave(person: SubscriberStatus | None, current: SubscriptionStatus | None) -> Decision:
    """The person's "that was a mistake", with the signed link of a mail they received: only an unsubscribed
    row comes back, and only for someone the mail system has not stopped."""
    if current != S.UNSUBSCRIBED or person in STOPPED_SUBSCRIBERS:
        return Decision(current)
    return Decision(S.SUBSCRIBED, changed=True)


def person_status(person: SubscriberStatus, wanted: SubscriberStatus | None) -> SubscriberStatus:
    """The person's status after a bounce, a complaint, an import's column or an erasure reports `wanted`.
    Stopping always wins and erasure is final; only the person's fresh consent (`join`) makes them active."""
    if wanted is None or wanted == P.ACTIVE or person == P.ERASED:
        return person
    return wanted


def may_be_invited(person: SubscriberStatus | None, actor: Actor) -> bool:
    """Whether a confirmation mail may go to this address. The public form never mails one that bounced or
    complained (mailing it again hurts every later send); an admin who was asked to may. Never an erased one."""
    if person == P.ERASED:
        return False
    return actor is Actor.ADMIN or person not in STOPPED_SUBSCRIBERS


def import_row(
    person: SubscriberStatus | None,
    current: SubscriptionStatus | None,
    wanted: SubscriptionStatus,
    wanted_person: SubscriberStatus | None,
    *,
    list_slug: str = "",
) -> Decision:
    """A subscriber file's row for someone: statuses that stop mail are taken; one that starts it only for
    people who never left. A file saying `unconfirmed` for someone subscribed keeps them subscribed."""
    if wanted in STOPPED_SUBSCRIPTIONS:
        return Decision(wanted, changed=wanted != current)
    person_stays_stopped = person in STOPPED_SUBSCRIBERS and wanted_person in (None, P.ACTIVE)
    if person_stays_stopped or current in STOPPED_SUBSCRIPTIONS:
        return join(person if person_stays_stopped else None, current, Actor.IMPORT, list_slug=list_slug,
                    wanted=wanted)
    if current == S.SUBSCRIBED and wanted == S.UNCONFIRMED:
        return Decision(current)
    return Decision(wanted, changed=wanted != current)
