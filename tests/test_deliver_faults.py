"""Faults of a real SMTP server: 451 greylisting, dropped connections, 550 unknown users, a 421 at every stage, a
server down for a while, a host that never greets. Everyone deliverable gets exactly one message, nobody's
attempt is counted for the server's trouble, and the send says why it waits. Time is a manual clock."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import threading

import pytest
from sqlalchemy import select

from bulletin.cli import main
from bulletin.deliver.clock import ManualClock
from bulletin.deliver.engine import deliver_send
from bulletin.services.reports import send_report
from bulletin.services.store import UnitOfWork
from bulletin.store.db import engine_for, session_scope
from bulletin.store.models import Delivery
from tests.deliver_support import (
    Recorder,
    SmtpServer,
    copy_issue,
    free_port,
    manual_clock,
    populate,
    running_send,
    smtp_toml,
)


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


def test_a_recipient_past_the_deadline_is_failed_with_the_last_reply(sqlite_url, make_config, tmp_path, capsys,
                                                                     monkeypatch):
    """Retries at 0, 10, 30, 70, 130, 190, 250 and 310 s (doubling from 10 s, at most 60 s); the next would be
    past the 6-minute deadline, so the 8th failure is the last. The clock is manual: no machine is too busy."""
    ids = populate(sqlite_url, 6)
    always = {"user00002@example.org"}
    handler = Recorder(temp_fail=lambda rcpt, attempt: rcpt in always)
    issue = copy_issue(tmp_path)
    clock = manual_clock(monkeypatch)
    with SmtpServer(handler) as server:
        cfg = make_config(smtp_toml(server.port, "retry_initial_seconds = 10.0\nretry_max_seconds = 60.0\n"
                                                 "retry_deadline_hours = 0.1\n"), db_url=sqlite_url)
        assert main(["--config", str(cfg.path), "send", str(issue), "--list", "news"]) == 0
        per = handler.per_recipient()
    err = capsys.readouterr().err
    assert "1 deferred after temporary failures; next retry at " in err, err
    assert "Ctrl-C leaves them to `bulletin worker`" in err
    assert per == {e: 1 for e in ids if e not in always}
    assert handler.attempts["user00002@example.org"] == 8
    assert 310 <= clock.elapsed < 320
    with session_scope(engine_for(cfg.database_url)) as s:
        row = s.scalar(select(Delivery).where(Delivery.email == "user00002@example.org"))
    assert (row.status, row.attempts) == ("failed", 8)
    assert row.last_error == "gave up after 8 attempts: 451 4.7.1 greylisted, try again later"


def _rows(engine) -> list[Delivery]:
    with session_scope(engine) as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.id)))


def test_a_server_down_for_30_seconds_delays_the_send_and_costs_nobody_an_attempt(db_url, make_config, capsys,
                                                                                   caplog):
    ids = populate(db_url, 60)
    clock = ManualClock()
    port = free_port()
    handler = Recorder(pipelining=True)
    server = SmtpServer(handler, port=port)  # the port stays closed until the clock says 30 s
    cfg = make_config(smtp_toml(port, "connections = 3\nbatch_size = 10\n"), db_url=db_url)
    engine = engine_for(cfg.database_url)
    send_id = running_send(cfg)
    seen = {}

    def look() -> None:
        capsys.readouterr()
        assert main(["--config", str(cfg.path), "status", str(send_id), "--json"]) == 0
        seen["report"] = json.loads(capsys.readouterr().out)
        assert main(["--config", str(cfg.path), "status", str(send_id)]) == 0
        seen["text"] = capsys.readouterr().out
        seen["rows"] = {(r.status, r.attempts) for r in _rows(engine)}

    clock.at(20, look)
    clock.at(30, server.__enter__)
    caplog.set_level(logging.WARNING, logger="bulletin.deliver")
    try:
        left = deliver_send(engine, cfg, send_id, clock=clock)
    finally:
        server.__exit__()

    assert handler.per_recipient() == {e: 1 for e in ids}
    assert left.total == 0 and clock.elapsed == 30
    # While it waited: nobody tried, the send says why, since when, and when it tries again.
    assert seen["rows"] == {("pending", 0)}
    waiting = seen["report"]["unreachable"]
    assert (seen["report"]["state"], seen["report"]["pending"]) == ("running", 60)
    assert waiting["server"] == f"127.0.0.1:{port}"
    assert waiting["error"].startswith(f"cannot connect to 127.0.0.1:{port}: ") and "refused" in waiting["error"]
    assert dt.datetime.fromisoformat(waiting["since"]) == clock.start
    assert dt.datetime.fromisoformat(waiting["next_try_at"]) == clock.start + dt.timedelta(seconds=30)
    assert f"  waiting: 127.0.0.1:{port} unreachable since " in seen["text"]
    notices = [r.getMessage() for r in caplog.records]
    assert len([n for n in notices if f"send {send_id}: waiting: 127.0.0.1:{port} unreachable since " in n]) == 2
    assert notices[-1] == f"send {send_id}: 127.0.0.1:{port} answers again; the send goes on"
    # After: one attempt each, the one that went through, when the server came back; the waiting notice is gone.
    assert {(r.status, r.attempts, r.sent_at) for r in _rows(engine)} == {
        ("sent", 1, clock.start + dt.timedelta(seconds=30))}
    capsys.readouterr()
    assert main(["--config", str(cfg.path), "status", str(send_id), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unreachable"] is None


def test_a_host_that_never_greets_costs_one_timeout_per_step_not_per_recipient(sqlite_url, make_config):
    populate(sqlite_url, 50)
    clock = ManualClock()
    stop = threading.Event()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        accepted: list[socket.socket] = []

        def accept() -> None:  # take every connection and never say a word
            while True:
                try:
                    accepted.append(listener.accept()[0])
                except OSError:
                    return

        threading.Thread(target=accept, daemon=True).start()
        cfg = make_config(smtp_toml(listener.getsockname()[1], "connections = 2\n").replace("timeout = 10.0",
                                                                                          "timeout = 0.2"),
                          db_url=sqlite_url)
        engine = engine_for(cfg.database_url)
        send_id = running_send(cfg)
        clock.at(600, stop.set)
        left = deliver_send(engine, cfg, send_id, clock=clock, stop=stop)
        listener.shutdown(socket.SHUT_RDWR)
    # Both connections at 0 s, then one try at 10, 30, 70, 150 and 310 s; the next (610 s: doubling, at most
    # 300 s) is after the stop.
    assert len(accepted) == 2 + 5
    for conn in accepted:
        conn.close()
    assert left.pending == 50
    assert {(r.status, r.attempts) for r in _rows(engine)} == {("pending", 0)}
    with session_scope(engine) as s:
        waiting = send_report(UnitOfWork(s), send_id)["unreachable"]
    assert waiting["error"].endswith("timed out")
    assert dt.datetime.fromisoformat(waiting["next_try_at"]) == clock.start + dt.timedelta(seconds=610)


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
@pytest.mark.parametrize("stage", ["greeting", "MAIL", "RCPT", "DATA", "BODY"])
def test_a_421_at_any_stage_mails_each_deliverable_recipient_once(db_url, make_config, stage, pipelining):
    ids = populate(db_url, 40)
    unknown = {"user00007@example.org", "user00023@example.org"}
    if stage == "greeting":
        # Both first connections refused: the send waits 10 s as a whole, its first try is refused too (20 s
        # more), the next works; later, every third connection is refused while the others go on.
        closing = {stage: lambda n: n <= 3 or n % 3 == 0}
    else:
        closing = {stage: lambda n: n % 4 == 0}  # every fourth transaction
    handler = Recorder(pipelining=pipelining, perm_fail=unknown, closing=closing)
    clock = ManualClock()
    with SmtpServer(handler) as server:
        cfg = make_config(smtp_toml(server.port, "connections = 2\nbatch_size = 5\n"), db_url=db_url)
        engine = engine_for(cfg.database_url)
        left = deliver_send(engine, cfg, running_send(cfg), clock=clock)
    assert left.total == 0
    assert handler.closed[stage] >= 3, "the server did close connections at that stage"
    if stage == "greeting":
        assert clock.elapsed == 30
    assert handler.per_recipient() == {e: 1 for e in ids if e not in unknown}
    rows = _rows(engine)
    assert {(r.status, r.attempts) for r in rows if r.email not in unknown} == {("sent", 1)}, \
        "the recipients of a lost connection went back untouched"
    assert {r.email: (r.status, r.last_error) for r in rows if r.email in unknown} == {
        e: ("failed", f"550 5.1.1 <{e}>: no such user here") for e in unknown}
