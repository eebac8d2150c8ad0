"""`/admin/audit`: who did what, when, to which object, filtered by who, what, object and dates (admins only).
The filters are a GET form, so a filtered view is a link an admin can keep or send."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request

from bulletin.services import audit
from bulletin.services.audit import Action, AuditFilter
from bulletin.states import Role
from bulletin.web.admin.access import page, workspace
from bulletin.web.admin.views import render

#: The kinds of object entries name, for the filter menu (pages that follow add theirs).
OBJECT_TYPES = ("user", "send", "list", "subscriber", "import")
#: Where an entry's object is shown: the page's path, to which its id is added.
LINKS = {"send": "/admin/sends/", "list": "/admin/lists/", "subscriber": "/admin/subscribers/",
         "import": "/admin/imports/"}


def _day(value: str, zone: ZoneInfo) -> dt.datetime | None:
    """The start of a day typed as YYYY-MM-DD, in the organisation's time zone; None if empty or not a date."""
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value.strip()), dt.time(), zone) if value else None
    except ValueError:
        return None


@page("/audit", role=Role.ADMIN)
def audit_log(request: Request, actor: str = "", action: str = "", object_type: str = "", object_id: str = "",
              since: str = "", until: str = "", before: int | None = None):
    ws = workspace(request)
    zone = ZoneInfo(ws.site.cfg.organisation.timezone)
    start, end = _day(since, zone), _day(until, zone)
    f = AuditFilter(actor=actor[:320], action=action if action in {a.value for a in Action} else "",
                    object_type=object_type if object_type in OBJECT_TYPES else "", object_id=object_id[:200],
                    since=start, until=end + dt.timedelta(days=1) if end else None)
    with ws.site.store.unit_of_work() as uow:
        rows = audit.entries(uow, f, before_id=before if before and 0 < before <= 2**63 - 1 else None)
        actors = audit.actors(uow)
    query = {"actor": f.actor, "action": f.action, "object_type": f.object_type, "object_id": f.object_id,
             "since": since if start else "", "until": until if end else ""}
    more = None
    if len(rows) == audit.PAGE_SIZE:
        more = "/admin/audit?" + urlencode({**{k: v for k, v in query.items() if v}, "before": rows[-1].id})
    return render(request, "audit.html", "admin.audit.title", rows=rows, actors=actors,
                  actions=[a.value for a in Action], object_types=OBJECT_TYPES, q=query, more=more, links=LINKS)
