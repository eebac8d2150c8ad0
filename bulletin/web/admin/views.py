"""Rendering the workspace's pages: the frame (layout, navigation, language switch, sign-out) around each
template, the reader's language, the response headers, and the static files (one CSS file, htmx).

The pages make no inline script and no inline style, so the Content-Security-Policy below forbids both; htmx is
configured by a <meta> tag (no eval, no injected styles). Static files are served from the package with a
content hash in their URL, so browsers keep them for a year and fetch them again only when they change.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton
from babel.numbers import format_decimal

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bulletin import i18n
from bulletin.states import Role
from bulletin.web.admin.access import (LANGUAGE_COOKIE, PREFIX, VISITOR_COOKIE, Visit, Workspace, safe_next,
                                       workspace)
from bulletin.web.i18n import Strings, choose

STATIC = Path(__file__).resolve().parent.parent / "static"
#: The files under /admin/static/ and their types; anything else is 404.
STATIC_TYPES = {"admin.css": "text/css; charset=utf-8", "htmx.min.js": "text/javascript; charset=utf-8",
                "editor.js": "text/javascript; charset=utf-8"}

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
#: The issue editor shows the email's preview in frames of the workspace's own (each sandboxed, see issues.py).
CSP_WITH_PREVIEW = CSP.replace("connect-src 'self';", "connect-src 'self'; frame-src 'self';")
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class Formats:
    """Dates in the organisation's time zone and numbers, as the reader's language writes them."""

    def __init__(self, language: str, zone: str):
        self.locale = language
        self.zone = ZoneInfo(zone)

    def when(self, value: dt.datetime | str | None) -> str:
        if not value:
            return ""
        if isinstance(value, str):  # a report's times are ISO 8601 text
            value = dt.datetime.fromisoformat(value)
        local = value.astimezone(self.zone)
        return f"{format_skeleton('yMMMd', local, locale=self.locale)} {format_skeleton('Hm', local, locale=self.locale)}"

    def day(self, value: dt.datetime) -> str:
        return format_skeleton("MMMd", value.astimezone(self.zone), locale=self.locale)

    def num(self, value: int) -> str:
        return format_decimal(value, locale=self.locale)


@dataclass(frozen=True)
class NavItem:
    href: str
    key: str
    role: Role


#: The navigation, in order. A page of a later part adds its item here with the role that may open it.
NAV = [
    NavItem(f"{PREFIX}/", "admin.nav.dashboard", Role.EDITOR),
    NavItem(f"{PREFIX}/issues", "admin.nav.issues", Role.EDITOR),
    NavItem(f"{PREFIX}/sends", "admin.nav.sends", Role.ADMIN),
    NavItem(f"{PREFIX}/lists", "admin.nav.lists", Role.ADMIN),
    NavItem(f"{PREFIX}/subscribers", "admin.nav.subscribers", Role.ADMIN),
    NavItem(f"{PREFIX}/imports", "admin.nav.imports", Role.ADMIN),
    NavItem(f"{PREFIX}/users", "admin.nav.users", Role.ADMIN),
    NavItem(f"{PREFIX}/audit", "admin.nav.audit", Role.ADMIN),
]


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str
    media_type: str


@lru_cache(maxsize=None)
def asset(name: str) -> Asset | None:
    if name not in STATIC_TYPES:
        return None
    body = (STATIC / name).read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:16]
    return Asset(body, gzip.compress(body, 9, mtime=0), f'"{digest}"', STATIC_TYPES[name])


def asset_url(name: str) -> str:
    found = asset(name)
    return f"{PREFIX}/static/{name}?v={found.etag.strip(chr(34))}" if found else f"{PREFIX}/static/{name}"


def static_response(request: Request, name: str) -> Response:
    found = asset(name)
    if found is None:
        return Response(status_code=404)
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "ETag": found.etag,
               "X-Content-Type-Options": "nosniff", "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(found.gzipped, media_type=found.media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(found.body, media_type=found.media_type, headers=headers)


def language(request: Request) -> str:
    """`?lang=`, else the language chosen with the switch (a cookie), else the browser's, else the organisation's."""
    site = workspace(request).site
    org = site.cfg.organisation
    wanted = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    return choose(org.languages, org.language, wanted=wanted, header=request.headers.get("accept-language"))


def strings(request: Request) -> Strings:
    return Strings(language(request), workspace(request).site.cfg.organisation.language)


def said(request: Request, message: i18n.Message) -> str:
    """A service's message (a refusal, a reason) in the reader's language."""
    return workspace(request).site.message(message, strings(request).language)


def render(request: Request, template: str, title_key: str, *, status: int = 200, live: bool = False,
           title_values: dict | None = None, frames: bool = False, **context) -> HTMLResponse:
    """Render `admin/TEMPLATE` in the frame. `live`: the page refreshes parts of itself (loads htmx);
    `frames`: it shows previews in frames served by the workspace."""
    ws = workspace(request)
    v: Visit | None = getattr(request.state, "visit", None)
    t = strings(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    account = v.account if v else None
    nav = [(item, _current(item.href, request.url.path)) for item in NAV
           if account is not None and account.may(item.role)]
    org = ws.site.cfg.organisation
    html = ws.site.pages.env.get_template(f"admin/{template}").render(
        t=t, lang=t.language, title=t(title_key, **(title_values or {})), account=account,
        csrf=v.csrf if v else "", here=here, nav=nav, languages=[c for c in org.languages if c in i18n.available()],
        language_name=i18n.language_name, language_in=lambda code: i18n.language_in(code, t.language), asset=asset_url, live=live, refresh=ws.refresh_seconds,
        may_admin=bool(account and account.may(Role.ADMIN)), zone=org.timezone, f=Formats(t.language, org.timezone),
        wide=frames, **context)
    headers = {**HEADERS, "Content-Security-Policy": CSP_WITH_PREVIEW} if frames else HEADERS
    response = HTMLResponse(html, status_code=status, headers=headers)
    _remember_visitor(response, ws, v)
    return response


def _current(href: str, path: str) -> str:
    """aria-current of a navigation link: "page" on its page, "true" on a page under it (an issue of Issues)."""
    if href == path:
        return "page"
    return "true" if href != f"{PREFIX}/" and path.startswith(href + "/") else ""


def fragment(request: Request, template: str, **context) -> HTMLResponse:
    """A part of a page for htmx to swap in (no frame)."""
    ws = workspace(request)
    t = strings(request)
    v: Visit | None = getattr(request.state, "visit", None)
    account = v.account if v else None
    html = ws.site.pages.env.get_template(f"admin/{template}").render(
        t=t, lang=t.language, account=account, may_admin=bool(account and account.may(Role.ADMIN)),
        refresh=ws.refresh_seconds, zone=ws.site.cfg.organisation.timezone,
        f=Formats(t.language, ws.site.cfg.organisation.timezone), **context)
    return HTMLResponse(html, headers=HEADERS)


def redirect(location: str) -> RedirectResponse:
    """After a POST that changed something: 303 to a page that shows the result (a reload re-sends nothing)."""
    return RedirectResponse(safe_next(location), status_code=303, headers={"Cache-Control": "no-store"})


def _remember_visitor(response: Response, ws: Workspace, v: Visit | None) -> None:
    if v is not None and v.visitor_cookie:
        response.set_cookie(VISITOR_COOKIE, v.visitor_cookie, httponly=True, samesite="strict", path=PREFIX,
                            secure=ws.secure_cookies)
