"""The contract delivery needs from a transport, and the maildir transport (the default).

A transport takes the exact bytes to send (already DKIM-signed), the envelope sender and the recipients. What
went wrong says who is at fault, and so what delivery does next:

- `PermanentFailure` (5xx): this recipient or this message never will; the row is marked failed.
- `TemporaryFailure` (4xx): this recipient may succeed later; the row is deferred and its attempt counted.
- `ConnectionLost` (a 421, a drop, a timeout mid-transaction): the connection is gone and nothing is known to be
  delivered; the recipient is given back untouched and a new connection is opened.
- `ServerUnavailable` (no connection, a timeout, TLS or login refused, 421 at greeting): the server, not a
  recipient, failed; the whole send waits and tries again later, and nobody's attempt is counted.

Anything else is a bug and is recorded as such by the caller.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Protocol

from bulletin.errors import BulletinError


class TransportFailure(BulletinError):
    """A message was not accepted. `reply` keeps the server's words (code and text) for the record."""

    def __init__(self, reply: str, code: int | None = None, where: str | None = None):
        self.reply = reply
        self.code = code
        super().__init__(reply, where=where)


class TemporaryFailure(TransportFailure):
    """Try this recipient again later: 4xx replies to its transaction."""


class PermanentFailure(TransportFailure):
    """Never retry: 5xx replies (the address does not exist, the message was refused)."""


class ConnectionLost(TransportFailure):
    """The connection broke mid-transaction (a 421, a drop, a timeout): nothing is known to be delivered."""


class ServerUnavailable(TransportFailure):
    """The server itself failed before any message could go: the whole send backs off, nobody is blamed.

    `server` names it (host:port) for the waiting notice."""

    def __init__(self, reply: str, server: str, code: int | None = None, where: str | None = None):
        self.server = server
        super().__init__(reply, code, where)


class Transport(Protocol):
    def open(self) -> None:
        """Be ready to send (connect, greet, log in); raises ServerUnavailable. Harmless when already open."""

    def send(self, envelope_from: str, recipients: list[str], message: bytes) -> None: ...

    def close(self) -> None: ...


class MaildirTransport:
    """Writes each message as `outbox/new/<unique>.eml`, the maildir way: written under tmp/, then renamed,
    so a reader never sees half a message. The envelope is kept in `X-Envelope-*` lines before the message."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        for sub in ("tmp", "new", "cur"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self._host = socket.gethostname().replace("/", "_").replace(":", "_")
        self._count = 0

    def _unique(self) -> str:
        self._count += 1
        return f"{time.time_ns()}.P{os.getpid()}Q{self._count}.{self._host}.eml"

    def open(self) -> None:
        pass

    def send(self, envelope_from: str, recipients: list[str], message: bytes) -> None:
        name = self._unique()
        tmp = self.folder / "tmp" / name
        envelope = f"X-Envelope-From: <{envelope_from}>\r\nX-Envelope-To: {', '.join(recipients)}\r\n".encode()
        with open(tmp, "wb") as f:
            f.write(envelope)
            f.write(message)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, self.folder / "new" / name)

    def close(self) -> None:
        pass
