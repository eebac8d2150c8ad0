"""End to end through a real SMTP server (aiosmtpd in this process) and a real database (SQLite, PostgreSQL):
300 subscribers in two languages, each gets one message, in their language, with their own links, every header
of the spec, a VERP return path, and a DKIM signature that dkimpy verifies."""

from __future__ import annotations

import json

import dkim
import pytest
from sqlalchemy import func, select

from bulletin.bounces import verp
from bulletin.cli import main
from bulletin.store.db import engine_for, session_scope
from bulletin.store.models import Delivery, Send
from bulletin.tokens import Tokens
from tests.deliver_support import Recorder, SmtpServer, copy_issue, dkim_key, populate, smtp_toml

SECRET = b"test-secret-0123456789abcdef0123456789"
SUBJECTS = {"fr": "Bulletin d'information de l'IMRAP — juillet 2023", "en": "IMRAP Newsletter — July 2023"}


def test_send_300_subscribers_two_languages(db_url, make_config, tmp_path, capsys):
    key_path, record = dkim_key(tmp_path)
    ids = populate(db_url, 300)
    issue = copy_issue(tmp_path)
    with SmtpServer(Recorder(pipelining=True)) as server:
        cfg = make_config(
            smtp_toml(server.port, "connections = 4\nbatch_size = 25\n")
            + f'\n[dkim]\ndomain = "imrap-mali.org"\nselector = "bulletin"\nprivate_key_file = "{key_path}"\n'
            + '\n[web]\nbase_url = "https://news.imrap-mali.org"\n',
            db_url=db_url,
        )
        assert main(["--config", str(cfg.path), "send", str(issue), "--list", "news"]) == 0
        received = list(server.handler.received)

    counts = {}
    for r in received:
        counts[r.rcpt] = counts.get(r.rcpt, 0) + 1
    assert counts == {email: 1 for email in ids}, "everyone exactly once"

    tokens = Tokens(SECRET)
    dns = lambda name, timeout=5: record  # noqa: E731
    for i, r in enumerate(received):
        sub_id = ids[r.rcpt]
        msg = r.message
        lang = "en" if int(r.rcpt[4:9]) % 2 else "fr"
        assert str(msg["Subject"]) == SUBJECTS[lang]
        unsub = msg["List-Unsubscribe"].strip("<>")
        assert unsub.startswith("https://news.imrap-mali.org/unsubscribe/")
        token = tokens.read_unsubscribe(unsub.rsplit("/", 1)[1])
        assert (token.subscriber_id, token.send_id) == (sub_id, 1)
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["List-Id"] == "Nouvelles de l'IMRAP <news.imrap-mali.org>"
        assert msg["Message-ID"] == f"<bulletin.1.{sub_id}@imrap-mali.org>"
        assert msg["Date"] and msg["X-Bulletin-Send"] == "1"
        text, html = [p for p in msg.walk() if p.get_content_maintype() == "text"]
        assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
        assert unsub in text.get_content() and unsub in html.get_content(), "the same link in the footer"
        assert len(html.get_payload(decode=True)) < 100_000
        assert ("Se désinscrire" if lang == "fr" else "Unsubscribe") in html.get_content()
        assert verp.decode(SECRET, verp.token_from_address("bounces+{token}@imrap-mali.org", r.mail_from)) \
            == verp.VerpToken(1, sub_id)
        if i % 10 == 0 or i == len(received) - 1:  # dkimpy is slow; a sample of 31 verifies
            assert dkim.verify(r.data, dnsfunc=dns), r.rcpt
    altered = received[0].data.replace(b"List-Unsubscribe=One-Click", b"List-Unsubscribe=One-Click ", 1)
    assert dkim.verify(altered, dnsfunc=dns)  # relaxed canonicalisation: trailing space is no change
    altered = received[0].data.replace(b"List-Unsubscribe=One-Click", b"List-Unsubscribe=Two-Clicks", 1)
    assert not dkim.verify(altered, dnsfunc=dns)

    capsys.readouterr()
    assert main(["--config", str(cfg.path), "status", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    mine = {k: report[k] for k in ("id", "issue", "list", "state", "scheduled_at", "total", "sent", "failed",
                                   "deferred", "pending", "skipped", "bounced", "unsubscribed", "failure_reasons")}
    assert report["started_at"] <= report["finished_at"]
    assert mine | {"started_at": None, "finished_at": None} == {
        "id": 1, "issue": "2023-07", "list": "news", "state": "done", "scheduled_at": None, "started_at": None,
        "finished_at": None, "total": 300, "sent": 300, "failed": 0, "deferred": 0, "pending": 0, "skipped": 0,
        "bounced": 0, "unsubscribed": 0, "failure_reasons": [],
    }


def test_second_send_of_an_issue_is_refused_unless_again(sqlite_url, make_config, tmp_path, capsys):
    ids = populate(sqlite_url, 3)
    issue = copy_issue(tmp_path)
    with SmtpServer(Recorder()) as server:
        cfg = make_config(smtp_toml(server.port), db_url=sqlite_url)
        args = ["--config", str(cfg.path), "send", str(issue), "--list", "news"]
        assert main(args) == 0
        capsys.readouterr()
        assert main(args) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: {issue}: issue '2023-07' was already sent to list 'news' (send 1, done)")
        assert "--again" in err
        assert len(server.handler.received) == 3
        with session_scope(engine_for(cfg.database_url)) as s:
            assert s.scalar(select(func.count()).select_from(Send)) == 1
        assert main(args + ["--again"]) == 0
        assert sorted(server.handler.per_recipient().values()) == [2, 2, 2]
    assert len(ids) == 3


def test_test_send_marks_the_subject_and_writes_no_delivery_rows(sqlite_url, make_config, tmp_path):
    populate(sqlite_url, 2)
    issue = copy_issue(tmp_path)
    with SmtpServer(Recorder()) as server:
        cfg = make_config(smtp_toml(server.port), db_url=sqlite_url)
        assert main(["--config", str(cfg.path), "send", str(issue), "--to", "officer@imrap-mali.org",
                     "--list", "news"]) == 0
        subjects = sorted(str(r.message["Subject"]) for r in server.handler.received)
    assert subjects == sorted(f"[TEST] {s}" for s in SUBJECTS.values())
    with session_scope(engine_for(cfg.database_url)) as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == 0
        assert s.scalar(select(func.count()).select_from(Send)) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["send", "ISSUE", "--list", "nope"], "error: --list: no list named 'nope'"),
        (["send", "ISSUE"], "error: send: which list?"),
        (["send", "ISSUE", "--list", "news", "--at", "tomorrow"], "error: --at: 'tomorrow' is not an ISO 8601"),
        (["send", "ISSUE", "--list", "news", "--at", "2020-01-01T08:00"], "error: --at: 2020-01-01T08:00:00+00:00 is in the past"),
        (["send", "NOWHERE", "--list", "news"], "error: NOWHERE: no such issue folder"),
        (["send", "ISSUE", "--to", "not an address"], "error: --to: 'not an address' is not an email address"),
        (["status", "42"], "error: SEND_ID: no send 42"),
    ],
)
def test_mistakes_print_a_clear_error_and_change_nothing(sqlite_url, make_config, tmp_path, capsys, args, message):
    populate(sqlite_url, 2)
    issue = copy_issue(tmp_path)
    cfg = make_config("", db_url=sqlite_url)
    args = [str(issue) if a == "ISSUE" else str(tmp_path / "nowhere") if a == "NOWHERE" else a for a in args]
    message = message.replace("NOWHERE", str(tmp_path / "nowhere"))
    assert main(["--config", str(cfg.path), *args]) == 1
    assert capsys.readouterr().err.startswith(message)
    with session_scope(engine_for(cfg.database_url)) as s:
        assert s.scalar(select(func.count()).select_from(Send)) == 0
        assert s.scalar(select(func.count()).select_from(Delivery)) == 0
    assert list((tmp_path / "outbox").glob("new/*")) == [], "no message was written"
