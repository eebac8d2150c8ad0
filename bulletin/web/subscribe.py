"""Double opt-in: the form mails a signed confirmation link; nobody is added until that link is confirmed.

The answer to the form is the same whether the address is new, subscribed, bounced or rate-limited, in its
words, its status and its time (the mail goes from a background queue), so the page never tells a visitor who
is on a list. Limits: requests per IP (answered 429) and mails per address (silently not sent; `user+tag@`
counts as `user@`), both in `[web]`, counted in memory over the last hour.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from bulletin.errors import InvalidAddress
from bulletin.services import subscriptions
from bulletin.web.site import Site, get_site

router = APIRouter()

#: Longest value kept from a form field; anything longer is cut (a name) or refused (an address).
FIELD_MAX = 320


def _lists(site: Site) -> list[tuple[int, str, str]]:
    """(id, slug, name) of the lists the form offers."""
    with site.store.unit_of_work() as uow:
        return [(ml.id, ml.slug, ml.name) for ml in subscriptions.subscribable_lists(uow, site.cfg)]


def _form_page(site: Site, lang: str, form: dict[str, str], error: str = "", status: int = 200,
               lists: list[tuple[int, str, str]] | None = None):
    t = site.strings(lang)
    offered = [{"slug": slug, "name": name} for _id, slug, name in (lists if lists is not None else _lists(site))]
    return site.pages.render("subscribe.html", t.language, status, title=t("subscribe.title"), lists=offered,
                             form=form, error=error, languages=site.cfg.organisation.languages)


@router.get("/subscribe")
def subscribe_form(request: Request, lang: str | None = None, list: str = "", site: Site = Depends(get_site)):
    language = site.language(request, lang)
    return _form_page(site, language, {"email": "", "name": "", "language": language, "list": list})


@router.post("/subscribe")
async def subscribe(request: Request, site: Site = Depends(get_site)):
    try:
        raw = await request.form()
    except Exception:
        raw = {}
    form = {k: str(raw.get(k, ""))[:FIELD_MAX].strip() for k in ("email", "name", "language", "list", "website")}
    return await run_in_threadpool(_subscribe, site, request, form)


def _subscribe(site: Site, request: Request, form: dict[str, str]):
    lang = site.language(request, form["language"] or None)
    form["language"] = lang
    t = site.strings(lang)
    client = request.client.host if request.client else "unknown"
    if not site.per_ip.allow(client):
        return site.pages.render("message.html", lang, 429, title=t("error.rate.title"), lines=[t("error.rate")],
                                 error=True)
    try:
        email = subscriptions.check_address(form["email"])
    except InvalidAddress:
        return _form_page(site, lang, form, t("subscribe.bad_email"), 400)
    lists = _lists(site)
    by_slug = {slug: list_id for list_id, slug, _name in lists}
    list_id = by_slug.get(form["list"]) or (lists[0][0] if len(lists) == 1 and not form["list"] else None)
    if list_id is None:
        return _form_page(site, lang, form, t("subscribe.bad_list"), 400, lists)
    sent_page = site.pages.render("message.html", lang, title=t("subscribe.sent.title"),
                                  lines=[t("subscribe.sent", email=email)])
    if form["website"]:  # the honeypot: a person never sees this field
        return sent_page
    with site.store.unit_of_work() as uow:
        invitation = subscriptions.request_subscription(uow, site.cfg, email, list_id, lang, form["name"])
    if invitation is not None and site.per_address.allow(subscriptions.mailbox_key(email)):
        site.invitations.submit(invitation)
    return sent_page


@router.api_route("/confirm/{token}", methods=["GET", "HEAD"])
def confirm_page(token: str, request: Request, site: Site = Depends(get_site)):
    parsed = site.tokens.read_confirm(token)
    t = site.strings(site.language(request, parsed.language))
    list_name = next((name for list_id, _slug, name in _lists(site) if list_id == parsed.list_id), None)
    if list_name is None:
        return site.pages.render("message.html", t.language, 404, title=t("error.title"), lines=[t("error.token")],
                                 error=True)
    return site.pages.render(
        "message.html", t.language,
        title=t("confirm.title"),
        lines=[t("confirm.question", email=parsed.email, list=list_name)],
        action=site.url(f"/confirm/{token}"),
        button=t("confirm.button"),
    )


@router.post("/confirm/{token}")
def confirm(token: str, request: Request, site: Site = Depends(get_site)):
    parsed = site.tokens.read_confirm(token)
    t = site.strings(site.language(request, parsed.language))
    outcome = site.store.run(subscriptions.confirm, site.cfg, parsed, ip=request.client.host if request.client else "")
    m = outcome.membership
    if outcome.refused is not None:
        return site.pages.render("message.html", t.language, title=t("confirm.refused.title"),
                                 lines=[site.message(outcome.refused, t.language)])
    return site.pages.render("message.html", t.language, title=t("confirm.done.title"),
                             lines=[t("confirm.done", email=m.email, list=m.list_name)])
