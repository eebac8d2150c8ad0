"""Crash and resume: `bulletin send` and `bulletin worker --drain` killed with SIGKILL at several points mid-send,
then drained. Nobody is lost; the only repeats are rows that the killed process had claimed and not yet marked
(messages in flight). On SQLite and PostgreSQL; and two workers on PostgreSQL share one send."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from bulletin.deliver.sends import create_send, start_send
from bulletin.render.pipeline import render_issue
from bulletin.store.db import engine_for, session_scope
from bulletin.deliver import outcomelog
from bulletin.deliver.outcomelog import spool_folder
from bulletin.states import DeliveryStatus
from bulletin.store.deliveries import DeliveryRows
from bulletin.store.models import Delivery, Send, utcnow
from tests.deliver_support import Recorder, SmtpServer, bulletin_cmd, copy_issue, populate, running_send, smtp_toml

N = 300


class Killer:
    """Kills the current process with SIGKILL when the server has accepted `at` messages in all, inside the
    server's DATA handler: that message is accepted but its sender never hears the 250, the worst moment."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.at: int | None = None
        self.fired = threading.Event()

    def __call__(self, received, count: int) -> None:
        if self.at is not None and count >= self.at and self.proc is not None and not self.fired.is_set():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.fired.set()


def _in_flight(url: str) -> set[str]:
    with session_scope(engine_for(url)) as s:
        return set(s.scalars(select(Delivery.email).where(Delivery.status == "claimed")))


def test_killed_at_several_points_then_drained(db_url, make_config, tmp_path):
    ids = populate(db_url, N)
    issue = copy_issue(tmp_path)
    killer = Killer()
    handler = Recorder(on_accept=killer)
    in_flight: set[str] = set()
    with SmtpServer(handler) as server:
        cfg = make_config(smtp_toml(server.port, "connections = 2\nbatch_size = 20\n"), db_url=db_url)
        runs = [
            (["send", str(issue), "--list", "news"], 1),  # the very first message
            (["worker", "--drain"], 110),
            (["worker", "--drain"], 230),
            (["worker", "--drain"], None),  # runs to the end
        ]
        for args, kill_at in runs:
            killer.at, killer.fired = kill_at, threading.Event()
            with open(tmp_path / "out.log", "ab") as log:
                killer.proc = subprocess.Popen(bulletin_cmd("--config", str(cfg.path), *args), stdout=log, stderr=log,
                                               cwd=tmp_path)
                rc = killer.proc.wait(timeout=120)
            if kill_at is None:
                assert rc == 0, (tmp_path / "out.log").read_text()
            else:
                assert rc == -signal.SIGKILL, f"{args} was not killed: {(tmp_path / 'out.log').read_text()}"
                in_flight |= _in_flight(cfg.database_url)
        per = handler.per_recipient()
        message_ids: dict[str, set[str]] = {}
        for r in handler.received:
            message_ids.setdefault(r.rcpt, set()).add(r.message["Message-ID"])

    assert set(per) == set(ids), "nobody lost"
    assert all(len(m) == 1 for m in message_ids.values()), "a repeat carries the same Message-ID (receivers dedupe)"
    repeated = {email for email, n in per.items() if n > 1}
    assert repeated <= in_flight, "only messages in flight at a kill are repeated"
    assert max(per.values()) <= 2
    # Each kill came inside DATA, so each left one accepted-but-unmarked message: the kills did hit mid-flight.
    assert len(repeated) >= 3
    assert len(in_flight) <= 3 * 2 * 20, "at most a batch per connection in flight"
    with session_scope(engine_for(cfg.database_url)) as s:
        assert s.scalar(select(Send.state)) == "done"
        assert set(s.scalars(select(Delivery.status))) == {"sent"}


def _excess(cfg, send_id: int, handler: Recorder) -> int:
    """Messages the server accepted beyond the rows marked sent, once the killed worker's log is replayed (as
    the next worker does first): each one still unrecorded is mailed again later."""
    assert handler.wait_idle(), "the killed worker's sessions were closed by the server"
    url = cfg.database_url
    outcomelog.replay(spool_folder(cfg), DeliveryRows(engine_for(url)), send_id, utcnow())
    with session_scope(engine_for(url)) as s:
        recorded = s.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == DeliveryStatus.SENT))
    with handler.lock:
        return len(handler.received) - recorded


@pytest.mark.slow
def test_killed_at_20_random_points_of_a_2000_recipient_send(db_url, make_config, tmp_path, capsys):
    """SIGKILL whenever the server has accepted a random number of messages (inside its DATA handler, the worst
    moment), 20 times, then a drain: nobody lost, and each kill repeats at most one message per connection."""
    n, connections, kills = 2000, 4, 20
    ids = populate(db_url, n)
    points = sorted(random.Random().sample(range(1, n), kills))
    killer = Killer()
    handler = Recorder(on_accept=killer, pipelining=True)
    repeated_by_kill: list[int] = []
    with SmtpServer(handler) as server:
        cfg = make_config(smtp_toml(server.port, f"connections = {connections}\nbatch_size = 50\n"), db_url=db_url)
        send_id = running_send(cfg)
        for kill_at in [*points, None]:
            killer.at, killer.fired = kill_at, threading.Event()
            with open(tmp_path / "out.log", "ab") as log:
                killer.proc = subprocess.Popen(bulletin_cmd("--config", str(cfg.path), "worker", "--drain"),
                                               stdout=log, stderr=log, cwd=tmp_path)
                rc = killer.proc.wait(timeout=120)
            if kill_at is None:
                assert rc == 0, (tmp_path / "out.log").read_text()
                break
            assert rc == -signal.SIGKILL, (tmp_path / "out.log").read_text()
            # What this kill left accepted and unrecorded (earlier kills' share was counted at their turn).
            repeated_by_kill.append(_excess(cfg, send_id, handler) - sum(repeated_by_kill))
        per = handler.per_recipient()

    duplicates = sum(per.values()) - n
    with capsys.disabled():
        print(f"\n{engine_for(cfg.database_url).dialect.name}: {kills} kills of a {n}-recipient send over "
              f"{connections} connections: {duplicates} duplicates, {duplicates / kills:.2f} per kill "
              f"(at most {connections}); by kill {repeated_by_kill}")
    assert set(per) == set(ids), "nobody lost"
    assert max(repeated_by_kill) <= connections, "at most one message per connection repeated by a kill"
    assert duplicates == sum(repeated_by_kill), "every repeat is one that a kill left unrecorded"
    with session_scope(engine_for(cfg.database_url)) as s:
        assert s.get(Send, send_id).state == "done"
        assert set(s.scalars(select(Delivery.status))) == {"sent"}


@pytest.mark.postgres
def test_two_workers_share_one_send_on_postgresql(pg_url, make_config, tmp_path):
    ids = populate(pg_url, 400)
    issue = copy_issue(tmp_path)
    handler = Recorder(delay=0.004)
    with SmtpServer(handler) as server:
        cfg = make_config(smtp_toml(server.port, "connections = 2\nbatch_size = 10\n"), db_url=pg_url)
        engine = engine_for(cfg.database_url)
        with session_scope(engine) as s:
            send = create_send(s, issue_dir=issue, list_slug="news", editions=render_issue(issue, cfg))
            assert start_send(s, send.id)
        procs = [
            subprocess.Popen(bulletin_cmd("--config", str(cfg.path), "worker", "--drain"), cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        per = handler.per_recipient()
    assert per == Counter({email: 1 for email in ids}), "no duplicates, nobody missed"
    with session_scope(engine) as s:
        workers = Counter(w.split(":")[1] for w in s.scalars(select(Delivery.claimed_by)))
        assert s.scalar(select(Send.state)) == "done"
    assert len(workers) == 2 and min(workers.values()) >= 40, f"both workers took a share: {workers}"


def test_start_is_idempotent_when_fired_twice_at_once(db_url, make_config, tmp_path):
    """Two schedulers (or one firing twice) start a send once: one snapshot, no duplicate rows."""
    populate(db_url, 50)
    issue = copy_issue(tmp_path)
    cfg = make_config("", db_url=db_url)
    engine = engine_for(cfg.database_url)
    with session_scope(engine) as s:
        send_id = create_send(s, issue_dir=issue, list_slug="news", editions=render_issue(issue, cfg)).id
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def fire():
        barrier.wait()
        with session_scope(engine) as s:
            results.append(start_send(s, send_id))

    threads = [threading.Thread(target=fire) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    with session_scope(engine) as s:
        assert len(s.scalars(select(Delivery.id)).all()) == 50
        assert s.get(Send, send_id).total == 50


def test_a_dead_workers_log_is_replayed_before_its_rows_are_given_back(db_url, make_config):
    """A worker logged three messages as sent and died before the database heard of them: the next run records
    them from the log instead of mailing them again, and mails the rest of what the dead worker had claimed."""
    from bulletin.deliver.claims import Outcome, new_worker_id
    from bulletin.deliver.engine import deliver_send
    from bulletin.deliver.outcomelog import OutcomeLog
    from tests.deliver_support import Collecting

    ids = populate(db_url, 10)
    cfg = make_config("[delivery]\nbatch_size = 5\n", db_url=db_url)
    engine = engine_for(cfg.database_url)
    send_id = running_send(cfg)
    child = subprocess.Popen(["true"])  # a process that has ended: its pid names a dead worker of this machine
    child.wait()
    dead = f"{new_worker_id().split(':')[0]}:{child.pid}:deadbeef"
    store = DeliveryRows(engine)
    now = utcnow()
    claimed = store.claim(send_id, _list_id(engine), dead, 5, now=now, stale_before=now)
    log = OutcomeLog(spool_folder(cfg), dead, send_id)
    for c in claimed[:3]:
        log.append(Outcome(c.id, DeliveryStatus.SENT))
    log.close(keep=True)

    transport = Collecting()
    deliver_send(engine, cfg, send_id, transport_factory=lambda: transport)
    mailed = sorted(r[0] for _, r, _ in transport.sent)
    assert mailed == sorted(set(ids) - {c.email for c in claimed[:3]})
    with session_scope(engine) as s:
        rows = {r.email: (r.status, r.claimed_by) for r in s.scalars(select(Delivery))}
    assert {rows[c.email] for c in claimed[:3]} == {("sent", dead)}, "recorded from the log, as the dead worker's"
    assert set(s for s, _ in rows.values()) == {"sent"}
    assert list(spool_folder(cfg).glob(f"{send_id}-*.log")) == [], "the replayed log is gone"


def _list_id(engine) -> int:
    from bulletin.store import queries

    with session_scope(engine) as s:
        return queries.get_list(s, "news").id
