"""Creating and starting sends: the editions are stored with the send, the recipients snapshotted in one statement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from bulletin.errors import DeliveryError, NotFoundError
from bulletin.render.edition import RenderedEdition
from bulletin.store import queries
from bulletin.states import SendState, WaitReason
from bulletin.store.models import Delivery, Send, SendEdition, utcnow


class AlreadySentError(DeliveryError):
    """The same issue went (or is going) to the same list already."""


def create_send(
    session: Session,
    *,
    issue_dir: str | Path,
    list_slug: str,
    editions: Sequence[RenderedEdition],
    scheduled_at: dt.datetime | None = None,
    again: bool = False,
    fingerprint: str | None = None,
) -> Send:
    """A new send in state `scheduled` with its editions (primary first). Refuses a second send of the same issue
    to the same list unless `again` is true (`bulletin send --again`). `fingerprint`: the issue folder's, for a
    send that is rendered again from the folder when it fires (and waits if the folder changed)."""
    if not editions:
        raise DeliveryError("the issue has no edition to send", where=str(issue_dir))
    ml = queries.get_list(session, list_slug)
    slug = editions[0].slug
    if not again:
        earlier = existing_send(session, slug, ml.id)
        if earlier is not None:
            what = "is scheduled for" if earlier.state == "scheduled" else "was already sent to"
            raise AlreadySentError(
                f"issue {slug!r} {what} list {ml.slug!r} (send {earlier.id}, {earlier.state}); "
                "to send it a second time on purpose, add --again",
                where=str(issue_dir),
            )
    send = Send(
        issue_slug=slug,
        issue_dir=str(issue_dir),
        language=editions[0].language,
        list_id=ml.id,
        state="scheduled",
        scheduled_at=scheduled_at,
        fingerprint=fingerprint,
    )
    send.editions = [
        SendEdition(language=e.language, subject=e.subject, preheader=e.preheader, html=e.html, text=e.text)
        for e in editions
    ]
    session.add(send)
    session.flush()
    return send


def existing_send(session: Session, slug: str, list_id: int) -> Send | None:
    """The first send of the issue to the list that was not cancelled, if any."""
    return session.scalars(
        select(Send).where(Send.issue_slug == slug, Send.list_id == list_id, Send.state != SendState.CANCELLED)
        .order_by(Send.id)
    ).first()


def due_sends(session: Session, now: dt.datetime) -> list[Send]:
    """Scheduled sends whose time has come (waiting ones included: they are looked at again)."""
    return list(session.scalars(
        select(Send).where(Send.state == SendState.SCHEDULED, Send.scheduled_at <= now).order_by(Send.id)))


def waiting_sends(session: Session, slug: str | None = None) -> list[Send]:
    """Sends that came due and wait (for an approval, a folder), of one issue or all."""
    query = select(Send).where(Send.state == SendState.SCHEDULED, Send.waiting.is_not(None))
    if slug is not None:
        query = query.where(Send.issue_slug == slug)
    return list(session.scalars(query.order_by(Send.id)))


def set_waiting(session: Session, send_id: int, reason: WaitReason, now: dt.datetime) -> bool:
    """Mark a due send as waiting for `reason`; True when that is news (it was not waiting, or for another
    reason), so the alert goes once per reason. The row is locked: two workers alert once."""
    send = session.scalars(select(Send).where(Send.id == send_id).with_for_update()).one()
    if send.state != SendState.SCHEDULED or send.waiting == reason:
        return False
    send.waiting, send.waiting_since = reason, now
    session.flush()
    return True


def replace_editions(session: Session, send: Send, editions: Sequence[RenderedEdition], fingerprint: str) -> None:
    """The editions rendered from the folder when the send fires, instead of those stored when it was made."""
    session.execute(delete(SendEdition).where(SendEdition.send_id == send.id))
    session.add_all([SendEdition(send_id=send.id, language=e.language, subject=e.subject, preheader=e.preheader,
                                 html=e.html, text=e.text) for e in editions])
    send.language = editions[0].language
    send.fingerprint = fingerprint
    session.flush()


def get_send(session: Session, send_id: int) -> Send:
    send = session.get(Send, send_id)
    if send is None:
        raise NotFoundError(f"no send {send_id} (see `bulletin status`)", where="SEND_ID")
    return send


def start_send(session: Session, send_id: int) -> bool:
    """Snapshot the list's active subscribers into one delivery row each and mark the send running.

    False when the send had been started already: a scheduler firing twice, or two workers, start it once
    (the conditional UPDATE takes the row lock; the loser sees the new state)."""
    started = session.execute(
        update(Send)
        .where(Send.id == send_id, Send.state == "scheduled")
        .values(state="running", started_at=utcnow(), waiting=None, waiting_since=None)
        .execution_options(synchronize_session=False)
    )
    if started.rowcount != 1:
        return False
    list_id = session.scalar(select(Send.list_id).where(Send.id == send_id))
    recipients = (
        queries.active_subscribers_select(list_id)
        .add_columns(literal(send_id), literal("pending"), literal(0))
        .order_by(None)
    )
    session.execute(
        insert(Delivery).from_select(["subscriber_id", "email", "language", "send_id", "status", "attempts"], recipients)
    )
    total = session.scalar(select(func.count()).select_from(Delivery).where(Delivery.send_id == send_id))
    session.execute(
        update(Send).where(Send.id == send_id).values(total=total).execution_options(synchronize_session=False)
    )
    return True


def cancel_send(session: Session, send_id: int) -> str:
    """Stop a scheduled or running send; returns the state it had. Rows not yet sent are marked skipped, so
    workers find nothing more to claim (messages already on the wire finish)."""
    send = get_send(session, send_id)
    if send.state in ("done", "cancelled"):
        raise DeliveryError(f"send {send_id} is {send.state} already; nothing to cancel", where="SEND_ID")
    was = send.state
    send.state = "cancelled"
    send.finished_at = utcnow()
    send.waiting = send.waiting_since = None  # a cancelled send waits for nothing
    session.execute(
        update(Delivery)
        .where(Delivery.send_id == send_id, Delivery.status.in_(("pending", "deferred")))
        .values(status="skipped", last_error="send cancelled")
        .execution_options(synchronize_session=False)
    )
    return was


def resume_send(session: Session, send_id: int, now: dt.datetime) -> int:
    """Make the deferred rows of a running send due now (the next worker round tries them); returns how many."""
    send = get_send(session, send_id)
    if send.state != "running":
        raise DeliveryError(f"send {send_id} is {send.state}: only a running send waits", where="SEND_ID")
    return session.execute(
        update(Delivery)
        .where(Delivery.send_id == send_id, Delivery.status == "deferred")
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount


def editions_of(session: Session, send: Send) -> dict[str, RenderedEdition]:
    """The stored editions by language, so that a resumed send mails the same bytes as the first run."""
    rows = session.scalars(select(SendEdition).where(SendEdition.send_id == send.id)).all()
    return {
        r.language: RenderedEdition(
            slug=send.issue_slug, language=r.language, subject=r.subject, preheader=r.preheader, html=r.html, text=r.text
        )
        for r in rows
    }
