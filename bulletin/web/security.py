"""Security headers on every response of `bulletin serve`: pages, images, redirects and error pages alike.

One ASGI middleware, outside every route, so that a page added later gets them without asking. The Content
Security Policy allows no script at all, no frames around the pages (they hold one-click buttons), forms posting
only to the site, and styles only from the sheets the package ships, allowed by their SHA-256 (the pages keep
their one inline sheet: readers pay for every request). The archive's copy of an issue is the email itself, whose
styles are inline attributes by necessity: its handler calls `allow_inline_styles`, which widens styles, and
nothing else, for that response. A response that brings its own policy keeps it: the workspace under /admin/
loads htmx and its sheet from its own static files (bulletin/web/admin/views.py), and the issue editor's
preview, framed by the editor's page, brings its frame rule with its policy (bulletin/web/admin/issues.py). No page sends a Referer, so a
token in a URL never leaks to another site.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.S)
_STATE_KEY = "bulletin_inline_styles"
WEB = Path(__file__).parent


def style_hashes(sources: Iterable[str]) -> list[str]:
    """CSP sources for the literal `<style>` blocks of these texts (a block holding Jinja code is left out: what
    it renders to is not known here)."""
    found = []
    for text in sources:
        for css in _STYLE_BLOCK.findall(text):
            if "{{" in css or "{%" in css:
                continue
            digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
            found.append(f"'sha256-{digest}'")
    return sorted(set(found))


def shipped_styles() -> list[str]:
    """The hashes of every inline sheet in bulletin/web: the page templates and pages written in Python."""
    files = sorted(WEB.glob("templates/**/*.html")) + sorted(WEB.glob("*.py"))
    return style_hashes(p.read_text(encoding="utf-8") for p in files)


def allow_inline_styles(request: Request) -> None:
    """This response may use inline styles (the email copy in the archive); scripts stay forbidden."""
    request.state.__setattr__(_STATE_KEY, True)


class SecurityHeaders:
    """Adds the headers to every HTTP response, including the 500 page the server sends for an unexpected
    error, which otherwise leaves from outside any middleware."""

    def __init__(self, app: ASGIApp, *, form_action: str, styles: Iterable[str]):
        self.app = app
        style_src = " ".join(styles) or "'none'"
        policy = ("default-src 'none'; script-src 'none'; img-src 'self' https: http: data:; style-src {styles}; "
                  f"form-action 'self' {form_action}; frame-ancestors 'none'; base-uri 'none'")
        self.strict = policy.format(styles=style_src)
        self.inline = policy.format(styles="'unsafe-inline'")
        self.fixed = {
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
        }

    def policy_for(self, scope: Scope) -> str:
        inline = bool((scope.get("state") or {}).get(_STATE_KEY))
        return self.inline if inline else self.strict

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                own_frame_rule = "content-security-policy" in headers and "x-frame-options" in headers
                for name, value in self.fixed.items():
                    if name != "X-Frame-Options" or not own_frame_rule:
                        headers[name] = value
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = self.policy_for(scope)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:
                response = PlainTextResponse("Internal Server Error", status_code=500)
                await response(scope, receive, send_with_headers)
            raise
