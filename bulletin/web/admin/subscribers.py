"""`/admin/subscribers` (admins): search people by address or name (`?q=`), filter by list, status and language,
page through them; add someone to a list. `/admin/subscribers/{id}`: a person's whole history, and what an admin
does for them: add to a list, change name or language, unsubscribe (behind a confirmation page), invite back
someone who left, download their data (JSON), erase them (behind a confirmation page). The rules are
services.people's; the handlers parse the form and call it."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from fastapi import Depends, Form, Path, Request
from fastapi.responses import Response

from bulletin.errors import BulletinError
from bulletin.services import lists, people
from bulletin.services.errors import InputRefused
from bulletin.services.subscriptions import ConsentRefused
from bulletin.states import Role
from bulletin.web.admin.access import Visit, page, visit, workspace
from bulletin.web.admin.views import redirect, render, said, strings

SubscriberId = Path(ge=1, le=2**31 - 1)
DONE = {"added", "confirmed", "updated", "already", "saved", "unsubscribed", "nothing", "invited", "erased"}


#: Where a subscription or an event came from (the `source` column), as the person's page says it.
SOURCES = {"web": "web", "one-click": "one_click", "web:undo": "undo", "cli": "cli"}
PREFIXED = {"import": "import", "admin": "admin", "bounce": "bounce"}


def source_label(t, source: str) -> str:
    if source in SOURCES:
        return t(f"admin.source.{SOURCES[source]}")
    prefix, _, rest = source.partition(":")
    if prefix in PREFIXED and rest:
        return t(f"admin.source.{PREFIXED[prefix]}", value=rest)
    return source


def _notice(request: Request) -> str:
    done = request.query_params.get("done")
    return strings(request)(f"admin.done.person_{done}") if done in DONE else ""


def _languages(ws) -> list[str]:
    return list(ws.site.cfg.organisation.languages)


@page("/subscribers", role=Role.ADMIN)
def subscribers_index(request: Request, q: str = "", list: str = "", status: str = "", language: str = "",
                      after: str = ""):
    return _index(request, {"q": q, "list": list, "status": status, "language": language}, after)


def _index(request: Request, filters: dict, after: str = "", *, status: int = 200, error=None, form=None):
    ws = workspace(request)
    search_error = None
    with ws.site.store.unit_of_work() as uow:
        all_lists = lists.all_lists(uow)
        try:
            found = people.search(uow, query=filters["q"], list_slug=filters["list"], status=filters["status"],
                                  language=filters["language"], after=after)
        except InputRefused as e:
            search_error = said(request, e.message)
            found = people.SearchPage([], None)
    kept = {k: v for k, v in filters.items() if v}
    more = f"/admin/subscribers?{urlencode({**kept, 'after': found.next_after})}" if found.next_after else None
    first = f"/admin/subscribers?{urlencode(kept)}" if after else None
    return render(request, "subscribers.html", "admin.subscribers.title", status=status, rows=found.rows,
                  filters=filters, lists=all_lists, statuses=people.STATUS_FILTERS, languages_=_languages(ws),
                  more=more, first=first, search_error=search_error, error=error,
                  form=form or {"language": ws.site.cfg.organisation.language}, notice=_notice(request))


@page("/subscribers", role=Role.ADMIN, methods=("POST",))
def add_subscriber(request: Request, email: str = Form(""), name: str = Form(""), language: str = Form(""),
                   list_slug: str = Form("", alias="list"), v: Visit = Depends(visit)):
    ws = workspace(request)
    form = {"email": email, "name": name, "language": language, "list": list_slug}
    try:
        added = ws.site.store.run(people.add, ws.site.cfg, email, list_slug, name=name, language=language,
                                  actor=v.actor, now=v.now)
    except InputRefused as e:
        return _index(request, _no_filters(), status=400, form=form,
                      error=(e.field, said(request, e.message)))
    except ConsentRefused as e:
        return _index(request, _no_filters(), status=409, form=form,
                      error=("email", said(request, e.message)))
    return redirect(f"/admin/subscribers/{added.membership.subscriber_id}?done={added.outcome}")


def _no_filters() -> dict:
    return {"q": "", "list": "", "status": "", "language": ""}


def _person_page(request: Request, subscriber_id: int, *, status: int = 200, error=None, form=None):
    ws = workspace(request)
    with ws.site.store.unit_of_work() as uow:
        p = people.person(uow, subscriber_id)
        all_lists = lists.all_lists(uow)
    to_add, to_invite = people.lists_to_offer(p, all_lists)
    return render(request, "subscriber.html", "admin.person.title",
                  title_values={"who": p.name or p.email if not p.erased else strings(request)("admin.person.erased_name")},
                  status=status, p=p, to_add=to_add, to_invite=to_invite, languages_=_languages(ws), error=error,
                  form=form or {"name": p.name, "language": p.language}, notice=_notice(request),
                  source_of=lambda value: source_label(strings(request), value))


@page("/subscribers/{subscriber_id}", role=Role.ADMIN)
def subscriber_page(request: Request, subscriber_id: int = SubscriberId):
    return _person_page(request, subscriber_id)


@page("/subscribers/{subscriber_id}/edit", role=Role.ADMIN, methods=("POST",))
def edit_subscriber(request: Request, subscriber_id: int = SubscriberId, name: str = Form(""),
                    language: str = Form(""), v: Visit = Depends(visit)):
    ws = workspace(request)
    try:
        with ws.site.store.unit_of_work() as uow:
            changed = people.update(uow, ws.site.cfg, subscriber_id, name=name, language=language, actor=v.actor,
                                    now=v.now)
    except InputRefused as e:
        return _person_page(request, subscriber_id, status=400, form={"name": name, "language": language},
                            error=(e.field or "edit", said(request, e.message)))
    return redirect(f"/admin/subscribers/{subscriber_id}?done={'saved' if changed else 'nothing'}")


@page("/subscribers/{subscriber_id}/lists", role=Role.ADMIN, methods=("POST",))
def add_to_list(request: Request, subscriber_id: int = SubscriberId, list_slug: str = Form("", alias="list"),
                v: Visit = Depends(visit)):
    ws = workspace(request)
    try:
        with ws.site.store.unit_of_work() as uow:
            email = people.person(uow, subscriber_id).email
        added = ws.site.store.run(people.add, ws.site.cfg, email, list_slug, actor=v.actor, now=v.now)
    except (InputRefused, ConsentRefused) as e:
        return _person_page(request, subscriber_id, status=409 if isinstance(e, ConsentRefused) else 400,
                            error=("list", said(request, e.message)))
    return redirect(f"/admin/subscribers/{subscriber_id}?done={added.outcome}")


@page("/subscribers/{subscriber_id}/unsubscribe", role=Role.ADMIN)
def unsubscribe_question(request: Request, subscriber_id: int = SubscriberId, list: str = ""):
    ws = workspace(request)
    with ws.site.store.unit_of_work() as uow:
        p = people.person(uow, subscriber_id)
    t = strings(request)
    on = p.on(list) if list else None
    question = t("admin.person.unsubscribe.question", email=p.email, list=on.name) if on else \
        t("admin.person.unsubscribe.question_all", email=p.email)
    return render(request, "confirm.html", "admin.person.unsubscribe.title", question=question,
                  action=f"/admin/subscribers/{subscriber_id}/unsubscribe", hidden={"list": on.slug if on else ""},
                  button_key="admin.person.unsubscribe.button", back=f"/admin/subscribers/{subscriber_id}")


@page("/subscribers/{subscriber_id}/unsubscribe", role=Role.ADMIN, methods=("POST",))
def unsubscribe(request: Request, subscriber_id: int = SubscriberId, list_slug: str = Form("", alias="list"),
                v: Visit = Depends(visit)):
    ws = workspace(request)
    try:
        with ws.site.store.unit_of_work() as uow:
            done = people.unsubscribe(uow, subscriber_id, list_slug or None, actor=v.actor, now=v.now)
    except InputRefused as e:
        return _person_page(request, subscriber_id, status=400,
                            error=("list", said(request, e.message)))
    return redirect(f"/admin/subscribers/{subscriber_id}?done={'unsubscribed' if done else 'nothing'}")


@page("/subscribers/{subscriber_id}/invite", role=Role.ADMIN, methods=("POST",))
def invite(request: Request, subscriber_id: int = SubscriberId, list_slug: str = Form("", alias="list"),
           v: Visit = Depends(visit)):
    """Mail someone who left a link to come back to the list: only they can confirm it."""
    ws = workspace(request)
    t = strings(request)
    try:
        with ws.site.store.unit_of_work() as uow:
            invitation = people.invitation(uow, ws.site.cfg, subscriber_id, list_slug)
    except (InputRefused, ConsentRefused) as e:
        return _person_page(request, subscriber_id, status=409 if isinstance(e, ConsentRefused) else 400,
                            error=("invite", said(request, e.message)))
    try:
        ws.site.invitations.send_now(invitation)
    except (BulletinError, OSError) as e:
        return _person_page(request, subscriber_id, status=502,
                            error=("invite", t("admin.person.invite.failed", reason=str(e))))
    with ws.site.store.unit_of_work() as uow:
        people.invited(uow, subscriber_id, list_slug, actor=v.actor, now=v.now)
    return redirect(f"/admin/subscribers/{subscriber_id}?done=invited")


@page("/subscribers/{subscriber_id}/export", role=Role.ADMIN, methods=("POST",))
def export(request: Request, subscriber_id: int = SubscriberId, v: Visit = Depends(visit)):
    """Everything held about the person, as a JSON file (a POST: the download is in the audit log)."""
    with workspace(request).site.store.unit_of_work() as uow:
        data = people.export(uow, subscriber_id, actor=v.actor, now=v.now)
    return Response(json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"),
                    media_type="application/json; charset=utf-8", headers={
                        "Content-Disposition": f'attachment; filename="subscriber-{subscriber_id}.json"',
                        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@page("/subscribers/{subscriber_id}/erase", role=Role.ADMIN)
def erase_question(request: Request, subscriber_id: int = SubscriberId):
    ws = workspace(request)
    with ws.site.store.unit_of_work() as uow:
        p = people.person(uow, subscriber_id)
    if p.erased:
        return redirect(f"/admin/subscribers/{subscriber_id}")
    return render(request, "confirm.html", "admin.person.erase.title",
                  question=strings(request)("admin.person.erase.question", email=p.email),
                  action=f"/admin/subscribers/{subscriber_id}/erase", button_key="admin.person.erase.button",
                  back=f"/admin/subscribers/{subscriber_id}")


@page("/subscribers/{subscriber_id}/erase", role=Role.ADMIN, methods=("POST",))
def erase(request: Request, subscriber_id: int = SubscriberId, v: Visit = Depends(visit)):
    ws = workspace(request)
    try:
        with ws.site.store.unit_of_work() as uow:
            people.erase(uow, ws.site.cfg, subscriber_id, actor=v.actor, now=v.now)
    except InputRefused as e:
        return _person_page(request, subscriber_id, status=409,
                            error=("erase", said(request, e.message)))
    return redirect(f"/admin/subscribers/{subscriber_id}?done=erased")
