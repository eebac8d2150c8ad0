"""The delivery engine: who is skipped, what is marked, how fast it may go, and what stops a send."""

from __future__ import annotations

import email
import email.policy
import threading

import pytest
from sqlalchemy import select, update

from bulletin.cli import main
from bulletin.deliver.clock import ManualClock
from bulletin.deliver.engine import deliver_send
from bulletin.deliver.ratelimit import TokenBucket
from bulletin.services.reports import send_report
from bulletin.services.store import UnitOfWork
from bulletin.errors import DeliveryError
from bulletin.store import queries
from bulletin.store.db import engine_for, session_scope
from bulletin.store.models import Delivery, Subscriber
from tests.deliver_support import Collecting, Recorder, SmtpServer, populate, running_send, smtp_toml


def test_subscribers_who_leave_during_a_send_are_skipped_from_the_next_batch(db_url, make_config):
    ids = populate(db_url, 30)
    cfg = make_config("[delivery]\nbatch_size = 5\n", db_url=db_url)
    engine = engine_for(cfg.database_url)
    send_id = running_send(cfg)

    def leave(n, recipients):
        if n == 0:
            with session_scope(engine) as s:
                ml = queries.get_list(s, "news")
                queries.unsubscribe(s, ids["user00020@example.org"], ml.id, send_id=send_id, source="web")
                s.execute(update(Subscriber).where(Subscriber.id == ids["user00021@example.org"])
                          .values(status="bounced"))

    transport = Collecting(leave)
    deliver_send(engine, cfg, send_id, transport_factory=lambda: transport)
    got = sorted(r[0] for _, r, _ in transport.sent)
    assert got == sorted(set(ids) - {"user00020@example.org", "user00021@example.org"})
    with session_scope(engine) as s:
        report = send_report(UnitOfWork(s), send_id)
    assert (report["sent"], report["skipped"], report["unsubscribed"], report["state"]) == (28, 2, 1, "done")


def test_languages_without_an_edition_get_the_primary_one(sqlite_url, make_config):
    ids = populate(sqlite_url, 6, languages=("fr", "en", "bm"))
    cfg = make_config("", db_url=sqlite_url)
    transport = Collecting()
    deliver_send(engine_for(cfg.database_url), cfg, running_send(cfg), transport_factory=lambda: transport)
    subjects = {r[0]: str(email.message_from_bytes(m, policy=email.policy.default)["Subject"])
                for _, r, m in transport.sent}
    assert len(subjects) == len(ids)
    for address, subject in subjects.items():
        lang = ("fr", "en", "bm")[int(address[4:9]) % 3]
        assert subject == ("December" if lang == "en" else "Décembre")


def test_an_unexpected_error_is_recorded_on_its_row_and_raised(sqlite_url, make_config):
    populate(sqlite_url, 10)
    cfg = make_config("", db_url=sqlite_url)
    engine = engine_for(cfg.database_url)
    send_id = running_send(cfg)

    def boom(n, recipients):
        if n == 3:
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        deliver_send(engine, cfg, send_id, transport_factory=lambda: Collecting(boom))
    with session_scope(engine) as s:
        rows = {r.email: r for r in s.scalars(select(Delivery))}
    statuses = sorted(r.status for r in rows.values())
    assert statuses == ["deferred"] + ["pending"] * 6 + ["sent"] * 3
    (deferred,) = [r for r in rows.values() if r.status == "deferred"]
    assert deferred.last_error == "internal error: RuntimeError: disk on fire"


def test_a_refused_sender_stops_the_send_and_gives_the_rows_back(sqlite_url, make_config, capsys):
    populate(sqlite_url, 8)
    handler = Recorder(refuse_sender="553 5.7.1 sender not allowed to relay")
    with SmtpServer(handler) as server:
        cfg = make_config(smtp_toml(server.port), db_url=sqlite_url)
        send_id = running_send(cfg)
        engine = engine_for(cfg.database_url)
        with pytest.raises(DeliveryError, match="the server refused the sender"):
            deliver_send(engine, cfg, send_id)
        assert main(["--config", str(cfg.path), "worker", "--drain"]) == 1
        assert capsys.readouterr().err.startswith("error: [delivery].return_path: the server refused the sender")
    with session_scope(engine) as s:
        rows = s.scalars(select(Delivery)).all()
    assert {(r.status, r.attempts) for r in rows} == {("pending", 0)}, "nobody marked failed for our mistake"


def test_token_bucket_limits_all_threads_together():
    clock = ManualClock()
    bucket = TokenBucket(40.0, clock=clock)

    def take():
        for _ in range(10):
            bucket.acquire()

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.elapsed == pytest.approx(39 / 40)  # 40 messages at 40/s: the first is free


def test_rate_is_messages_per_second_across_connections(sqlite_url, make_config):
    populate(sqlite_url, 21)
    cfg = make_config("[delivery]\nrate = 40.0\nconnections = 4\nbatch_size = 3\n", db_url=sqlite_url)
    clock = ManualClock()
    transports = []

    def factory():
        transports.append(Collecting())
        return transports[-1]

    deliver_send(engine_for(cfg.database_url), cfg, running_send(cfg), transport_factory=factory, clock=clock)
    assert sum(len(t.sent) for t in transports) == 21
    assert clock.elapsed == pytest.approx(20 / 40)


def test_maildir_is_the_default_and_writes_one_file_per_recipient(sqlite_url, make_config, tmp_path, capsys):
    ids = populate(sqlite_url, 7)
    cfg = make_config("", db_url=sqlite_url)
    send_id = running_send(cfg)
    assert main(["--config", str(cfg.path), "worker", "--drain"]) == 0
    assert f"send {send_id}: 2026-12 to news [done] total 7, sent 7" in capsys.readouterr().out
    files = sorted((tmp_path / "outbox" / "new").iterdir())
    assert len(files) == 7
    tos = sorted(f.read_bytes().split(b"X-Envelope-To: ", 1)[1].split(b"\r\n", 1)[0].decode() for f in files)
    assert tos == sorted(ids)
    assert main(["--config", str(cfg.path), "worker", "--drain"]) == 0
    assert capsys.readouterr().out == "nothing to send\n"
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 7


def test_list_id_keeps_its_identifier_readable_when_the_name_is_not_ascii(sqlite_url, make_config):
    populate(sqlite_url, 1)
    cfg = make_config("", db_url=sqlite_url)
    engine = engine_for(cfg.database_url)
    with session_scope(engine) as s:
        queries.get_list(s, "news").name = "Actualités « Mali »"
    transport = Collecting()
    deliver_send(engine, cfg, running_send(cfg), transport_factory=lambda: transport)
    (_, _, data), = transport.sent
    raw = data.split(b"\r\nList-Id: ", 1)[1].split(b"\r\n", 1)[0]
    assert raw.endswith(b" <news.imrap-mali.org>") and raw.isascii()
    assert str(email.message_from_bytes(data, policy=email.policy.default)["List-Id"]) == \
        "Actualités « Mali » <news.imrap-mali.org>"


def test_cancel_during_a_send_stops_it_after_the_messages_in_hand(sqlite_url, make_config):
    from bulletin.deliver.sends import cancel_send

    populate(sqlite_url, 40)
    cfg = make_config("[delivery]\nbatch_size = 5\n", db_url=sqlite_url)
    engine = engine_for(cfg.database_url)
    send_id = running_send(cfg)

    def cancel_at_third(n, recipients):
        if n == 2:
            with session_scope(engine) as s:
                assert cancel_send(s, send_id) == "running"

    transport = Collecting(cancel_at_third)
    deliver_send(engine, cfg, send_id, transport_factory=lambda: transport)
    with session_scope(engine) as s:
        report = send_report(UnitOfWork(s), send_id)
    assert len(transport.sent) == 5, "the batch in hand finishes, nothing more is claimed"
    assert (report["state"], report["sent"], report["skipped"]) == ("cancelled", 5, 35)
