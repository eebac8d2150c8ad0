"""`/admin/imports` (admins): upload a subscriber file for a list, see the same report as the command line (a dry
run: counts, every rejected row with its line and reason, warnings, in the reader's language), then confirm or
abandon it; and download a list as CSV. A large file is checked and imported in the background
(services.imports.ImportRunner): its page shows the progress kept in the database, refreshed by htmx or by a
plain reload, and the other pages answer meanwhile.

The upload route reads the file itself after the guard (`upload=True`, no Form parameters): a visitor or an
editor is refused before the body is read, and limits.BodyLimit refuses a body over `[web].upload_max_mb`.
"""

from __future__ import annotations

from fastapi import Depends, Form, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from bulletin.i18n import Message
from bulletin.services import imports, lists
from bulletin.services.errors import InputRefused
from bulletin.states import Role
from bulletin.web.admin.access import Visit, page, visit, workspace
from bulletin.web.admin.limits import upload_max
from bulletin.web.admin.lists import export_response
from bulletin.web.admin.views import fragment, redirect, render, said, strings

JobId = Path(ge=1, le=2**31 - 1)
#: Notes of a section shown on the page; all of them are in the downloadable report.
SHOWN = 200
DONE = {"abandoned", "confirmed", "checking"}


def _index(request: Request, *, status: int = 200, error=None, form=None):
    ws = workspace(request)
    v: Visit = request.state.visit
    with ws.site.store.unit_of_work() as uow:
        jobs = imports.recent_jobs(uow, now=v.now)
        all_lists = lists.all_lists(uow)
    done = request.query_params.get("done")
    return render(request, "imports.html", "admin.imports.title", status=status, jobs=jobs, lists=all_lists,
                  error=error, form=form or {}, max_mb=ws.site.cfg.web.upload_max_mb,
                  notice=strings(request)(f"admin.done.import_{done}") if done in DONE else "")


@page("/imports", role=Role.ADMIN)
def imports_index(request: Request):
    return _index(request)


def _store_upload(ws, upload: UploadFile, list_slug: str, v: Visit) -> int:
    with ws.site.store.unit_of_work() as uow:
        lists.require_list(uow, list_slug, open_only=True)
    stored, size = imports.save_upload(ws.site.cfg, upload.file, max_bytes=upload_max(ws.site.cfg))
    try:
        with ws.site.store.unit_of_work() as uow:
            job = imports.start(uow, ws.site.cfg, list_slug=list_slug, file_name=upload.filename or "", stored_name=stored,
                                size=size, actor=v.actor, now=v.now)
    except BaseException:
        (imports.uploads_folder(ws.site.cfg) / stored).unlink(missing_ok=True)
        raise
    return job.id


@page("/imports", role=Role.ADMIN, methods=("POST",), upload=True)
async def upload(request: Request, v: Visit = Depends(visit)):
    ws = workspace(request)
    form = await request.form()  # parsed by the guard already, after it let an admin in
    upload_ = form.get("file")
    list_slug = str(form.get("list") or "")
    try:
        if not isinstance(upload_, UploadFile) or not upload_.filename:
            raise InputRefused(Message("import.upload.missing"), field="file")
        job_id = await run_in_threadpool(_store_upload, ws, upload_, list_slug, v)
    except InputRefused as e:
        return _index(request, status=400, form={"list": list_slug},
                      error=(e.field, said(request, e.message)))
    finally:
        await form.close()
    ws.imports.check(job_id)
    return redirect(f"/admin/imports/{job_id}")


def _notes(report, language: str, fallback: str, limit: int | None):
    sections = []
    for section in imports.SECTIONS:
        notes = getattr(report, section)
        shown = notes if limit is None else notes[:limit]
        sections.append((section, len(notes), [(n.line, n.email, n.text(language, fallback)) for n in shown]))
    return sections


def _job_page(request: Request, job_id: int, *, status: int = 200, error: str = ""):
    ws = workspace(request)
    v: Visit = request.state.visit
    with ws.site.store.unit_of_work() as uow:
        job = imports.get_job(uow, job_id, now=v.now)
    t = strings(request)
    org = ws.site.cfg.organisation.language
    sections = _notes(job.report, t.language, org, SHOWN) if job.report else []
    failure = ""
    if job.error is not None:
        failure = job.error.render(t.language, org) if isinstance(job.error, Message) else job.error
    done = request.query_params.get("done")
    return render(request, "import.html", "admin.import.title", title_values={"name": job.file_name}, status=status,
                  live=job.running, job=job, r=job.report, sections=sections, shown=SHOWN, failure=failure,
                  error=error, notice=t(f"admin.done.import_{done}") if done in DONE else "")


@page("/imports/{job_id}", role=Role.ADMIN)
def job_page(request: Request, job_id: int = JobId):
    return _job_page(request, job_id)


@page("/imports/{job_id}/progress", role=Role.ADMIN, live=True)
def job_progress(request: Request, job_id: int = JobId, v: Visit = Depends(visit)):
    """The progress of a running job, for htmx to swap in; once it stopped, the whole page reloads."""
    ws = workspace(request)
    with ws.site.store.unit_of_work() as uow:
        job = imports.get_job(uow, job_id, now=v.now)
    response = fragment(request, "import_progress.html", job=job)
    if not job.running:
        response.headers["HX-Refresh"] = "true"
    return response


def _act(request: Request, job_id: int, act) -> Response:
    ws = workspace(request)
    try:
        act(ws)
    except InputRefused as e:
        return _job_page(request, job_id, status=409, error=said(request, e.message))
    return None


@page("/imports/{job_id}/confirm", role=Role.ADMIN, methods=("POST",))
def confirm(request: Request, job_id: int = JobId, v: Visit = Depends(visit)):
    def act(ws):
        with ws.site.store.unit_of_work() as uow:
            imports.ask_confirm(uow, job_id, now=v.now)
        ws.imports.run_import(job_id, v.actor)

    return _act(request, job_id, act) or redirect(f"/admin/imports/{job_id}?done=confirmed")


@page("/imports/{job_id}/check", role=Role.ADMIN, methods=("POST",))
def check_again(request: Request, job_id: int = JobId, v: Visit = Depends(visit)):
    def act(ws):
        with ws.site.store.unit_of_work() as uow:
            imports.check_again(uow, job_id, now=v.now)
        ws.imports.check(job_id)

    return _act(request, job_id, act) or redirect(f"/admin/imports/{job_id}?done=checking")


@page("/imports/{job_id}/abandon", role=Role.ADMIN, methods=("POST",))
def abandon(request: Request, job_id: int = JobId, v: Visit = Depends(visit)):
    def act(ws):
        with ws.site.store.unit_of_work() as uow:
            imports.abandon(uow, ws.site.cfg, job_id, actor=v.actor, now=v.now)

    return _act(request, job_id, act) or redirect(f"/admin/imports/{job_id}?done=abandoned")


@page("/imports/{job_id}/report", role=Role.ADMIN)
def report_text(request: Request, job_id: int = JobId, v: Visit = Depends(visit)):
    """The whole report as text, in the reader's language, as the command line prints it."""
    ws = workspace(request)
    with ws.site.store.unit_of_work() as uow:
        job = imports.get_job(uow, job_id, now=v.now)
    if job.report is None:
        return redirect(f"/admin/imports/{job_id}")
    t = strings(request)
    r = job.report
    lines = [t("cli.import.head", dry=t("cli.import.dry_run") if r.dry_run else "", path=r.path, list=r.list_slug,
               rows=r.rows, encoding=r.encoding, delimiter=repr(r.delimiter)),
             t("cli.import.counts", added=r.added, updated=r.updated, unchanged=r.unchanged,
               duplicates=len(r.duplicates), not_resubscribed=len(r.not_resubscribed), rejected=len(r.rejected))]
    for section, count, notes in _notes(r, t.language, ws.site.cfg.organisation.language, None):
        if count:
            lines.append(t(f"cli.import.section.{section}"))
            lines += [t("cli.import.note", line=line, email=repr(email), reason=reason) for line, email, reason in notes]
    return Response(("\n".join(lines) + "\n").encode("utf-8"), media_type="text/plain; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="import-{job_id}.txt"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})


@page("/imports/export", role=Role.ADMIN, methods=("POST",))
def export(request: Request, list_slug: str = Form("", alias="list"), v: Visit = Depends(visit)):
    ws = workspace(request)
    try:
        with ws.site.store.unit_of_work() as uow:
            lists.require_list(uow, list_slug)
    except InputRefused as e:
        return _index(request, status=400, error=("export", said(request, e.message)))
    return export_response(request, list_slug, v)
