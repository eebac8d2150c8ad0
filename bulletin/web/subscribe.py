"""Double opt-in: the form mails a signed confirmation link; nobody is added until that link is confirmed.

The answer to the form is the same whether the address is new, subscribed, bounced or rate-limited, so the
page never tells a visitor who is on a list. Limits: requests per IP (answered 429) and mails per address
(silently not sent), both in `[web]`, counted in memory over the last hour.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from bulletin.deliver.message import send_simple
from bulletin.errors import BulletinError
from bulletin.web import subscriptions
from bulletin.web.i18n import Strings
from bulletin.web.site import Site, get_site

router = APIRouter()
log = logging.getLogger(__name__)

#: Longest value kept from a form field; anything longer is cut (a name) or refused (an address).
FIELD_MAX = 320


def _form_page(site: Site, lang: str, form: dict[str, str], error: str = "", status: int = 200):
    with site.session() as session:
        lists = subscriptions.subscribable_lists(session, site.cfg)
    t = Strings(lang)
    return site.pages.render("subscribe.html", t.language, status, title=t("subscribe.title"), lists=lists,
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
    t = Strings(lang)
    client = request.client.host if request.client else "unknown"
    if not site.per_ip.allow(client):
        return site.pages.render("message.html", lang, 429, title=t("error.rate.title"), lines=[t("error.rate")],
                                 error=True)
    try:
        email = subscriptions.normalise_address(form["email"])
    except subscriptions.InvalidAddress:
        return _form_page(site, lang, form, t("subscribe.bad_email"), 400)
    with site.session() as session:
        lists = {ml.slug: ml for ml in subscriptions.subscribable_lists(session, site.cfg)}
        ml = lists.get(form["list"]) or (next(iter(lists.values())) if len(lists) == 1 and not form["list"] else None)
        if ml is None:
            return _form_page(site, lang, form, t("subscribe.bad_list"), 400)
        mailable = subscriptions.may_receive_confirmation(session, email)
        list_id, list_name = ml.id, ml.name
    sent_page = site.pages.render("message.html", lang, title=t("subscribe.sent.title"),
                                  lines=[t("subscribe.sent", email=email)])
    if form["website"] or not mailable or not site.per_address.allow(email.lower()):
        return sent_page
    token = site.tokens.confirm(email, list_id, lang, form["name"][:200])
    org = site.cfg.organisation.short_name or site.cfg.organisation.name
    body = t("subscribe.mail.body", list=list_name, org=org, url=site.url(f"/confirm/{token}"))
    try:
        send_simple(site.cfg, email, t("subscribe.mail.subject", list=list_name), body)
    except BulletinError as e:
        log.error("confirmation mail to %s not sent: %s", email, e)
        return site.pages.render("message.html", lang, 503, title=t("error.mail.title"), lines=[t("error.mail")],
                                 error=True)
    return sent_page


@router.api_route("/confirm/{token}", methods=["GET", "HEAD"])
def confirm_page(token: str, request: Request, site: Site = Depends(get_site)):
    email, list_id, language, _name = site.tokens.read_confirm(token)
    t = Strings(site.language(request, language))
    with site.session() as session:
        ml = next((x for x in subscriptions.subscribable_lists(session, site.cfg) if x.id == list_id), None)
        if ml is None:
            return site.pages.render("message.html", t.language, 404, title=t("error.title"),
                                     lines=[t("error.token")], error=True)
        return site.pages.render(
            "message.html", t.language,
            title=t("confirm.title"),
            lines=[t("confirm.question", email=email, list=ml.name)],
            action=site.url(f"/confirm/{token}"),
            button=t("confirm.button"),
        )


@router.post("/confirm/{token}")
def confirm(token: str, request: Request, site: Site = Depends(get_site)):
    email, list_id, language, name = site.tokens.read_confirm(token)
    t = Strings(site.language(request, language))
    for attempt in (1, 2):
        try:
            with site.session() as session:
                m = subscriptions.confirm(session, site.cfg, email, list_id, language, name)
                return site.pages.render("message.html", t.language, title=t("confirm.done.title"),
                                         lines=[t("confirm.done", email=m.subscriber.email, list=m.mailing_list.name)])
        except IntegrityError:
            # Two clicks at once both created the subscriber; the second try finds it.
            if attempt == 2:
                raise
