"""Unsubscribe links: GET shows one button and changes nothing; POST (the button or RFC 8058 one-click) acts.

Mail scanners and link previewers follow GET and HEAD, so only POST changes anything. POST needs no cookie,
no session and no particular body: `List-Unsubscribe=One-Click` (urlencoded or multipart) and the page's empty
button form both unsubscribe. Every answer is 200 with a page, never a redirect (RFC 8058 senders must not
rely on clients following one).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from bulletin.services import subscriptions
from bulletin.services.subscriptions import Membership
from bulletin.states import SubscriptionStatus
from bulletin.tokens import TestSendLink, UnsubscribeToken
from bulletin.web.site import Site, get_site

router = APIRouter()

#: The states in which the page offers to unsubscribe.
MAILED = (SubscriptionStatus.SUBSCRIBED, SubscriptionStatus.UNCONFIRMED)


def _ip(request: Request) -> str:
    """Who sent the request (kept in the person's history): for one-click, usually their mail provider."""
    return request.client.host if request.client else ""


def _values(m: Membership) -> dict[str, str]:
    return {"email": m.email, "list": m.list_name}


def _test_page(site: Site, request: Request, link: TestSendLink):
    """The link of a test send: it says so, in the edition's language, and changes nothing, whatever the method."""
    t = site.strings(site.language(request, link.language))
    return site.pages.render("message.html", t.language, title=t("testsend.title"),
                             lines=[t("testsend.unsubscribe"), t("testsend.nothing")])


@router.api_route("/unsubscribe/{token}", methods=["GET", "HEAD"])
def question(token: str, request: Request, site: Site = Depends(get_site)):
    test = site.tokens.read_test_send(token)
    if test is not None:
        return _test_page(site, request, test)
    parsed = site.tokens.read_unsubscribe(token)
    with site.store.unit_of_work() as uow:
        m = subscriptions.membership(uow, parsed)
    t = site.strings(site.language(request, m.language))
    if m.status not in MAILED:
        return site.pages.render("message.html", t.language, title=t("unsubscribe.title"),
                                 lines=[t("unsubscribe.not_subscribed", **_values(m))])
    return site.pages.render(
        "message.html", t.language,
        title=t("unsubscribe.title"),
        lines=[t("unsubscribe.question", **_values(m)), t("unsubscribe.address", **_values(m))],
        action=site.url(f"/unsubscribe/{token}"),
        button=t("unsubscribe.button"),
    )


async def _is_one_click(request: Request) -> bool:
    """True for an RFC 8058 POST. Any other body still unsubscribes: the signed link itself is the proof."""
    try:
        form = await request.form()
    except Exception:
        return False
    return form.get("List-Unsubscribe") == "One-Click"


@router.post("/unsubscribe/{token}")
async def unsubscribe(token: str, request: Request, site: Site = Depends(get_site)):
    test = site.tokens.read_test_send(token)
    if test is not None:
        return _test_page(site, request, test)
    parsed = site.tokens.read_unsubscribe(token)
    source = "one-click" if await _is_one_click(request) else "web"
    # The database work blocks: off the event loop, as FastAPI does for plain `def` routes.
    return await run_in_threadpool(_unsubscribe, site, request, token, parsed, source)


def _unsubscribe(site: Site, request: Request, token: str, parsed: UnsubscribeToken, source: str):
    with site.store.unit_of_work() as uow:
        m = subscriptions.unsubscribe(uow, parsed, source=source, ip=_ip(request)).membership
    t = site.strings(site.language(request, m.language))
    can_undo = m.status == SubscriptionStatus.UNSUBSCRIBED
    return site.pages.render(
        "message.html", t.language,
        title=t("unsubscribe.done.title"),
        lines=[t("unsubscribe.done", **_values(m))] + ([t("unsubscribe.undo")] if can_undo else []),
        action=site.url(f"/unsubscribe/{token}/undo") if can_undo else None,
        button=t("unsubscribe.undo.button"),
        secondary=True,
    )


@router.post("/unsubscribe/{token}/undo")
def undo(token: str, request: Request, site: Site = Depends(get_site)):
    test = site.tokens.read_test_send(token)
    if test is not None:
        return _test_page(site, request, test)
    parsed = site.tokens.read_unsubscribe(token)
    with site.store.unit_of_work() as uow:
        m = subscriptions.undo_unsubscribe(uow, parsed, source="web:undo", ip=_ip(request)).membership
    t = site.strings(site.language(request, m.language))
    if m.status != SubscriptionStatus.SUBSCRIBED:
        return site.pages.render("message.html", t.language, title=t("unsubscribe.title"),
                                 lines=[t("unsubscribe.not_subscribed", **_values(m))])
    return site.pages.render(
        "message.html", t.language,
        title=t("resubscribe.done.title"),
        lines=[t("resubscribe.done", **_values(m))],
        action=site.url(f"/unsubscribe/{token}"),
        button=t("unsubscribe.button"),
        secondary=True,
    )
