"""Request bodies under /admin capped before they are read: 413 at once when Content-Length says too much, and as
soon as a body without it (chunked) passes the cap. Forms get `FORM_MAX`; routes declared with `upload=True`
get `[web].upload_max_mb`. A pure ASGI middleware, so that it acts before FastAPI parses a form."""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bulletin.web.admin.access import PREFIX, ROUTES

#: The largest body of a form without a file (the longest is a list's description: a few kilobytes).
FORM_MAX = 1 << 20


class TooLarge(Exception):
    pass


def limits(upload_max: int) -> Callable[[str], int]:
    """The cap of a POST to `path`."""
    uploads = [re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", r.path) + "$") for r in ROUTES if r.upload]

    def limit(path: str) -> int:
        return upload_max if any(p.match(path) for p in uploads) else FORM_MAX

    return limit


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: Callable[[str], int], refuse: Callable[[Request, int], object]):
        self.app = app
        self.limit = limit
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD") or not (
                path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        cap = self.limit(path)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > cap):
            await self._refuse(scope, receive, send, cap)
            return
        received = 0
        state = {"exceeded": False, "started": False}

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    state["exceeded"] = True
                    raise TooLarge()
            return message

        async def guarded(message: Message) -> None:
            if state["exceeded"] and not state["started"]:
                return  # the app's answer to a body cut short (a 400 or a 500) is replaced by the 413 below
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited, guarded)
        except TooLarge:
            pass
        if state["exceeded"] and not state["started"]:
            await self._refuse(scope, receive, send, cap)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, cap: int) -> None:
        response = self.refuse(Request(scope), cap)
        await response(scope, receive, send)
