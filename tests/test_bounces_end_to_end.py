"""End to end: `bulletin send` to an aiosmtpd server with VERP return paths, bounces and a complaint written back
against what was received, `bulletin bounces ingest`, then `bulletin status` adds up to the list and the next
send skips the hard-bounced and the complainer but not the soft-bounced."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import socket
import threading
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from bulletin.bounces import verp
from bulletin.cli import main

ISSUES = Path(__file__).resolve().parent.parent / "issues"
VERP_TEMPLATE = "bounces+{token}@imrap-mali.org"
LIST = [
    ("aminata.traore@orange.ml", "fr"),
    ("moussa.keita@yahoo.fr", "fr"),
    ("fatoumata.diallo@gmail.com", "fr"),
    ("ibrahim.coulibaly@outlook.com", "en"),
    ("awa.ballo@yahoo.fr", "fr"),
    ("seydou.konate@sotelma.ml", "fr"),
    ("john.smith@example.org", "en"),
    ("kadiatou.dembele@sotelma.ml", "fr"),
]
HARD = {"aminata.traore@orange.ml": "550 5.1.1 <aminata.traore@orange.ml>: User unknown",
        "ibrahim.coulibaly@outlook.com": "550 5.1.10 RESOLVER.ADR.RecipientNotFound"}
SOFT = {"moussa.keita@yahoo.fr": "452 4.2.2 Mailbox full"}
COMPLAINER = "awa.ballo@yahoo.fr"
AWAY = "seydou.konate@sotelma.ml"


class Inbox:
    """aiosmtpd handler keeping each accepted message with its envelope sender and recipient."""

    def __init__(self):
        self.received: dict[str, tuple[str, bytes]] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received[rcpt.lower()] = (envelope.mail_from, envelope.original_content)
        return "250 2.0.0 accepted"

    def take(self) -> dict[str, tuple[str, bytes]]:
        with self.lock:
            taken, self.received = self.received, {}
        return taken


@pytest.fixture
def smtp():
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def _headers_of(raw: bytes) -> str:
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("ascii", "replace").replace("\r\n", "\n")


def dsn(return_path: str, recipient: str, reply: str, original: bytes, n: int) -> bytes:
    """A delivery status notification as the recipient's server would send it to the VERP return path."""
    status = reply.split()[1]
    action = "failed"
    return f"""From: MAILER-DAEMON@mx.example.net
To: {return_path}
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-{n}@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B{n}"

--B{n}
Content-Type: text/plain

Your message could not be delivered.

--B{n}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {reply}

--B{n}
Content-Type: text/rfc822-headers

{_headers_of(original)}

--B{n}--
""".encode()


def arf(return_path: str, recipient: str, original: bytes) -> bytes:
    return f"""From: feedback@arf.mail.yahoo.com
To: abuse@imrap-mali.org
Subject: FW: complaint
Message-ID: <arf-1@arf.mail.yahoo.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="F"

--F
Content-Type: text/plain

This is an email abuse report.

--F
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Yahoo!-Mail-Feedback/2.0
Version: 1
Original-Mail-From: <{return_path}>
Original-Rcpt-To: <{recipient}>

--F
Content-Type: text/rfc822-headers

{_headers_of(original)}

--F--
""".encode()


def out_of_office(recipient: str) -> bytes:
    return f"""From: {recipient}
To: bulletin@imrap-mali.org
Subject: Absent du bureau
Message-ID: <ooo@sotelma.ml>
Auto-Submitted: auto-replied

Je suis en mission a Mopti jusqu'au 20 juillet.
""".encode()


def cli(cfg, *args: str) -> int:
    return main(["--config", str(cfg.path), *args])


def send(cfg, issue: str, tmp_path: Path) -> None:
    folder = tmp_path / "issues" / issue
    if not folder.exists():
        shutil.copytree(ISSUES / issue, folder)
    assert cli(cfg, "send", str(folder), "--list", "actualites") == 0


def test_bounces_fed_back_clean_the_list_and_the_report_adds_up(make_config, db_url, tmp_path, smtp, capsys):
    inbox, port = smtp
    cfg = make_config(
        f'[delivery]\ntransport = "smtp"\nreturn_path = "{VERP_TEMPLATE}"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\ntimeout = 10.0\n',
        db_url=db_url,
    )
    assert cli(cfg, "lists", "add", "actualites", "--name", "Actualités de l'IMRAP") == 0
    for address, language in LIST:
        assert cli(cfg, "subscribers", "add", address, "--list", "actualites", "--language", language) == 0
    send(cfg, "2023-07", tmp_path)
    first = inbox.take()
    assert set(first) == {a for a, _ in LIST}

    # Each message went out with a VERP return path naming its send and recipient.
    secret = cfg.signing_secret()
    tokens = {}
    for address, (mail_from, raw) in first.items():
        token = verp.decode(secret, verp.token_from_address(VERP_TEMPLATE, mail_from) or "")
        assert token is not None, mail_from
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert int(message["X-Bulletin-Send"]) == token.send_id
        tokens[address] = token
    send_id = tokens[LIST[0][0]].send_id

    box = tmp_path / "bounce-mailbox"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    n = 0
    for address, reply in {**HARD, **SOFT}.items():
        n += 1
        mail_from, raw = first[address]
        (box / "new" / f"{n}.eml").write_bytes(dsn(mail_from, address, reply, raw, n))
    mail_from, raw = first[COMPLAINER]
    (box / "new" / "arf.eml").write_bytes(arf(mail_from, COMPLAINER, raw))
    (box / "new" / "ooo.eml").write_bytes(out_of_office(AWAY))
    capsys.readouterr()

    assert cli(cfg, "bounces", "ingest", str(box), "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["messages"] == 5 and summary["skipped"] == {"auto_reply": 1}
    assert (summary["bounced_hard"], summary["bounced_soft"], summary["complaints"]) == (2, 1, 1)
    assert (summary["marked_bounced"], summary["marked_complained"], summary["unmatched"]) == (2, 1, 0)

    assert cli(cfg, "status", str(send_id), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["total"] == len(LIST)
    assert report["sent"] + report["failed"] + report["deferred"] + report["pending"] + report["skipped"] == len(LIST)
    assert report["sent"] == len(LIST)
    assert (report["bounced_hard"], report["bounced_soft"], report["complaints"]) == (2, 1, 1)
    assert report["bounced"] == 3
    reasons = {r["reason"]: r["count"] for r in report["bounce_reasons"]}
    assert reasons == {"5.1.1 mailbox does not exist": 1, "5.1.10 recipient not found": 1, "4.2.2 mailbox full": 1}

    assert cli(cfg, "status", str(send_id)) == 0
    text = capsys.readouterr().out
    assert "bounced: 2 hard, 1 soft; complaints: 1" in text

    # The next issue skips the hard-bounced and the complainer; the soft bounce and the away one still get it.
    send(cfg, "2022-08", tmp_path)
    second = inbox.take()
    assert set(second) == {a for a, _ in LIST} - set(HARD) - {COMPLAINER}
    assert set(SOFT) <= set(second) and AWAY in second
