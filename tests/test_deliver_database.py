"""A database that stops taking writes: locked by another process or read-only, mid-send and at `bulletin send`.
Mid-send the send pauses (nothing more on the wire), says why, and goes on when the database records again:
everybody gets one message. At `send` it is a one-line error and nothing changes."""

from __future__ import annotations

import logging
import sqlite3
import threading

import pytest
from sqlalchemy import event, func, select, text

from bulletin.cli import main
from bulletin.deliver.clock import ManualClock
from bulletin.deliver.engine import deliver_send
from bulletin.store.db import engine_for, session_scope
from bulletin.store.models import Delivery, Send
from tests.deliver_support import Collecting, copy_issue, populate, running_send


def _statuses(engine) -> set[tuple[str, int]]:
    with session_scope(engine) as s:
        return {tuple(r) for r in s.execute(select(Delivery.status, Delivery.attempts))}


def _pauses(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "paused since" in r.getMessage()]


@pytest.mark.parametrize("at", [9, 12], ids=["last-of-a-batch", "mid-batch"])
def test_a_database_locked_mid_send_pauses_it_and_resuming_repeats_nobody(tmp_path, make_config, caplog, at):
    path = tmp_path / "bulletin.db"
    url = f"sqlite:///{path}?timeout=0.2"  # a writer gives up after 0.2 s instead of 30
    ids = populate(url, 30)
    cfg = make_config("[delivery]\nbatch_size = 10\n", db_url=url)
    engine = engine_for(cfg.database_url)
    send_id = running_send(cfg)
    locker = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    clock = ManualClock()

    locked = threading.Event()

    def lock_at(n, recipients):
        if n == at and not locked.is_set():
            locked.set()
            locker.execute("BEGIN EXCLUSIVE")  # another process takes the write lock and keeps it

    clock.at(5, lambda: locker.execute("COMMIT"))  # ... for 5 seconds
    transport = Collecting(lock_at)
    caplog.set_level(logging.WARNING, logger="bulletin.deliver")
    left = deliver_send(engine, cfg, send_id, transport_factory=lambda: transport, clock=clock)
    locker.close()

    assert sorted(r[0] for _, r, _ in transport.sent) == sorted(ids), "everyone once, nobody twice"
    assert left.total == 0 and _statuses(engine) == {("sent", 1)}
    pauses = _pauses(caplog)
    assert pauses and all("the database is locked by another process (database is locked)" in p for p in pauses)
    assert f"send {send_id}: the database records again; the send goes on" in [r.getMessage() for r in caplog.records]
    assert clock.elapsed >= 5


def _make_read_only(engine, read_only: threading.Event) -> None:
    """Every transaction begun while `read_only` is set is read-only, by the database's own rule (a standby
    PostgreSQL or a read-only SQLite file say the same)."""

    @event.listens_for(engine, "checkout")
    def checkout(dbapi_conn, record, proxy):
        cur = dbapi_conn.cursor()
        if engine.dialect.name == "sqlite":
            cur.execute(f"PRAGMA query_only = {1 if read_only.is_set() else 0}")
        else:
            cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION " +
                        ("READ ONLY" if read_only.is_set() else "READ WRITE"))
            dbapi_conn.commit()
        cur.close()


def test_a_database_read_only_mid_send_pauses_it_and_resuming_repeats_nobody(db_url, make_config, caplog):
    ids = populate(db_url, 40)
    cfg = make_config("[delivery]\nbatch_size = 10\nconnections = 2\n", db_url=db_url)
    engine = engine_for(cfg.database_url)
    send_id = running_send(cfg)
    read_only = threading.Event()
    _make_read_only(engine, read_only)
    clock = ManualClock()
    clock.at(20, read_only.clear)
    transports = []

    turned = threading.Event()

    def on_send(n, recipients):
        if n == 7 and not turned.is_set():
            turned.set()
            read_only.set()

    def factory():
        transports.append(Collecting(on_send))
        return transports[-1]

    caplog.set_level(logging.WARNING, logger="bulletin.deliver")
    left = deliver_send(engine, cfg, send_id, transport_factory=factory, clock=clock)

    sent = sorted(r[0] for t in transports for _, r, _ in t.sent)
    assert sent == sorted(ids), "everyone once, nobody twice"
    assert left.total == 0 and _statuses(engine) == {("sent", 1)}
    pauses = _pauses(caplog)
    assert pauses and all("the database is read-only (" in p for p in pauses)
    assert clock.elapsed >= 20


@pytest.mark.parametrize("kind", ["read-only", "locked"])
def test_a_read_only_or_locked_database_at_send_is_a_one_line_error(db_url, make_config, tmp_path, capsys, kind):
    populate(db_url, 5)
    issue = copy_issue(tmp_path)
    sqlite = db_url.startswith("sqlite")
    path = db_url.removeprefix("sqlite:///")
    if kind == "read-only":
        url = f"sqlite:///file:{path}?mode=ro&uri=true" if sqlite else \
            f"{db_url}?options=-c%20default_transaction_read_only%3Don"
    else:
        url = f"{db_url}?timeout=0.3" if sqlite else f"{db_url}?options=-c%20lock_timeout%3D300"
    cfg = make_config("", db_url=url)
    holder = None
    if kind == "locked":  # another process writes and holds its lock
        if sqlite:
            holder = sqlite3.connect(path, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
        else:
            holder = engine_for(db_url).connect()
            holder.execute(text("LOCK TABLE sends IN EXCLUSIVE MODE"))
    try:
        assert main(["--config", str(cfg.path), "send", str(issue), "--list", "news"]) == 1
    finally:
        if holder is not None:
            holder.rollback() if not sqlite else holder.execute("ROLLBACK")
            holder.close()
    out, err = capsys.readouterr()
    expected = "the database is read-only" if kind == "read-only" else "the database is locked by another process"
    assert err.startswith(f"error: [database].url: {expected} (") and err.count("\n") == 1, err
    assert "Traceback" not in err and out == ""
    with session_scope(engine_for(db_url)) as s:
        assert s.scalar(select(func.count()).select_from(Send)) == 0
        assert s.scalar(select(func.count()).select_from(Delivery)) == 0
    assert not (tmp_path / "outbox").exists()


def test_a_login_without_tls_to_another_host_is_refused_before_anything_changes(sqlite_url, make_config, tmp_path,
                                                                                capsys, monkeypatch):
    populate(sqlite_url, 3)
    issue = copy_issue(tmp_path)
    monkeypatch.setenv("BULLETIN_SMTP_PASSWORD", "s3cret")
    cfg_path = tmp_path / "clear.toml"
    cfg_path.write_text(f'[database]\nurl = "{sqlite_url}"\n[delivery]\ntransport = "smtp"\n'
                        '[smtp]\nhost = "192.0.2.25"\nport = 587\nusername = "imrap"\n', encoding="utf-8")
    assert main(["--config", str(cfg_path), "send", str(issue), "--list", "news"]) == 1
    err = capsys.readouterr().err
    # Line 5: the [smtp] section, where `security` is missing (its default is "none").
    assert err == (f"error: {cfg_path}:5: [smtp].security: a login ([smtp].username) without TLS would send the "
                   "password in clear to 192.0.2.25; set it to \"starttls\" or \"ssl\" (only a server on this "
                   "machine may take a login without TLS)\n")
    with session_scope(engine_for(sqlite_url)) as s:
        assert s.scalar(select(func.count()).select_from(Send)) == 0
