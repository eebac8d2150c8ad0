"""What needs attention now, for the workspace's first page: sends running (with live figures), waiting for
a mail server, scheduled; this month's issue; bounces and complaints since the last send; subscriptions over time.

"Waiting" is today a running send whose only recipients left were deferred by the mail server (4xx, dropped
connections) and wait for their retry time; `sends.resume` makes them due at once. When the delivery engine
records a send-wide wait (the server unreachable as a whole), `live_sends` is where it will be read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bulletin.services.issues import MonthIssue, month_issue
from bulletin.services.store import UnitOfWork
from bulletin.states import DeliveryStatus, EventKind, SendState
from bulletin.store import dashboard as rows
from bulletin.store.dashboard import SendLine

#: The subscriber chart: one point a week over this many weeks, the last one now.
CHART_WEEKS = 12


@dataclass(frozen=True)
class LiveSend:
    line: SendLine
    sent: int
    failed: int
    deferred: int
    pending: int
    skipped: int
    next_retry_at: dt.datetime | None

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.skipped

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.line.total) if self.line.total else 100

    @property
    def waiting(self) -> bool:
        """Nothing to send now: every recipient left waits for a retry."""
        return self.deferred > 0 and self.pending == 0


@dataclass(frozen=True)
class Dashboard:
    running: list[LiveSend]
    waiting: list[LiveSend]
    scheduled: list[SendLine]
    #: when the last send started (bounces and complaints are counted since then), None if nothing was sent
    since: dt.datetime | None
    bounced_hard: int
    bounced_soft: int
    complaints: int
    month: MonthIssue
    #: (time, subscriptions in state subscribed), oldest first
    subscribers: list[tuple[dt.datetime, int]]


def live_sends(uow: UnitOfWork) -> list[LiveSend]:
    """The running sends with their figures, newest first (one query for the sends, one for every figure)."""
    lines = rows.sends_in(uow.session, (SendState.RUNNING,))
    counts = rows.open_rows(uow.session, [s.id for s in lines])
    retries = rows.next_retries(uow.session, [s.id for s in lines])
    out = []
    for line in lines:
        c = counts[line.id]
        out.append(LiveSend(
            line, c.get(DeliveryStatus.SENT, 0), c.get(DeliveryStatus.FAILED, 0), c.get(DeliveryStatus.DEFERRED, 0),
            c.get(DeliveryStatus.PENDING, 0) + c.get(DeliveryStatus.CLAIMED, 0), c.get(DeliveryStatus.SKIPPED, 0),
            retries.get(line.id),
        ))
    return out


def live_send(uow: UnitOfWork, send_id: int) -> LiveSend | None:
    return next((s for s in live_sends(uow) if s.line.id == send_id), None)


def dashboard(uow: UnitOfWork, cfg, now: dt.datetime) -> Dashboard:
    live = live_sends(uow)
    since = rows.last_started(uow.session)
    events = rows.events_since(uow.session, since, (EventKind.BOUNCE_HARD, EventKind.BOUNCE_SOFT, EventKind.COMPLAINT))
    # The last point is the count now, whatever the clocks of the machines that wrote the rows say.
    times = [now - dt.timedelta(weeks=k) for k in range(CHART_WEEKS - 1, 0, -1)]
    past, current = rows.subscribed_at(uow.session, times)
    times, counts = [*times, now], [*past, current]
    today = now.astimezone(_zone(cfg)).date()
    return Dashboard(
        running=[s for s in live if not s.waiting],
        waiting=[s for s in live if s.waiting],
        scheduled=sorted(rows.sends_in(uow.session, (SendState.SCHEDULED,)),
                         key=lambda s: (s.scheduled_at or now, s.id)),
        since=since,
        bounced_hard=events.get(EventKind.BOUNCE_HARD, 0),
        bounced_soft=events.get(EventKind.BOUNCE_SOFT, 0),
        complaints=events.get(EventKind.COMPLAINT, 0),
        month=month_issue(uow, cfg, today),
        subscribers=list(zip(times, counts)),
    )


def _zone(cfg):
    from zoneinfo import ZoneInfo

    return ZoneInfo(cfg.organisation.timezone)
