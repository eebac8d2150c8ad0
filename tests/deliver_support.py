"""Helpers of the delivery tests (no tests here): a real SMTP server with faults, lists, keys, issues.

The SMTP server is aiosmtpd, started in the test process; faults are the server's own replies (451, 550) and
real dropped connections, so the client code under test runs exactly as against a production server.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import insert

from bulletin.deliver import clock as clock_mod
from bulletin.render.edition import RenderedEdition
from bulletin.store import queries
from bulletin.store.db import engine_for, session_scope
from bulletin.store.models import Subscriber, Subscription

REPO = Path(__file__).resolve().parent.parent
ISSUE = REPO / "issues" / "2023-07"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt: str
    data: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass
class Recorder:
    """An aiosmtpd handler that keeps every accepted message and can misbehave on purpose.

    temp_fail(rcpt, attempt) -> bool answers 451 at RCPT; perm_fail addresses get 550 at RCPT;
    drop_every N closes the connection at every Nth MAIL command (before anything is accepted);
    closing[stage](n) -> bool answers "421" to the nth greeting, MAIL, RCPT, DATA or BODY (the end of the
    message, which is then not kept) and closes the connection, as a server shutting down does;
    pipelining offers RFC 2920 PIPELINING in the EHLO reply;
    on_accept(received, count) runs after a message is stored, before the 250 reply."""

    temp_fail: Callable[[str, int], bool] | None = None
    perm_fail: set[str] = field(default_factory=set)
    drop_every: int = 0
    on_accept: Callable[[Received, int], None] | None = None
    delay: float = 0.0
    refuse_sender: str = ""
    pipelining: bool = False
    closing: dict[str, Callable[[int], bool]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    attempts: Counter = field(default_factory=Counter)
    #: how many times each stage was reached ("greeting" counts connections), and how many 421s were answered
    stages: Counter = field(default_factory=Counter)
    closed: Counter = field(default_factory=Counter)
    mails: int = 0
    drops: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: sessions open now; `idle` is notified when one closes
    sessions: int = 0
    idle: threading.Condition = field(default_factory=threading.Condition)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Until every session is closed (a killed client's last bytes have been read and dealt with)."""
        with self.idle:
            return self.idle.wait_for(lambda: self.sessions == 0, timeout)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:  # aiosmtpd reads commands one line at a time, so pipelined ones work as they are
            responses.insert(-1, "250-PIPELINING")
        return responses

    def close_at(self, server, stage: str) -> str | None:
        """The 421 to answer at this stage, if `closing` says so; the connection is closed right after it."""
        with self.lock:
            self.stages[stage] += 1
            rule = self.closing.get(stage)
            if rule is None or not rule(self.stages[stage]):
                return None
            self.closed[stage] += 1
        asyncio.get_running_loop().call_soon(server.transport.close)  # after the reply is written
        return f"421 4.3.2 closing at {stage}, try again later"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        closing = self.close_at(server, "MAIL")
        if closing:
            return closing
        with self.lock:
            self.mails += 1
            drop = self.drop_every and self.mails % self.drop_every == 0
            if drop:
                self.drops += 1
        if drop:
            server.transport.abort()
            return "421 4.4.2 connection dropped"
        if self.refuse_sender:
            return self.refuse_sender
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        closing = self.close_at(server, "RCPT")
        if closing:
            return closing
        with self.lock:
            self.attempts[address] += 1
            attempt = self.attempts[address]
        if address in self.perm_fail:
            return "550 5.1.1 <%s>: no such user here" % address
        if self.temp_fail and self.temp_fail(address, attempt):
            return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        closing = self.close_at(server, "BODY")
        if closing:
            return closing
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received.append(Received(envelope.mail_from, rcpt, envelope.original_content))
            count = len(self.received)
        if self.on_accept:
            self.on_accept(self.received[-1], count)
        return "250 2.0.0 accepted"

    def per_recipient(self) -> Counter:
        with self.lock:
            return Counter(r.rcpt for r in self.received)


class _Smtp(SMTP):
    """aiosmtpd's server with the two stages its handler hooks do not reach: the greeting and the DATA command,
    and a count of open sessions."""

    def connection_made(self, transport) -> None:
        if isinstance(self.event_handler, Recorder):
            with self.event_handler.idle:
                self.event_handler.sessions += 1
        super().connection_made(transport)

    def connection_lost(self, error) -> None:
        super().connection_lost(error)
        handler = self.event_handler
        if isinstance(handler, Recorder):
            with handler.idle:
                handler.sessions -= 1
                handler.idle.notify_all()

    async def _handle_client(self) -> None:
        handler = self.event_handler
        closing = handler.close_at(self, "greeting") if isinstance(handler, Recorder) else None
        if closing:
            await self.push(closing)
            return
        await super()._handle_client()

    async def smtp_DATA(self, arg: str) -> None:
        handler = self.event_handler
        if isinstance(handler, Recorder) and self.envelope is not None and self.envelope.rcpt_tos:
            closing = handler.close_at(self, "DATA")
            if closing:
                await self.push(closing)
                return
        await super().smtp_DATA(arg)


class _Controller(Controller):
    def factory(self):
        return _Smtp(self.handler, **self.SMTP_kwargs)


class SmtpServer:
    """`with SmtpServer(Recorder()) as server:` a real SMTP server on 127.0.0.1:server.port (or `port`)."""

    def __init__(self, handler: Recorder, port: int | None = None, **kwargs):
        self.handler = handler
        self.port = port or free_port()
        # 8 MB: an issue is well under Gmail's 102 KB clip, but the default 32 MB is pointless here.
        self.controller = _Controller(handler, hostname="127.0.0.1", port=self.port, data_size_limit=8_000_000,
                                      **kwargs)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        with self.handler.lock:  # the controller's own readiness check was a connection too
            self.handler.stages.clear()
            self.handler.closed.clear()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


def smtp_toml(port: int, extra: str = "") -> str:
    """[delivery] and [smtp] for the test server; `extra` holds [delivery] keys that override the test defaults."""
    delivery = {"transport": '"smtp"', "return_path": '"bounces+{token}@imrap-mali.org"',
                "retry_initial_seconds": "0.05", "retry_max_seconds": "0.2"}
    for line in extra.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            delivery[k.strip()] = v.strip()
    body = "".join(f"{k} = {v}\n" for k, v in delivery.items())
    return f"[delivery]\n{body}\n[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntimeout = 10.0\n"


def dkim_key(folder: Path) -> tuple[Path, bytes]:
    """A fresh 2048-bit key written as PEM, and the DNS TXT record that publishes it."""
    from bulletin.deliver.dkim import DkimSigner

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path = folder / "dkim.pem"
    path.write_bytes(pem)
    return path, DkimSigner("imrap-mali.org", "bulletin", pem).public_key_record()


def populate(url: str, n: int, slug: str = "news", languages: tuple[str, ...] = ("fr", "en")) -> dict[str, int]:
    """A list with `n` subscribers, languages in turn; returns email -> subscriber id."""
    engine = engine_for(url)
    with session_scope(engine) as session:
        ml = queries.create_list(session, slug, "Nouvelles de l'IMRAP")
        rows = [
            {"email": f"user{i:05d}@example.org", "email_key": f"user{i:05d}@example.org",
             "name": f"Abonné·e {i}", "language": languages[i % len(languages)], "status": "active",
             "attributes": {}}
            for i in range(n)
        ]
        if rows:
            session.execute(insert(Subscriber), rows)
        ids = dict(session.execute(Subscriber.__table__.select().with_only_columns(
            Subscriber.email, Subscriber.id)).all())
        if ids:
            session.execute(insert(Subscription), [{"subscriber_id": i, "list_id": ml.id, "status": "subscribed",
                                                   "source": "test"} for i in ids.values()])
    return ids


def copy_issue(tmp_path: Path) -> Path:
    target = tmp_path / "issues" / ISSUE.name
    shutil.copytree(ISSUE, target)
    return target


def bulletin_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "bulletin", *args]


def run_bulletin(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(bulletin_cmd("--config", str(config), *args), capture_output=True, text=True,
                          timeout=timeout, env=os.environ.copy(), cwd=config.parent)


#: Two small editions: sends made of them start in milliseconds (the real issue takes a render).
EDITIONS = [
    RenderedEdition("2026-12", "fr", "Décembre", "", "<p>Bonjour %%name%%</p><a href=\"%%unsubscribe_url%%\">x</a>",
                    "Bonjour %%name%% %%unsubscribe_url%%"),
    RenderedEdition("2026-12", "en", "December", "", "<p>Hello %%name%%</p><a href=\"%%unsubscribe_url%%\">x</a>",
                    "Hello %%name%% %%unsubscribe_url%%"),
]


def running_send(cfg, editions=EDITIONS) -> int:
    """A send of `editions` to the list "news", started (its rows snapshotted)."""
    from bulletin.deliver.sends import create_send, start_send

    with session_scope(engine_for(cfg.database_url)) as s:
        send = create_send(s, issue_dir="/issues/2026-12", list_slug="news", editions=editions, again=True)
        start_send(s, send.id)
        return send.id


class Collecting:
    """A transport that keeps messages in memory (unit tests only; end-to-end tests use a real SMTP server).
    `on_send(n, recipients)` runs before the nth message is kept and may raise."""

    def __init__(self, on_send=None):
        self.sent: list[tuple[str, list[str], bytes]] = []
        self.on_send = on_send

    def open(self):
        pass

    def send(self, envelope_from, recipients, message):
        if self.on_send:
            self.on_send(len(self.sent), recipients)
        self.sent.append((envelope_from, recipients, message))

    def close(self):
        pass


def manual_clock(monkeypatch) -> clock_mod.ManualClock:
    """A clock that moves only when delivery waits, made the default for code reached through the CLI."""
    clock = clock_mod.ManualClock()
    monkeypatch.setattr(clock_mod, "DEFAULT", clock)
    return clock
