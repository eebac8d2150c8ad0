"""`/admin/sends` and `/admin/sends/{id}`: every send with its figures, the report with its chart, and the
actions on a send (schedule, cancel behind a confirmation page, resume a waiting one), all through
services.sends, each written to the audit log there."""

from __future__ import annotations

from fastapi import Depends, Form, Path, Request

from bulletin.errors import BulletinError
from bulletin.services import dashboard, issues, lists, reports, sends
from bulletin.services.errors import InputRefused
from bulletin.states import Role, SendState
from bulletin.web.admin.access import Visit, page, visit, workspace
from bulletin.web.admin.charts import bars_svg
from bulletin.web.admin.views import Formats, fragment, redirect, render, said, strings

#: The largest id a send can have (a bigger number in the URL is a 404, not an overflow in the database).
MAX_ID = 2**31 - 1
SendId = Path(ge=1, le=MAX_ID)

#: The report's figures, in the order an admin reads them (catalogue keys admin.figure.KEY).
FIGURES = ("total", "sent", "deferred", "pending", "failed", "skipped", "bounced_hard", "bounced_soft",
           "complaints", "unsubscribed")
#: What a notice after a redirect may say (?done=KEY shows admin.done.KEY).
DONE = {"scheduled", "cancelled", "resumed"}


def _form_choices(ws) -> tuple[list[str], list]:
    with ws.site.store.unit_of_work() as uow:
        return issues.issue_slugs(ws.site.cfg), lists.all_lists(uow)


def _index(request: Request, *, status: int = 200, error=None, form=None, before: int | None = None):
    ws = workspace(request)
    with ws.site.store.unit_of_work() as uow:
        rows = sends.send_summaries(uow, before_id=before)
    slugs, mailing_lists = _form_choices(ws)
    done = request.query_params.get("done")
    t = strings(request)
    return render(request, "sends.html", "admin.sends.title", status=status, rows=rows, slugs=slugs,
                  lists=mailing_lists, error=error, form=form or {},
                  notice=t(f"admin.done.{done}") if done in DONE else "",
                  next_before=rows[-1].line.id if len(rows) == 50 else None)


@page("/sends", role=Role.ADMIN)
def sends_index(request: Request, before: int | None = None):
    return _index(request, before=before if before and 0 < before <= MAX_ID else None)


@page("/sends", role=Role.ADMIN, methods=("POST",))
def schedule_send(request: Request, issue: str = Form(""), list_slug: str = Form("", alias="list"),
                  date: str = Form(""), time: str = Form(""), v: Visit = Depends(visit)):
    ws = workspace(request)
    cfg = ws.site.cfg
    form = {"issue": issue, "list": list_slug, "date": date, "time": time}
    try:
        folder = issues.issue_dir(cfg, issue)
        with ws.site.store.unit_of_work() as uow:
            lists.require_list(uow, list_slug)
        at = sends.parse_local(date, time, cfg, v.now)
        created = sends.schedule(ws.site.store, cfg, folder, list_slug, at, actor=v.actor, now=v.now)
    except InputRefused as e:
        return _index(request, status=400, error=(e.field, said(request, e.message)),
                      form=form)
    except sends.AlreadySentError:
        t = strings(request)
        return _index(request, status=409, error=("issue", t("admin.sends.already", issue=issue, list=list_slug)),
                      form=form)
    except BulletinError as e:
        t = strings(request)
        return _index(request, status=400, error=("", t("admin.sends.refused", reason=str(e))), form=form)
    return redirect(f"/admin/sends/{created.id}?done=scheduled")


def _report(ws, send_id: int):
    with ws.site.store.unit_of_work() as uow:
        report = reports.send_report(uow, send_id)
        counts, start, end = reports.deliveries_over_time(uow, send_id)
        live = dashboard.live_send(uow, send_id)
    return report, counts, start, end, live


@page("/sends/{send_id}", role=Role.ADMIN)
def send_page(request: Request, send_id: int = SendId):
    ws = workspace(request)
    report, counts, start, end, live = _report(ws, send_id)
    t = strings(request)
    f = Formats(t.language, ws.site.cfg.organisation.timezone)
    chart = None
    if start is not None:
        chart = bars_svg(counts, f.when(start), f.when(end),
                         t("admin.send.chart", n=f.num(sum(counts)), start=f.when(start), end=f.when(end)),
                         t("admin.send.chart.max", n=f.num(max(counts))))
    outcomes = sum(report[k] for k in ("sent", "deferred", "pending", "failed", "skipped"))
    done = request.query_params.get("done")
    state = SendState(report["state"])
    return render(request, "send.html", "admin.send.title", title_values={"id": send_id}, live=state == SendState.RUNNING,
                  r=report, figures=FIGURES, chart=chart, adds_up=outcomes == report["total"], live_send=live,
                  state=state, cancellable=state in (SendState.SCHEDULED, SendState.RUNNING),
                  notice=t(f"admin.done.{done}") if done in DONE else "", send_id=send_id)


@page("/sends/{send_id}/figures", role=Role.ADMIN, live=True)
def send_figures(request: Request, send_id: int = SendId):
    """The figures table of a running send, for htmx to swap in while it runs."""
    ws = workspace(request)
    report, _counts, _start, _end, live = _report(ws, send_id)
    outcomes = sum(report[k] for k in ("sent", "deferred", "pending", "failed", "skipped"))
    return fragment(request, "send_figures.html", r=report, figures=FIGURES, adds_up=outcomes == report["total"],
                    state=SendState(report["state"]), send_id=send_id, live_send=live)


@page("/sends/{send_id}/cancel", role=Role.ADMIN)
def cancel_question(request: Request, send_id: int = SendId):
    ws = workspace(request)
    with ws.site.store.unit_of_work() as uow:
        report = reports.send_report(uow, send_id)
    return render(request, "confirm.html", "admin.send.cancel.title", title_values={"id": send_id},
                  question=strings(request)("admin.send.cancel.question", issue=report["issue"],
                                            list=report["list"], state=report["state"]),
                  action=f"/admin/sends/{send_id}/cancel", button_key="admin.send.cancel.button",
                  back=f"/admin/sends/{send_id}")


@page("/sends/{send_id}/cancel", role=Role.ADMIN, methods=("POST",))
def cancel_send(request: Request, send_id: int = SendId, v: Visit = Depends(visit)):
    ws = workspace(request)
    try:
        sends.cancel(ws.site.store, ws.site.cfg, send_id, actor=v.actor, now=v.now)
    except BulletinError as e:
        if isinstance(e, LookupError):
            raise
        return _refused(request, send_id, str(e))
    return redirect(f"/admin/sends/{send_id}?done=cancelled")


@page("/sends/{send_id}/resume", role=Role.ADMIN, methods=("POST",))
def resume_send(request: Request, send_id: int = SendId, v: Visit = Depends(visit)):
    ws = workspace(request)
    try:
        sends.resume(ws.site.store, send_id, actor=v.actor, now=v.now)
    except BulletinError as e:
        if isinstance(e, LookupError):
            raise
        return _refused(request, send_id, str(e))
    return redirect(f"/admin/sends/{send_id}?done=resumed")


def _refused(request: Request, send_id: int, reason: str):
    t = strings(request)
    return render(request, "message.html", "admin.refused.title", status=409,
                  lines=[t("admin.sends.refused", reason=reason)], back=f"/admin/sends/{send_id}")
