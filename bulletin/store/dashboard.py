"""The queries behind the workspace's dashboard: sends by state, bounces since a time, subscriptions over time.
Each is one or two indexed statements: the dashboard is the page admins open most."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from bulletin.states import DeliveryStatus, EventKind, SendState, SubscriptionStatus
from bulletin.store.models import Delivery, Event, MailingList, Send, Subscription


@dataclass(frozen=True)
class SendLine:
    id: int
    issue: str
    list: str
    state: SendState
    scheduled_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    total: int


def _line(send: Send, slug: str) -> SendLine:
    return SendLine(send.id, send.issue_slug, slug, SendState(send.state), send.scheduled_at, send.started_at,
                    send.finished_at, send.total)


def sends_in(session: Session, states: tuple[SendState, ...], *, limit: int | None = None,
             before_id: int | None = None) -> list[SendLine]:
    """Sends in these states, newest first."""
    query = (select(Send, MailingList.slug).join(MailingList, MailingList.id == Send.list_id)
             .where(Send.state.in_(states)).order_by(Send.id.desc()))
    if before_id is not None:
        query = query.where(Send.id < before_id)
    if limit is not None:
        query = query.limit(limit)
    return [_line(send, slug) for send, slug in session.execute(query)]


def open_rows(session: Session, send_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per send, its deliveries counted by status (one GROUP BY for all of them)."""
    out: dict[int, dict[str, int]] = {i: {} for i in send_ids}
    if not send_ids:
        return out
    for send_id, status, n in session.execute(
        select(Delivery.send_id, Delivery.status, func.count()).where(Delivery.send_id.in_(send_ids))
        .group_by(Delivery.send_id, Delivery.status)
    ):
        out[send_id][str(status)] = n
    return out


def next_retries(session: Session, send_ids: list[int]) -> dict[int, dt.datetime]:
    if not send_ids:
        return {}
    found = {}
    for send_id, at in session.execute(
        select(Delivery.send_id, func.min(Delivery.next_attempt_at))
        .where(Delivery.send_id.in_(send_ids), Delivery.status == DeliveryStatus.DEFERRED)
        .group_by(Delivery.send_id)
    ):
        if at is not None:
            found[send_id] = _aware(at)
    return found


def last_started(session: Session) -> dt.datetime | None:
    at = session.scalar(select(func.max(Send.started_at)))
    return _aware(at) if at is not None else None


def events_since(session: Session, since: dt.datetime | None, kinds: tuple[EventKind, ...]) -> dict[str, int]:
    query = select(Event.kind, func.count()).where(Event.kind.in_(kinds)).group_by(Event.kind)
    if since is not None:
        query = query.where(Event.at >= since)
    return {str(k): n for k, n in session.execute(query)}


def subscribed_at(session: Session, times: list[dt.datetime]) -> tuple[list[int], int]:
    """How many subscriptions were in state subscribed at each of `times` (oldest first), and are now.

    A subscription counts at time t if it was created by then and is still subscribed, or has stopped
    (unsubscribed, bounced) after t: it is taken to have been subscribed until its last change. Rows that
    changed state more than once (left and came back) are counted by their last change only.

    Only the rows created or changed since the first time are read, through the indexes on `created_at` and
    `updated_at`, each put in the bucket of the times it is later than (a CASE over the times) and counted by
    bucket; every other subscribed row counts at every time. So the cost is the count of subscribed rows and
    the rows that changed within the chart's weeks, not a pass over the table with a test per time per row
    (bench/bench_chart.py compares the two, and a table of daily counts)."""
    times = sorted(times)
    subscribed = Subscription.status == SubscriptionStatus.SUBSCRIBED
    stopped = Subscription.status.in_((SubscriptionStatus.UNSUBSCRIBED, SubscriptionStatus.BOUNCED))
    now_count = int(session.scalar(select(func.count()).select_from(Subscription).where(subscribed)) or 0)
    if not times:
        return [], now_count
    first = times[0]

    def bucket(column):
        """How many of the times `column` is later than (0 .. len(times))."""
        return case(*((column > t, k) for k, t in reversed(list(enumerate(times, 1)))), else_=0)

    # Subscribed rows created after times[i-1] do not count then: those with bucket >= i.
    created_after = [0] * (len(times) + 2)
    b = bucket(Subscription.created_at).label("b")
    for k, n in session.execute(select(b, func.count()).where(subscribed, Subscription.created_at > first)
                                .group_by(b)):
        created_after[int(k)] += int(n)
    later = [0] * (len(times) + 2)  # later[i]: rows with bucket >= i
    for i in range(len(times), -1, -1):
        later[i] = later[i + 1] + created_after[i]
    counts = [now_count - later[i] for i in range(1, len(times) + 1)]
    # Stopped rows count at times[i-1] for bucket(created) < i <= bucket(updated): only those changed since first.
    bc, bu = bucket(Subscription.created_at).label("bc"), bucket(Subscription.updated_at).label("bu")
    for c, u, n in session.execute(select(bc, bu, func.count()).where(stopped, Subscription.updated_at > first)
                                   .group_by(bc, bu)):
        for i in range(int(c) + 1, int(u) + 1):
            counts[i - 1] += int(n)
    return counts, now_count


def _aware(value) -> dt.datetime:
    if isinstance(value, str):  # aggregates on SQLite come back as text
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def latest_send_of(session: Session, slug: str) -> SendLine | None:
    """The newest send of an issue that was not cancelled."""
    row = session.execute(
        select(Send, MailingList.slug).join(MailingList, MailingList.id == Send.list_id)
        .where(Send.issue_slug == slug, Send.state != SendState.CANCELLED).order_by(Send.id.desc()).limit(1)
    ).first()
    return _line(row[0], row[1]) if row else None
