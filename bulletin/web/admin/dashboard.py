"""`/admin/`: what needs attention now. The running and waiting sends refresh themselves (htmx polls
`/admin/live/sends`); without JavaScript the page's own link reloads it."""

from __future__ import annotations

from fastapi import Depends, Request

from bulletin.services import dashboard as service
from bulletin.states import Role
from bulletin.web.admin.access import Visit, page, visit, workspace
from bulletin.web.admin.charts import line_svg
from bulletin.web.admin.views import Formats, fragment, render, strings


@page("/", role=Role.EDITOR)
def dashboard(request: Request, v: Visit = Depends(visit)):
    ws = workspace(request)
    with ws.site.store.unit_of_work() as uow:
        d = service.dashboard(uow, ws.site.cfg, v.now)
    t = strings(request)
    f = Formats(t.language, ws.site.cfg.organisation.timezone)
    first, last = d.subscribers[0], d.subscribers[-1]
    chart = line_svg([(f.day(at), n) for at, n in d.subscribers],
                     t("admin.dashboard.subscribers.chart", weeks=len(d.subscribers), first=f.num(first[1]),
                       last=f.num(last[1]), since=f.day(first[0])))
    return render(request, "dashboard.html", "admin.dashboard.title", live=True, d=d, chart=chart,
                  now_count=last[1])


@page("/live/sends", role=Role.EDITOR, live=True)
def live_sends(request: Request, v: Visit = Depends(visit)):
    """The running and waiting sends, for htmx to swap in every few seconds (does not keep the session alive)."""
    ws = workspace(request)
    with ws.site.store.unit_of_work() as uow:
        live = service.live_sends(uow)
    return fragment(request, "live_sends.html", running=[s for s in live if not s.waiting],
                    waiting=[s for s in live if s.waiting], csrf=v.csrf)
