"""The contract delivery needs from a transport, and the maildir transport (the default).

A transport takes the exact bytes to send (already DKIM-signed), the envelope sender and the recipients. It
raises `TemporaryFailure` for what may succeed later (4xx, a dropped connection) and `PermanentFailure` for
what never will (5xx); anything else is a bug and is recorded as such by the caller.
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

    def __init__(self, reply: str, code: int | None = None):
        self.reply = reply
        self.code = code
        super().__init__(reply)


class TemporaryFailure(TransportFailure):
    """Try again later: 4xx replies, timeouts, dropped connections."""


class PermanentFailure(TransportFailure):
    """Never retry: 5xx replies (the address does not exist, the message was refused)."""


class Transport(Protocol):
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
