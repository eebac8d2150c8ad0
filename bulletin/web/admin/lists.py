"""`/admin/lists` (admins): every list with its people counted by status and language; create one, rename and
describe one, archive one behind a confirmation page or bring it back, and download one as CSV. The rules are
services.lists' and services.imports'."""

from __future__ import annotations

import io

from fastapi import Depends, Form, Path, Request
from fastapi.responses import Response

from bulletin.services import imports, lists
from bulletin.services.errors import InputRefused
from bulletin.states import Role, SubscriptionStatus
from bulletin.web.admin.access import Visit, page, visit, workspace
from bulletin.web.admin.views import redirect, render, said, strings

Slug = Path(max_length=lists.SLUG_MAX, pattern=r"^[a-z0-9][a-z0-9_-]*$")
DONE = {"added", "saved", "archived", "restored"}
STATUSES = tuple(SubscriptionStatus)


def _index(request: Request, *, status: int = 200, error=None, form=None):
    ws = workspace(request)
    with ws.site.store.unit_of_work() as uow:
        rows = lists.list_summaries(uow, languages=True)
    done = request.query_params.get("done")
    return render(request, "lists.html", "admin.lists.title", status=status, rows=rows, statuses=STATUSES,
                  error=error, form=form or {}, description_max=lists.DESCRIPTION_MAX,
                  notice=strings(request)(f"admin.done.list_{done}") if done in DONE else "")


@page("/lists", role=Role.ADMIN)
def lists_index(request: Request):
    return _index(request)


@page("/lists", role=Role.ADMIN, methods=("POST",))
def add_list(request: Request, slug: str = Form(""), name: str = Form(""), description: str = Form(""),
             v: Visit = Depends(visit)):
    ws = workspace(request)
    try:
        ws.site.store.run(lists.create_list, slug, name, description, actor=v.actor, now=v.now)
    except InputRefused as e:
        return _index(request, status=400, error=(e.field, said(request, e.message)),
                      form={"slug": slug, "name": name, "description": description})
    return redirect("/admin/lists?done=added")


def _edit(request: Request, slug: str, *, status: int = 200, error=None, form=None):
    ws = workspace(request)
    with ws.site.store.unit_of_work() as uow:
        found = next(iter(lists.list_summaries(uow, languages=True, slug=slug)), None)
    if found is None:
        with ws.site.store.unit_of_work() as uow:
            lists.get_list(uow, slug)  # NotFoundError: the 404 page
    done = request.query_params.get("done")
    return render(request, "list.html", "admin.list.title", title_values={"name": found.name}, status=status,
                  l=found, statuses=STATUSES, error=error, description_max=lists.DESCRIPTION_MAX,
                  form=form or {"name": found.name, "description": found.description},
                  notice=strings(request)(f"admin.done.list_{done}") if done in DONE else "")


@page("/lists/{slug}", role=Role.ADMIN)
def list_page(request: Request, slug: str = Slug):
    return _edit(request, slug)


@page("/lists/{slug}", role=Role.ADMIN, methods=("POST",))
def save_list(request: Request, slug: str = Slug, name: str = Form(""), description: str = Form(""),
              v: Visit = Depends(visit)):
    ws = workspace(request)
    try:
        with ws.site.store.unit_of_work() as uow:
            lists.update_list(uow, slug, name, description, actor=v.actor, now=v.now)
    except InputRefused as e:
        return _edit(request, slug, status=400, error=(e.field, said(request, e.message)),
                     form={"name": name, "description": description})
    return redirect(f"/admin/lists/{slug}?done=saved")


@page("/lists/{slug}/archive", role=Role.ADMIN)
def archive_question(request: Request, slug: str = Slug):
    ws = workspace(request)
    with ws.site.store.unit_of_work() as uow:
        found = lists.get_list(uow, slug)
    return render(request, "confirm.html", "admin.list.archive.title", title_values={"name": found.name},
                  question=strings(request)("admin.list.archive.question", name=found.name, slug=slug),
                  action=f"/admin/lists/{slug}/archive", button_key="admin.list.archive.button",
                  back=f"/admin/lists/{slug}")


@page("/lists/{slug}/archive", role=Role.ADMIN, methods=("POST",))
def archive_list(request: Request, slug: str = Slug, v: Visit = Depends(visit)):
    with workspace(request).site.store.unit_of_work() as uow:
        lists.archive_list(uow, slug, actor=v.actor, now=v.now)
    return redirect(f"/admin/lists/{slug}?done=archived")


@page("/lists/{slug}/restore", role=Role.ADMIN, methods=("POST",))
def restore_list(request: Request, slug: str = Slug, v: Visit = Depends(visit)):
    with workspace(request).site.store.unit_of_work() as uow:
        lists.restore_list(uow, slug, actor=v.actor, now=v.now)
    return redirect(f"/admin/lists/{slug}?done=restored")


@page("/lists/{slug}/export", role=Role.ADMIN, methods=("POST",))
def export_list(request: Request, slug: str = Slug, v: Visit = Depends(visit)):
    """The list as a CSV file that `subscribers import` (and the imports page) reads back to the same state.
    A POST: the download is written to the audit log."""
    return export_response(request, slug, v)


def export_response(request: Request, slug: str, v: Visit) -> Response:
    ws = workspace(request)
    out = io.BytesIO()
    with ws.site.store.unit_of_work() as uow:
        # The organisation's spreadsheets' delimiter and a BOM; formulas neutralised (services.imports).
        n = imports.export_file(uow, slug, out, fmt=imports.export_format(ws.site.cfg))
        lists.exported(uow, slug, n, actor=v.actor, now=v.now)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{slug}-{v.now:%Y%m%d}.csv"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})
