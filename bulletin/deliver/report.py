"""The figures of a send, as `bulletin status` prints them and `--json` dumps them."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bulletin.bounces.report import bounce_figures
from bulletin.deliver.sends import get_send
from bulletin.states import SendState
from bulletin.store.models import Delivery, Event, MailingList, Send

TOP_REASONS = 5


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def send_report(session: Session, send_id: int) -> dict:
    """issue, list, state, times, total and the count of each outcome, with the commonest failure replies.

    `pending` counts rows not yet tried or in flight (claimed by a worker); `deferred` rows wait for a retry."""
    send = get_send(session, send_id)
    ml = session.get(MailingList, send.list_id)
    by_status = dict(
        session.execute(
            select(Delivery.status, func.count()).where(Delivery.send_id == send_id).group_by(Delivery.status)
        ).all()
    )
    reasons = session.execute(
        select(Delivery.last_error, func.count().label("n"))
        .where(Delivery.send_id == send_id, Delivery.status == "failed")
        .group_by(Delivery.last_error)
        .order_by(func.count().desc(), Delivery.last_error)
        .limit(TOP_REASONS)
    ).all()
    events = dict(
        session.execute(
            select(Event.kind, func.count(func.distinct(Event.subscriber_id)))
            .where(Event.send_id == send_id)
            .group_by(Event.kind)
        ).all()
    )
    bounces = bounce_figures(session, send_id)
    return {
        "id": send.id,
        "issue": send.issue_slug,
        "list": ml.slug if ml else None,
        "state": send.state,
        "scheduled_at": _iso(send.scheduled_at),
        "started_at": _iso(send.started_at),
        "finished_at": _iso(send.finished_at),
        "total": send.total,
        "sent": by_status.get("sent", 0),
        "failed": by_status.get("failed", 0),
        "deferred": by_status.get("deferred", 0),
        "pending": by_status.get("pending", 0) + by_status.get("claimed", 0),
        "skipped": by_status.get("skipped", 0),
        "bounced": bounces["bounced_hard"] + bounces["bounced_soft"],
        "unsubscribed": events.get("unsubscribe", 0),
        "failure_reasons": [{"reason": r or "", "count": n} for r, n in reasons],
        # Why a running send does not go on for now (its mail server is unreachable), or None.
        "waiting": {
            "server": send.waiting_server,
            "error": send.waiting_error or "",
            "since": _iso(send.waiting_since),
            "next_try_at": _iso(send.next_try_at),
        } if send.waiting_since is not None and send.state == SendState.RUNNING else None,
        **bounces,
    }


def all_send_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Send.id).order_by(Send.id)))
