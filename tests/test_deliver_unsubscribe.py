"""An unsubscribe is never lost: written to the journal first, applied as soon as the database allows, and skipped
by every send before each message meanwhile. The database is held by another writer as an import holds it: SQLite's
whole-file write lock, a PostgreSQL row lock."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time

import httpx
import pytest
from sqlalchemy import select, text

from bulletin.cli import main
from bulletin.deliver.clock import ManualClock
from bulletin.deliver.engine import LEFT_MEANWHILE, deliver_send
from bulletin.services import journal as applying
from bulletin.services import subscriptions
from bulletin.services.imports import import_file
from bulletin.services.store import Store
from bulletin.states import EventKind, SubscriptionStatus
from bulletin.store import queries
from bulletin.store.db import engine_for, session_scope
from bulletin.store.models import Delivery, Event, Subscription
from bulletin.tokens import Tokens, UnsubscribeToken
from tests.deliver_support import Collecting, populate, running_send


@contextlib.contextmanager
def held(engine, subscriber_id: int, list_id: int):
    """Another writer holds what an unsubscribe must change until the block ends: on SQLite the write lock of the
    whole file, on PostgreSQL the subscription's row (as an import that updated it does)."""
    if engine.dialect.name == "sqlite":
        conn = sqlite3.connect(engine.url.database, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT 1 FROM subscriptions WHERE subscriber_id = :s AND list_id = :l FOR UPDATE"),
                     {"s": subscriber_id, "l": list_id})
        try:
            yield
        finally:
            conn.rollback()


def _status(engine, subscriber_id: int, list_id: int) -> str:
    with session_scope(engine) as s:
        return s.get(Subscription, (subscriber_id, list_id)).status


def _events(engine, subscriber_id: int) -> list[tuple[str, str, int | None]]:
    with session_scope(engine) as s:
        return [(e.kind, e.source, e.send_id) for e in
                s.scalars(select(Event).where(Event.subscriber_id == subscriber_id).order_by(Event.id))]


@pytest.fixture
def no_retry(monkeypatch):
    """The journal's own retries wait an hour: the test applies it when it chooses (as the worker's pass does)."""
    monkeypatch.setattr(applying, "RETRY", (3600.0, 3600.0))


def test_an_unsubscribe_the_database_cannot_take_is_journalled_skipped_by_a_send_and_applied_later(
        db_url, make_config, no_retry):
    ids = populate(db_url, 12)
    cfg = make_config("[delivery]\nbatch_size = 4\n", db_url=db_url)
    store = Store.open(cfg)
    send_id = running_send(cfg)
    with session_scope(store.engine) as s:
        list_id = queries.get_list(s, "news").id
    leaver = "user00007@example.org"
    token = UnsubscribeToken(ids[leaver], list_id, send_id)

    with held(store.engine, ids[leaver], list_id):
        with store.unit_of_work() as uow:
            outcome = subscriptions.unsubscribe(uow, token, source="one-click")
        # The person is told at once; the list cannot change yet, the journal has it.
        assert (outcome.changed, outcome.membership.status) == (True, SubscriptionStatus.UNSUBSCRIBED)
        assert _status(store.engine, ids[leaver], list_id) == "subscribed"
        assert [(e.email_key, e.list_id, e.send_id) for e in store.journal.pending()] == [(leaver, list_id, send_id)]
        with store.unit_of_work() as uow:  # asking again changes nothing and journals nothing more
            assert not subscriptions.unsubscribe(uow, token, source="one-click").changed
        assert len(store.journal.pending()) == 1

    # A send that runs before the journal is applied does not mail them.
    transport = Collecting()
    deliver_send(store.engine, cfg, send_id, transport_factory=lambda: transport, clock=ManualClock())
    assert sorted(r[0] for _, r, _ in transport.sent) == sorted(set(ids) - {leaver})
    with session_scope(store.engine) as s:
        row = s.scalar(select(Delivery).where(Delivery.email == leaver))
    assert (row.status, row.last_error) == ("skipped", LEFT_MEANWHILE)

    assert applying.apply_pending(store)  # the worker's pass, once the database takes it
    assert _status(store.engine, ids[leaver], list_id) == "unsubscribed"
    assert _events(store.engine, ids[leaver]) == [(EventKind.UNSUBSCRIBE, "one-click", send_id)]
    assert store.journal.pending() == []


def test_undo_after_a_journalled_unsubscribe_wins_over_it(db_url, make_config, no_retry):
    ids = populate(db_url, 3)
    cfg = make_config("", db_url=db_url)
    store = Store.open(cfg)
    with session_scope(store.engine) as s:
        list_id = queries.get_list(s, "news").id
    who = ids["user00001@example.org"]
    token = UnsubscribeToken(who, list_id)
    with held(store.engine, who, list_id):
        with store.unit_of_work() as uow:
            assert subscriptions.unsubscribe(uow, token, source="web").changed
    with store.unit_of_work() as uow:
        assert subscriptions.undo_unsubscribe(uow, token, source="web:undo").changed
    assert applying.apply_pending(store)  # the journal's entry finds the undo later than itself
    assert _status(store.engine, who, list_id) == "subscribed"
    assert [k for k, _, _ in _events(store.engine, who)] == [EventKind.UNSUBSCRIBE, EventKind.RESUBSCRIBE]
    assert store.journal.pending() == []


def test_the_journal_applies_itself_when_the_database_is_free_again(sqlite_url, make_config, monkeypatch):
    """No worker, no second request: the thread of the process that took the request tries again."""
    monkeypatch.setattr(applying, "RETRY", (0.05, 0.2))
    ids = populate(sqlite_url, 2)
    cfg = make_config("", db_url=sqlite_url)
    store = Store.open(cfg)
    with session_scope(store.engine) as s:
        list_id = queries.get_list(s, "news").id
    who = ids["user00000@example.org"]
    with held(store.engine, who, list_id):
        with store.unit_of_work() as uow:
            subscriptions.unsubscribe(uow, UnsubscribeToken(who, list_id), source="one-click")
        retrier = applying._retriers[id(store.engine)]
        assert retrier.thread.is_alive(), "a thread of this process will try again"
    retrier.thread.join(30)
    assert not retrier.thread.is_alive()
    assert _status(store.engine, who, list_id) == "unsubscribed"
    assert store.journal.pending() == []


def test_the_command_line_unsubscribe_is_journalled_and_the_worker_applies_it(sqlite_url, make_config, capsys,
                                                                                no_retry):
    ids = populate(sqlite_url, 2)
    cfg = make_config("", db_url=sqlite_url)
    engine = engine_for(cfg.database_url)
    with session_scope(engine) as s:
        list_id = queries.get_list(s, "news").id
    who = "user00001@example.org"
    with held(engine, ids[who], list_id):
        assert main(["--config", str(cfg.path), "subscribers", "unsubscribe", who, "--list", "news"]) == 0
        assert capsys.readouterr().out.startswith(f"{who} unsubscribed from news")
        assert _status(engine, ids[who], list_id) == "subscribed"
    assert main(["--config", str(cfg.path), "worker", "--drain"]) == 0
    assert _status(engine, ids[who], list_id) == "unsubscribed"
    assert _events(engine, ids[who]) == [(EventKind.UNSUBSCRIBE, "cli", None)]


@pytest.mark.slow
def test_one_click_posts_during_an_import_on_sqlite(sqlite_url, make_config, tmp_path, monkeypatch):
    """An import of 20,000 rows holds SQLite's write lock (it stops after its first batch until the test lets it
    go on, so that the lock is surely held while the POSTs come); a send runs meanwhile. Every POST answers 200
    with the unsubscribed page while the import still holds the lock; when it ends, every one of those people is
    unsubscribed, and the send mailed none of them. (bench/bench_unsubscribe.py: a million rows, real time.)"""
    from web_support import live_site

    monkeypatch.setattr(applying, "RETRY", (0.05, 0.5))
    ids = populate(sqlite_url, 120)
    leavers = [f"user{i:05d}@example.org" for i in range(40, 100, 3)]
    rows = 20_000
    csv = tmp_path / "import.csv"
    csv.write_text("email,name\n" + "".join(f"new{i:06d}@example.net,Nouvel abonné {i}\n" for i in range(rows)),
                   encoding="utf-8")

    with live_site(make_config, sqlite_url, tmp_path, delivery="batch_size = 10") as site:
        store = Store(site.engine)
        send_id = running_send(site.cfg)
        with session_scope(site.engine) as s:
            list_id = queries.get_list(s, "news").id
        tokens = Tokens(site.cfg.signing_secret())

        holding, go_on = threading.Event(), threading.Event()

        def progress(done, total):
            if not holding.is_set():  # the first batch is written: the import holds the write lock
                holding.set()
                go_on.wait(120)

        reports = []
        importing = threading.Thread(target=lambda: reports.append(_import(store, site.cfg, csv, progress)))
        importing.start()
        assert holding.wait(60), "the import started writing"

        # A send runs meanwhile: it has claimed its first batch and mails it; the rest waits for the lock.
        sent: list[str] = []

        def on_send(n, recipients):
            sent.extend(recipients)

        sending = threading.Thread(target=lambda: deliver_send(
            site.engine, site.cfg, send_id, transport_factory=lambda: Collecting(on_send), clock=ManualClock()))
        sending.start()

        answers, seconds = [], []
        for email in leavers:
            url = f"{site.url}/unsubscribe/{tokens.unsubscribe(ids[email], list_id, send_id)}"
            start = time.monotonic()
            r = httpx.post(url, data={"List-Unsubscribe": "One-Click"}, timeout=30)
            seconds.append(time.monotonic() - start)
            answers.append((r.status_code, f"{url}/undo" in r.text))  # the unsubscribed page offers the undo
            assert importing.is_alive() and not go_on.is_set(), "answered while the import held the lock"
        print(f"\n{len(leavers)} one-click POSTs while an import held the write lock: slowest {max(seconds):.2f} s, "
              f"median {sorted(seconds)[len(seconds) // 2]:.2f} s")
        assert answers == [(200, True)] * len(leavers)

        go_on.set()
        importing.join(300)
        sending.join(300)
        retrier = applying._retriers.get(id(site.engine))
        if retrier is not None and retrier.thread is not None:
            retrier.thread.join(60)

    assert reports and reports[0].added == rows
    for email in leavers:
        assert _status(site.engine, ids[email], list_id) == "unsubscribed", email
        assert _events(site.engine, ids[email]) == [(EventKind.UNSUBSCRIBE, "one-click", send_id)]
    assert not set(sent) & set(leavers), "the send mailed none of them"
    assert sorted(sent) == sorted(set(ids) - set(leavers)), "and everybody else once"


def _import(store: Store, cfg, path, progress):
    with store.unit_of_work() as uow:
        return import_file(uow, cfg, path, "news", progress=progress, batch_size=2000)
