"""What the public archive may show: issues whose send has started, in the editions they were sent in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bulletin.errors import NotFoundError
from bulletin.states import SendState
from bulletin.store.models import Send, SendEdition

#: A send that never started (scheduled, cancelled) has not made its issue public.
PUBLIC_STATES = (SendState.RUNNING, SendState.DONE)


@dataclass(frozen=True)
class ArchivedIssue:
    slug: str
    subject: str
    language: str
    date: dt.date


def _public_sends():
    return (
        select(Send)
        .where(Send.state.in_(PUBLIC_STATES))
        .order_by(Send.started_at.desc().nulls_last(), Send.id.desc())
    )


def _pick(available: list[str], language: str, primary: str) -> str | None:
    """The edition in `language`, else the issue's primary one (what such a subscriber was sent)."""
    for choice in (language, primary):
        if choice in available:
            return choice
    return min(available) if available else None


def archived_issues(session: Session, language: str) -> list[ArchivedIssue]:
    """Each public issue once (the latest send of it), newest first, in `language` where it has that edition.

    Reads subjects only: an edition's HTML is some tens of kilobytes that an index page does not need."""
    sends = session.scalars(_public_sends()).all()
    subjects: dict[int, dict[str, str]] = {}
    rows = session.execute(select(SendEdition.send_id, SendEdition.language, SendEdition.subject)
                           .where(SendEdition.send_id.in_([s.id for s in sends])))
    for send_id, lang, subject in rows:
        subjects.setdefault(send_id, {})[lang] = subject
    seen: dict[str, ArchivedIssue] = {}
    for send in sends:
        editions = subjects.get(send.id, {})
        chosen = _pick(list(editions), language, send.language)
        if send.issue_slug in seen or chosen is None:
            continue
        when = send.started_at or send.created_at
        seen[send.issue_slug] = ArchivedIssue(send.issue_slug, editions[chosen], chosen, when.date())
    return list(seen.values())


def latest_send(session: Session, slug: str) -> Send | None:
    """The latest public send of the issue `slug`, or None when it was never sent."""
    return session.scalars(_public_sends().where(Send.issue_slug == slug).limit(1)).first()


def public_edition(session: Session, send: Send, language: str) -> SendEdition:
    """The edition of the send a reader of `language` gets: theirs where it exists, else the issue's primary."""
    available = list(session.scalars(select(SendEdition.language).where(SendEdition.send_id == send.id)))
    chosen = _pick(available, language, send.language)
    if chosen is None:
        raise NotFoundError("this issue has no edition")
    return session.get(SendEdition, (send.id, chosen))
