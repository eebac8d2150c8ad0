"""Who may open which workspace page: the route table, sessions, roles and CSRF, checked before any handler runs.

Every route under /admin is declared with `page(path, role=..., methods=...)`; `role` has no default, so a
page cannot be added without saying who may open it, and `install` refuses to start an app holding an /admin
route that did not come through here. For each request the guard, in this order:
1. reads the session cookie (`bulletin_session`) and finds the live session (services.accounts);
2. sends a visitor not signed in to the sign-in page (GET) or answers 403 (POST), and answers 403 to an
   account whose role is not enough, before reading the body of the request;
3. on POST, checks the CSRF token (form field `csrf`, or the `X-CSRF-Token` header that htmx sends): the
   session's own token, or for a visitor not signed in (the sign-in form) a token bound to a cookie of theirs.
A POST refused by any of these reaches no handler, so it changes nothing.

Request bodies are capped before any of this (limits.BodyLimit): a form at `FORM_MAX`, a route declared with
`upload=True` at `[web].upload_max_mb`. An upload route takes no `Form`/`File` parameters (FastAPI would read
the body before the guard runs): it reads `await request.form()` after the guard, so a visitor or an editor is
refused without the file being read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from bulletin.services import accounts
from bulletin.services.accounts import Account, SessionPolicy, SignedIn
from bulletin.services.audit import Actor
from bulletin.states import Role
from bulletin.web.site import Site

SESSION_COOKIE = "bulletin_session"
#: The cookie that binds the CSRF token of the sign-in form to the browser that asked for the form.
VISITOR_COOKIE = "bulletin_visitor"
LANGUAGE_COOKIE = "bulletin_lang"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
PREFIX = "/admin"


class Public(Enum):
    """The role of the few pages anyone may open: the sign-in form, the language switch, the style sheet."""

    ANYONE = "anyone"


PUBLIC = Public.ANYONE


@dataclass(frozen=True)
class Route:
    path: str
    methods: tuple[str, ...]
    role: Role | Public
    #: an automatic refresh (htmx polling): it does not keep the session alive
    live: bool
    endpoint: Callable
    #: takes a file: its body may be as large as `[web].upload_max_mb` (other POSTs: FORM_MAX)
    upload: bool = False


#: Every /admin route, as declared. The tests walk it; `install` checks the app against it.
ROUTES: list[Route] = []
router = APIRouter(prefix=PREFIX)


class SignInRequired(Exception):
    def __init__(self, next_path: str):
        self.next_path = next_path


class Forbidden(Exception):
    """403: the role is not enough (`csrf` False) or the CSRF token is missing or wrong (`csrf` True)."""

    def __init__(self, *, csrf: bool = False):
        self.csrf = csrf


@dataclass
class Workspace:
    """What the workspace pages share beyond the Site: the clock (tests move it), the session policy, the
    secret binding visitors' CSRF tokens, and how often live figures refresh."""

    site: Site
    policy: SessionPolicy
    secret: bytes
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.timezone.utc))
    refresh_seconds: int = 5
    #: the thread checking and importing uploaded files (services.imports.ImportRunner), set by `install`
    imports: object = None

    @property
    def secure_cookies(self) -> bool:
        return self.site.cfg.web.base_url.startswith("https://")


def workspace(request: Request) -> Workspace:
    return request.app.state.workspace


@dataclass(frozen=True)
class Visit:
    """The request as a page handler sees it: who (None on public pages when not signed in), the CSRF token
    its forms must carry, and the client's IP address for the audit log."""

    account: Account | None
    csrf: str
    ip: str
    now: dt.datetime
    #: a new visitor cookie to set (the first sign-in form a browser gets)
    visitor_cookie: str = ""

    @property
    def actor(self) -> Actor:
        assert self.account is not None
        return accounts.actor(self.account, self.ip)

    def may(self, role: Role) -> bool:
        return self.account is not None and self.account.may(role)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def visitor_csrf(secret: bytes, visitor: str) -> str:
    return hmac.new(secret, f"bulletin.visitor-csrf:{visitor}".encode(), hashlib.sha256).hexdigest()


async def _given_csrf(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # Starlette keeps it: the handler's Form(...) reads the same parsed body
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def _guard(role: Role | Public, live: bool) -> Callable:
    async def guard(request: Request) -> Visit:
        ws = workspace(request)
        now = ws.clock()
        token = request.cookies.get(SESSION_COOKIE, "")
        signed: SignedIn | None = None
        if token:
            signed = await run_in_threadpool(_session, ws, token, now, not live)
        if signed is not None:
            csrf, new_visitor = signed.csrf_token, ""
        else:
            visitor = request.cookies.get(VISITOR_COOKIE, "")
            new_visitor = "" if _plausible(visitor) else secrets.token_urlsafe(24)
            csrf = visitor_csrf(ws.secret, visitor or new_visitor)
        visit = Visit(signed.account if signed else None, csrf, client_ip(request), now, new_visitor)
        request.state.visit = visit  # the refusal pages below show the frame of whoever asks
        if role is not PUBLIC:  # before the body is read: a visitor's or an editor's upload is not read
            if signed is None:
                if request.method in ("GET", "HEAD"):
                    raise SignInRequired(_here(request))
                raise Forbidden()
            if not signed.account.may(role):
                raise Forbidden()
        if request.method not in ("GET", "HEAD"):
            given = await _given_csrf(request)
            if not accounts.csrf_matches(csrf, given) or new_visitor:
                raise Forbidden(csrf=True)
        return visit

    return guard


def _plausible(visitor: str) -> bool:
    return 16 <= len(visitor) <= 64 and visitor.replace("-", "").replace("_", "").isalnum()


def _session(ws: Workspace, token: str, now: dt.datetime, touch: bool) -> SignedIn | None:
    with ws.site.store.unit_of_work() as uow:
        return accounts.current_session(uow, token, now=now, policy=ws.policy, touch=touch)


def _here(request: Request) -> str:
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path


def page(path: str, *, role: Role | Public, methods: tuple[str, ...] = ("GET",), live: bool = False,
         upload: bool = False) -> Callable:
    """Declare a workspace route: `role` is who may open it (Role.EDITOR: any account, Role.ADMIN: admins,
    PUBLIC: anyone). The handler takes `visit: Visit = Depends(visit)` to know who asks. `upload`: the route
    takes a file (see the module's docstring)."""

    def decorate(endpoint: Callable) -> Callable:
        router.add_api_route(path, endpoint, methods=list(methods), response_class=HTMLResponse,
                             dependencies=[Depends(_guard(role, live))], include_in_schema=False)
        ROUTES.append(Route(PREFIX + path, tuple(methods), role, live, endpoint, upload))
        return endpoint

    return decorate


def visit(request: Request) -> Visit:
    """The guard's verdict, for handlers: `visit: Visit = Depends(visit)`."""
    return request.state.visit


def safe_next(value: str | None, default: str = PREFIX + "/") -> str:
    """A path to go back to after a form: only a path of the workspace, never another site."""
    if value and value.startswith(PREFIX + "/") and not value.startswith("//") and "\\" not in value \
            and "\n" not in value and "\r" not in value:
        return value
    return default


def sign_in_location(next_path: str) -> str:
    return f"{PREFIX}/login?next={quote(next_path, safe='/')}"


def served_routes(routes, prefix: str = "") -> Iterator[tuple[str, object]]:
    """(path, route) of every route an app serves, looking into included routers (recent FastAPI keeps them
    as one entry of `app.routes` each)."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from served_routes(original.routes, prefix + getattr(route.include_context, "prefix", ""))
        else:
            yield prefix + getattr(route, "path", ""), route


def check_routes(app) -> None:
    """Refuse to serve an /admin route that was not declared with `page` (it would have no guard)."""
    declared = {r.endpoint for r in ROUTES}
    for path, route in served_routes(app.routes):
        if (path == PREFIX or path.startswith(PREFIX + "/")) and getattr(route, "endpoint", None) not in declared:
            raise RuntimeError(f"{path} is served without a role: declare it with bulletin.web.admin.access.page")
