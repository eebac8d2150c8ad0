"""Faults of a real SMTP server: 451 greylisting, connections dropped every N messages, 550 unknown users.
Everyone deliverable gets exactly one message, the 550s are recorded with the server's reply, counts add up."""

from __future__ import annotations

import json

import pytest

from sqlalchemy import select

from bulletin.cli import main
from bulletin.deliver.sends import start_send
from bulletin.store import queries
from bulletin.store.db import engine_for, session_scope
from bulletin.store.models import Delivery
from tests.deliver_support import Recorder, SmtpServer, copy_issue, populate, smtp_toml


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
def test_451_drops_and_550(db_url, make_config, tmp_path, capsys, pipelining):
    ids = populate(db_url, 120)
    unknown = {f"user{i:05d}@example.org" for i in (3, 50, 77, 119)}
    greylisted = {f"user{i:05d}@example.org" for i in range(0, 120, 9)} - unknown
    handler = Recorder(
        temp_fail=lambda rcpt, attempt: rcpt in greylisted and attempt <= 2,
        perm_fail=unknown,
        drop_every=11,
        pipelining=pipelining,
    )
    issue = copy_issue(tmp_path)
    with SmtpServer(handler) as server:
        cfg = make_config(smtp_toml(server.port, "connections = 3\nbatch_size = 10\n"), db_url=db_url)
        assert main(["--config", str(cfg.path), "send", str(issue), "--list", "news"]) == 0
        per = handler.per_recipient()

    assert handler.drops >= 10, "the server did drop connections"
    assert per == {email: 1 for email in ids if email not in unknown}
    assert all(handler.attempts[g] >= 3 for g in greylisted), "greylisted addresses were retried"
    with session_scope(engine_for(cfg.database_url)) as s:
        failed = dict(s.execute(select(Delivery.email, Delivery.last_error).where(Delivery.status == "failed")).all())
    assert set(failed) == unknown
    for email, reply in failed.items():
        assert reply == f"550 5.1.1 <{email}>: no such user here"

    capsys.readouterr()
    assert main(["--config", str(cfg.path), "status", "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["total"] == 120 and report["sent"] == 116 and report["failed"] == 4
    assert report["sent"] + report["failed"] + report["deferred"] + report["pending"] + report["skipped"] == 120
    assert report["state"] == "done"
    assert sum(r["count"] for r in report["failure_reasons"]) == 4


def test_a_recipient_past_the_deadline_is_failed_with_the_last_reply(sqlite_url, make_config, tmp_path, capsys):
    ids = populate(sqlite_url, 6)
    always = {"user00002@example.org"}
    handler = Recorder(temp_fail=lambda rcpt, attempt: rcpt in always)
    issue = copy_issue(tmp_path)
    with SmtpServer(handler) as server:
        # 0.0003 h ~ 1 s: a few retries at 0.05-0.2 s, then the deadline passes.
        cfg = make_config(smtp_toml(server.port, "retry_deadline_hours = 0.0003\n"), db_url=sqlite_url)
        assert main(["--config", str(cfg.path), "send", str(issue), "--list", "news"]) == 0
        per = handler.per_recipient()
    err = capsys.readouterr().err
    assert "1 deferred after temporary failures; next retry at " in err, err
    assert "Ctrl-C leaves them to `bulletin worker`" in err
    assert per == {e: 1 for e in ids if e not in always}
    with session_scope(engine_for(cfg.database_url)) as s:
        row = s.scalar(select(Delivery).where(Delivery.email == "user00002@example.org"))
    assert row.status == "failed" and row.attempts >= 3
    assert row.last_error.startswith(f"gave up after {row.attempts} attempts: 451 4.7.1 greylisted")


def test_unreachable_server_defers_everyone_and_loses_nobody(sqlite_url, make_config, tmp_path, capsys):
    """No server at all: nothing is marked sent or failed; the rows wait for the worker."""
    populate(sqlite_url, 5)
    issue = copy_issue(tmp_path)
    from tests.deliver_support import free_port

    cfg = make_config(smtp_toml(free_port(), "retry_initial_seconds = 30.0\n"), db_url=sqlite_url)
    engine = engine_for(cfg.database_url)
    from bulletin.deliver.engine import deliver_send
    from bulletin.deliver.sends import create_send
    from bulletin.render.pipeline import render_issue

    with session_scope(engine) as s:
        send = create_send(s, issue_dir=issue, list_slug="news", editions=render_issue(issue, cfg))
        start_send(s, send.id)
    left = deliver_send(engine, cfg, send.id, wait_for_retries=False)
    assert (left.deferred, left.pending, left.claimed) == (5, 0, 0)
    with session_scope(engine) as s:
        rows = s.scalars(select(Delivery)).all()
        assert {r.status for r in rows} == {"deferred"}
        assert all(r.last_error.startswith("cannot connect to 127.0.0.1") for r in rows)
        assert queries.get_list(s, "news").id == send.list_id
