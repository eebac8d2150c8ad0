"""A cap on what a request may send, applied before anything reads it.

FastAPI parses a form (and spools its files to disk) before any dependency or handler runs, so a limit checked
in a handler comes too late: a 2 GB upload would be written to /tmp first. This ASGI middleware answers 413 as
soon as the declared length, or the bytes received, pass the cap of the request's path.

What comes after the cap is never handed to the application: it is read and dropped, up to `DRAIN_MAX` bytes in
all, before the answer, so that a client still sending (a browser's upload) gets the page instead of a reset
connection. A body declared longer than `DRAIN_MAX` is not read at all: the answer goes at once and the
connection is closed.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Beyond this a body declared too large is not read at all: the connection is closed after the answer.
DRAIN_MAX = 64_000_000


class _TooLarge(Exception):
    pass


#: `too_large(request, size, cap)`: the answer to a body over `cap` bytes; `size` is its declared length, or
#: None when it came without one.
TooLargeAnswer = Callable[[Request, "int | None", int], Response]


class BodyLimit:
    """Refuse request bodies over `limit(path)` bytes (None: no cap on that path)."""

    def __init__(self, app: ASGIApp, *, limit: Callable[[str], int | None], too_large: TooLargeAnswer):
        self.app = app
        self.limit = limit
        self.too_large = too_large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        cap = self.limit(scope["path"])
        if cap is None:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > cap:
            if declared <= DRAIN_MAX:
                await _drain(receive, 0)
            await self._answer(scope, receive, send, declared, cap)
            return
        received = 0
        over = False
        started = False
        finished = False

        async def counted() -> Message:
            nonlocal received, over, finished
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                finished = not message.get("more_body", False)
                if received > cap:
                    over = True
                    raise _TooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:  # whatever the app answers to a body cut short, the answer is ours
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded_send)
        except _TooLarge:
            pass
        except Exception:
            if not over:
                raise
        if over and not started:
            if not finished:
                await _drain(receive, received)
            await self._answer(scope, receive, send, None, cap)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, size: int | None, cap: int) -> None:
        response = self.too_large(Request(scope), size, cap)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _drain(receive: Receive, total: int) -> None:
    """Read and drop the rest of the body, until `total` bytes read in all pass DRAIN_MAX: a server that closes a
    connection with unread data resets it, and the client may lose the answer."""
    while total <= DRAIN_MAX:
        message = await receive()
        if message["type"] != "http.request":
            return
        total += len(message.get("body", b""))
        if not message.get("more_body", False):
            return
