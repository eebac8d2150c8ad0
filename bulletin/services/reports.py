"""The figures of a send as `bulletin status` prints them, `--json` dumps them and the admin pages show them."""

from __future__ import annotations

import datetime as dt

from bulletin.bounces.report import bounce_figures
from bulletin.services.store import UnitOfWork
from bulletin.store import reports

CHART_BARS = 24


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def send_report(uow: UnitOfWork, send_id: int, language: str | None = None) -> dict:
    """issue, list, state, times, total and the count of each outcome, with the commonest failure replies.

    `pending` counts rows not yet tried or in flight (claimed by a worker); `deferred` rows wait for a retry.
    The bounce reasons are worded in `language` (default: the command line's)."""
    f = reports.delivery_figures(uow.session, send_id)
    by_status = f["by_status"]
    bounces = bounce_figures(uow.session, send_id, language)
    return {
        "id": f["id"],
        "issue": f["issue"],
        "list": f["list"],
        "state": str(f["state"]),
        "scheduled_at": _iso(f["scheduled_at"]),
        "started_at": _iso(f["started_at"]),
        "finished_at": _iso(f["finished_at"]),
        "total": f["total"],
        #: why a due send has not started (changed, missing, errors), or None
        "waiting": str(f["waiting"]) if f["waiting"] else None,
        "waiting_since": _iso(f["waiting_since"]),
        "issue_dir": f["issue_dir"],
        "sent": by_status.get("sent", 0),
        "failed": by_status.get("failed", 0),
        "deferred": by_status.get("deferred", 0),
        "pending": by_status.get("pending", 0) + by_status.get("claimed", 0),
        "skipped": by_status.get("skipped", 0),
        "bounced": bounces["bounced_hard"] + bounces["bounced_soft"],
        "unsubscribed": f["unsubscribed"],
        "failure_reasons": [{"reason": r, "count": n} for r, n in f["failure_reasons"]],
        **bounces,
    }


def send_reports(uow: UnitOfWork, send_ids: list[int] | None = None) -> list[dict]:
    """The reports of these sends, or of every send (oldest first)."""
    return [send_report(uow, i) for i in (send_ids if send_ids is not None else reports.send_ids(uow.session))]


def deliveries_over_time(uow: UnitOfWork, send_id: int, bars: int = CHART_BARS
                         ) -> tuple[list[int], dt.datetime | None, dt.datetime | None]:
    """Messages sent in each of `bars` equal slices of the send's duration, with its first and last times."""
    return reports.sent_over_time(uow.session, send_id, bars)
