"""`/admin/issues` and `/admin/issues/{slug}`: the issue folders, and each one edited in the browser with its
preview and what `check` says next to each field; then a test send, approval and scheduling.

The handlers parse forms and call services.editor (the folder as a form, saved into its own files) and
services.workflow (state, test send, approval, schedule). The preview is the email as `bulletin preview`
shows it, served by the workspace into sandboxed frames: its own Content-Security-Policy lets it keep its
inline styles and load its images from here, and nothing else (no script, no other site).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import html
import re
from zoneinfo import ZoneInfo

from fastapi import Depends, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from bulletin.errors import BulletinError
from bulletin.services import editor, lists, sends, workflow
from bulletin.services.errors import InputRefused
from bulletin.states import Role
from bulletin.web.admin.access import PREFIX, Visit, page, visit, workspace
from bulletin.web.admin.views import redirect, render, said, strings

#: What a notice after a redirect may say (?done=KEY shows admin.issue.done.KEY).
DONE = {"created", "saved", "unchanged", "added", "moved", "removed", "tested", "approved", "resolved", "kept"}
VIEWS = ("phone", "desktop", "text")
#: The preview frame's own policy: the email's inline styles and its images from here; no script, no form,
#: no other site; shown only inside the workspace's pages. The sandbox keeps the frame's origin (without it the
#: draft's images, which need the session, would not load) and no script may run in it, so it cannot use it.
PREVIEW_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
               "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox allow-same-origin "
               "allow-popups allow-popups-to-escape-sandbox")
PREVIEW_HEADERS = {"Cache-Control": "no-store", "Content-Security-Policy": PREVIEW_CSP,
                   "X-Content-Type-Options": "nosniff", "X-Frame-Options": "SAMEORIGIN",
                   "Referrer-Policy": "no-referrer"}


def _cfg(request: Request):
    return workspace(request).site.cfg


def _missing(request: Request, e: InputRefused):
    return render(request, "message.html", "admin.issue.missing.title", status=404, lines=[said(request, e.message)],
                  error=True, back=f"{PREFIX}/issues")


def _today(request: Request, v: Visit) -> dt.date:
    return v.now.astimezone(ZoneInfo(_cfg(request).organisation.timezone)).date()


# -- the list ----------------------------------------------------------------------------------------------------

def _index(request: Request, v: Visit, *, status: int = 200, error=None, slug: str = ""):
    ws = workspace(request)
    with ws.site.store.unit_of_work() as uow:
        rows = workflow.issue_rows(uow, ws.site.cfg)
    return render(request, "issues.html", "admin.issues.title", status=status, rows=rows, error=error,
                  slug=slug or editor.suggested_slug(ws.site.cfg, _today(request, v)),
                  limit_kb=ws.site.cfg.compose.max_edition_kb)


@page("/issues", role=Role.EDITOR)
def issues_index(request: Request, v: Visit = Depends(visit)):
    return _index(request, v)


@page("/issues", role=Role.EDITOR, methods=("POST",))
def new_issue(request: Request, slug: str = Form(""), v: Visit = Depends(visit)):
    ws = workspace(request)
    try:
        created = editor.new_issue(ws.site.store, ws.site.cfg, slug, actor=v.actor, now=v.now,
                                   today=_today(request, v))
    except InputRefused as e:
        return _index(request, v, status=400, error=said(request, e.message), slug=slug)
    return redirect(f"{PREFIX}/issues/{created}?done=created")


# -- the editor ----------------------------------------------------------------------------------------------------

def _editor(request: Request, slug: str, *, status: int = 200, submission=None, refused=None, view: str = "phone",
            lang: str = ""):
    cfg = _cfg(request)
    t = strings(request)
    try:
        ev = editor.open_issue(cfg, slug, submission)
    except InputRefused as e:
        return _missing(request, e)
    lang = lang if lang in ev.form.editions else ev.form.editions[0]
    text = None
    if view == "text" and ev.buildable:
        text = _preview(cfg, slug, lang).text
    done = request.query_params.get("done")
    refused = {k: said(request, m) for k, m in (refused or {}).items()}
    return render(request, "issue.html", "admin.issue.title", title_values={"slug": slug}, status=status,
                  frames=True, ev=ev, form=ev.form, slug=slug, view=view if view in VIEWS else "phone", edition=lang,
                  text=text, refused=refused, upload_max=cfg.web.upload_max_mb,
                  version=_stamp(ev), fid=field_id, problem_text=_problem_text(t.language, cfg),
                  notice=t(f"admin.issue.done.{done}") if done in DONE else "", tab="edit")


def _stamp(ev) -> str:
    """A short token of the files' versions: the preview frames' address changes when a file does."""
    return hashlib.sha256("".join(f.version for f in ev.form.files()).encode()).hexdigest()[:12]


def field_id(rel: str, key: str) -> str:
    """An element id for the field `key` of the file `rel`."""
    return "f-" + re.sub(r"[^A-Za-z0-9]+", "-", f"{rel}-{key}").strip("-")


def _problem_text(language: str, cfg):
    fallback = cfg.organisation.language

    def text(problem) -> tuple[str, str]:
        message = problem.message.render(language, fallback)
        hint = problem.hint.render(language, fallback) if problem.hint is not None else ""
        return message, hint

    return text


@page("/issues/{slug}", role=Role.EDITOR)
def edit_issue(request: Request, slug: str, view: str = "phone", lang: str = ""):
    return _editor(request, slug, view=view, lang=lang)


async def _submission(request: Request) -> tuple[dict[str, list[str]], list[editor.Upload]]:
    form = await request.form()  # the body is capped before this (web/bodylimit.py)
    fields: dict[str, list[str]] = {}
    uploads = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if value.filename:
                uploads.append(editor.Upload(key, value.filename, await value.read()))
            continue
        fields.setdefault(key, []).append(value)
    return fields, uploads


@page("/issues/{slug}", role=Role.EDITOR, methods=("POST",), upload=True)
async def save_issue(request: Request, slug: str, v: Visit = Depends(visit)):
    ws = workspace(request)
    cfg = ws.site.cfg
    fields, uploads = await _submission(request)
    action = (fields.get("action") or ["save"])[-1]
    try:
        saved = await run_in_threadpool(editor.save, ws.site.store, cfg, slug, fields, uploads, actor=v.actor,
                                        now=v.now)
    except InputRefused as e:
        return _missing(request, e)
    if saved.refused:
        return _editor(request, slug, status=400, submission=fields, refused=saved.refused)
    if saved.conflicts:
        return _conflicts(request, slug, saved)
    verb, _, target = action.partition(":")
    try:
        if verb == "add":
            new_title = (fields.get("new_title") or [""])[-1]
            stem = await run_in_threadpool(editor.add_block, ws.site.store, cfg, slug, new_title, actor=v.actor,
                                           now=v.now)
            return redirect(f"{PREFIX}/issues/{slug}?done=added#block-{stem}")
        if verb in ("up", "down"):
            stem = await run_in_threadpool(editor.move_block, ws.site.store, cfg, slug, target,
                                           -1 if verb == "up" else 1, actor=v.actor, now=v.now)
            return redirect(f"{PREFIX}/issues/{slug}?done=moved#block-{stem}")
        if verb == "remove":
            editor.block_title(cfg, slug, target)
            return redirect(f"{PREFIX}/issues/{slug}/blocks/{target}/remove")
    except InputRefused as e:
        refused = {e.field: e.message} if e.field == "new_title" else {"": e.message}
        return _editor(request, slug, status=400, submission=fields, refused=refused)
    anchor = f"#{target}" if verb == "save" and re.fullmatch(r"[A-Za-z0-9-]{1,80}", target or "") else ""
    done = "saved" if saved.changed else "unchanged"
    return redirect(f"{PREFIX}/issues/{slug}?done={done}{anchor}")


def _conflicts(request: Request, slug: str, saved: editor.Saved, *, status: int = 409):
    rows = []
    for c in saved.conflicts:
        diff = list(difflib.unified_diff((c.theirs or "").splitlines(), c.mine.splitlines(), "disk", "mine",
                                         n=2, lineterm=""))[2:]
        rows.append({"rel": c.rel, "theirs": c.theirs, "mine": c.mine, "version": c.version, "diff": diff})
    return render(request, "issue_conflict.html", "admin.issue.conflict.title", title_values={"slug": slug},
                  status=status, slug=slug, rows=rows, written=saved.written, fid=field_id)


@page("/issues/{slug}/resolve", role=Role.EDITOR, methods=("POST",))
def resolve_conflict(request: Request, slug: str, file: str = Form(""), text: str = Form(""),
                     version: str = Form(""), choice: str = Form(""), v: Visit = Depends(visit)):
    ws = workspace(request)
    if choice != "mine":
        return redirect(f"{PREFIX}/issues/{slug}?done=kept")
    try:
        again = editor.resolve(ws.site.store, ws.site.cfg, slug, file, text, version, actor=v.actor, now=v.now)
    except InputRefused as e:
        return _missing(request, e)
    if again is not None:
        return _conflicts(request, slug, editor.Saved(conflicts=[again]))
    return redirect(f"{PREFIX}/issues/{slug}?done=resolved")


@page("/issues/{slug}/blocks/{block}/remove", role=Role.EDITOR)
def remove_question(request: Request, slug: str, block: str):
    try:
        title = editor.block_title(_cfg(request), slug, block)
    except InputRefused as e:
        return _missing(request, e)
    return render(request, "confirm.html", "admin.issue.remove.title",
                  question=strings(request)("admin.issue.remove.question", title=title, block=block),
                  action=f"{PREFIX}/issues/{slug}/blocks/{block}/remove", button_key="admin.issue.remove.button",
                  back=f"{PREFIX}/issues/{slug}#block-{block}")


@page("/issues/{slug}/blocks/{block}/remove", role=Role.EDITOR, methods=("POST",))
def remove_block(request: Request, slug: str, block: str, v: Visit = Depends(visit)):
    ws = workspace(request)
    try:
        editor.remove_block(ws.site.store, ws.site.cfg, slug, block, actor=v.actor, now=v.now)
    except InputRefused as e:
        return _missing(request, e)
    return redirect(f"{PREFIX}/issues/{slug}?done=removed#news")


# -- preview -------------------------------------------------------------------------------------------------------

def _preview(cfg, slug: str, lang: str) -> editor.Preview:
    return editor.preview(cfg, slug, lang, images_url=f"{PREFIX}/issues/{slug}/images/", icons_url="/email/icons/")


@page("/issues/{slug}/preview", role=Role.EDITOR)
def preview_page(request: Request, slug: str, lang: str = ""):
    cfg = _cfg(request)
    try:
        ev = editor.open_issue(cfg, slug)
    except InputRefused as e:
        return _missing(request, e)
    lang = lang if lang in ev.form.editions else ev.form.editions[0]
    text = _preview(cfg, slug, lang).text if ev.buildable else None
    return render(request, "issue_preview.html", "admin.issue.preview.title", title_values={"slug": slug},
                  frames=True, ev=ev, form=ev.form, slug=slug, edition=lang, text=text, version=_stamp(ev),
                  problem_text=_problem_text(strings(request).language, cfg), tab="preview")


@page("/issues/{slug}/preview/{lang}", role=Role.EDITOR)
def preview_frame(request: Request, slug: str, lang: str):
    """The email of one edition, for a sandboxed frame of the editor."""
    cfg = _cfg(request)
    try:
        shown = _preview(cfg, slug, lang)
    except InputRefused as e:
        return _missing(request, e)
    except BulletinError as e:  # it stopped building since the page was shown (the page says why)
        return Response(f"<!doctype html><meta charset=utf-8><p>{html.escape(str(e))}</p>", status_code=409,
                        media_type="text/html; charset=utf-8", headers=PREVIEW_HEADERS)
    # Links open outside the frame (the sandbox lets them open a new tab, nothing else).
    email = shown.html.replace("<head>", '<head><base target="_blank">', 1)
    return Response(email, media_type="text/html; charset=utf-8", headers=PREVIEW_HEADERS)


@page("/issues/{slug}/images/{image}", role=Role.EDITOR)
def preview_image(request: Request, slug: str, image: str):
    try:
        data, media_type = editor.preview_image(_cfg(request), slug, image)
    except InputRefused as e:
        return _missing(request, e)
    except BulletinError:
        return Response(status_code=404, headers={"Cache-Control": "no-store"})
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, no-cache",
                                                          "X-Content-Type-Options": "nosniff"})




# -- test send, approval, schedule -----------------------------------------------------------------------------

def _send_page(request: Request, slug: str, v: Visit, *, status: int = 200, error=None, form=None):
    ws = workspace(request)
    cfg = ws.site.cfg
    try:
        report = workflow.check(cfg, slug)
    except InputRefused as e:
        return _missing(request, e)
    with ws.site.store.unit_of_work() as uow:
        folder_state = workflow.state_of(uow, cfg, slug, report.issue_dir)
        approval = workflow.approval(uow, cfg, slug)
        mailing_lists = lists.list_summaries(uow) if v.may(Role.ADMIN) else []
    t = strings(request)
    done = request.query_params.get("done")
    return render(request, "issue_send.html", "admin.issue.send.title", title_values={"slug": slug},
                  status=status, slug=slug, report=report, state=folder_state[0], send_id=folder_state[1],
                  send_at=folder_state[2], lists=mailing_lists, error=error, form=form or {},
                  monthly=workflow.monthly_plan(cfg, slug, v.now), approval=approval,
                  editions=[w.language for w in report.weights], limit_kb=cfg.compose.max_edition_kb,
                  problem_text=_problem_text(t.language, cfg),
                  notice=t(f"admin.issue.done.{done}", **_done_values(request)) if done in DONE else "",
                  tab="send")


def _done_values(request: Request) -> dict:
    return {"n": request.query_params.get("n", "")[:4]}


@page("/issues/{slug}/send", role=Role.EDITOR)
def send_page(request: Request, slug: str, v: Visit = Depends(visit)):
    return _send_page(request, slug, v)


@page("/issues/{slug}/test", role=Role.EDITOR, methods=("POST",))
def test_send(request: Request, slug: str, to: str = Form(""), language: str = Form(""),
              v: Visit = Depends(visit)):
    ws = workspace(request)
    try:
        sent = workflow.test_send(ws.site.store, ws.site.cfg, slug, to, [language] if language else None,
                                  actor=v.actor, now=v.now)
    except InputRefused as e:
        if e.field not in ("to", "language"):
            return _missing(request, e)
        return _send_page(request, slug, v, status=400, error=(e.field, said(request, e.message)),
                          form={"to": to, "language": language})
    return redirect(f"{PREFIX}/issues/{slug}/send?done=tested&n={len(sent.sent)}")


@page("/issues/{slug}/approve", role=Role.EDITOR, methods=("POST",))
def approve(request: Request, slug: str, v: Visit = Depends(visit)):
    ws = workspace(request)
    try:
        workflow.approve(ws.site.store, ws.site.cfg, slug, actor=v.actor, now=v.now)
    except InputRefused as e:
        if e.field != "approve":
            return _missing(request, e)
        return _send_page(request, slug, v, status=409, error=("approve", said(request, e.message)))
    return redirect(f"{PREFIX}/issues/{slug}/send?done=approved")


@page("/issues/{slug}/schedule", role=Role.ADMIN, methods=("POST",))
def schedule(request: Request, slug: str, list_slug: str = Form("", alias="list"), date: str = Form(""),
             time: str = Form(""), v: Visit = Depends(visit)):
    ws = workspace(request)
    cfg = ws.site.cfg
    form = {"list": list_slug, "date": date, "time": time}
    try:
        at = sends.parse_local(date, time, cfg, v.now)
        created = workflow.schedule(ws.site.store, cfg, slug, list_slug, at, actor=v.actor, now=v.now)
    except InputRefused as e:
        if e.field == "issue":
            return _missing(request, e)
        return _send_page(request, slug, v, status=400, error=(e.field, said(request, e.message)), form=form)
    except sends.AlreadySentError:
        t = strings(request)
        return _send_page(request, slug, v, status=409, form=form,
                          error=("list", t("admin.sends.already", issue=slug, list=list_slug)))
    except BulletinError as e:
        t = strings(request)
        return _send_page(request, slug, v, status=400, form=form,
                          error=("", t("admin.sends.refused", reason=str(e))))
    return redirect(f"{PREFIX}/sends/{created.id}?done=scheduled")

