"""What the public archive may show: issues whose send has started, in the editions they were sent in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bulletin.render.edition import RenderedEdition
from bulletin.store.models import Send, SendEdition

#: A send that never started (scheduled, cancelled) has not made its issue public.
PUBLIC_STATES = ("running", "done")


@dataclass(frozen=True)
class ArchivedIssue:
    slug: str
    subject: str
    language: str
    date: dt.date


def _public_sends(session: Session):
    return (
        select(Send)
        .where(Send.state.in_(PUBLIC_STATES))
        .options(selectinload(Send.editions))
        .order_by(Send.started_at.desc().nulls_last(), Send.id.desc())
    )


def _pick(send: Send, language: str) -> SendEdition | None:
    """The edition in `language`, else the issue's primary one (what such a subscriber was sent)."""
    by_language = {e.language: e for e in sorted(send.editions, key=lambda e: e.language)}
    return by_language.get(language) or by_language.get(send.language) or next(iter(by_language.values()), None)


def archived_issues(session: Session, language: str) -> list[ArchivedIssue]:
    """Each public issue once (the latest send of it), newest first, in `language` where it has that edition."""
    seen: dict[str, ArchivedIssue] = {}
    for send in session.scalars(_public_sends(session)):
        if send.issue_slug in seen:
            continue
        edition = _pick(send, language)
        if edition is None:
            continue
        when = send.started_at or send.created_at
        seen[send.issue_slug] = ArchivedIssue(send.issue_slug, edition.subject, edition.language, when.date())
    return list(seen.values())


def latest_send(session: Session, slug: str) -> Send | None:
    """The latest public send of the issue `slug`, or None when it was never sent."""
    return session.scalars(_public_sends(session).where(Send.issue_slug == slug).limit(1)).first()


def web_copy(send: Send, language: str, *, archive_url: str, subscribe_url: str) -> tuple[str, str]:
    """(language, html) of the issue as a web page: the email with its personal markers filled with public values."""
    edition = _pick(send, language)
    if edition is None:
        raise LookupError(send.issue_slug)
    rendered = RenderedEdition(send.issue_slug, edition.language, edition.subject, edition.preheader, edition.html,
                               edition.text)
    html, _text = rendered.personalise(
        {"unsubscribe_url": subscribe_url, "archive_url": archive_url, "name": "", "email": ""}
    )
    return edition.language, html
