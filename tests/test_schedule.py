"""Scheduled sends: `send --at` in the organisation's time zone, stored by APScheduler in Bulletin's database,
fired after a worker restart, and fired on start-up when it came due while nothing ran."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from bulletin.cli import main
from bulletin.deliver import schedule
from bulletin.deliver.sends import create_send
from bulletin.render.pipeline import render_issue
from bulletin.services import sends
from bulletin.services.store import Store
from bulletin.store.db import engine_for, session_scope
from bulletin.store.models import Send, utcnow
from tests.deliver_support import Recorder, SmtpServer, bulletin_cmd, copy_issue, populate, smtp_toml

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    "value, zone, expected",
    [
        ("2026-12-01T08:00", "Africa/Bamako", dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.timezone.utc)),
        ("2026-12-01 08:00", "Europe/Paris", dt.datetime(2026, 12, 1, 7, 0, tzinfo=dt.timezone.utc)),
        ("2027-07-01T08:00", "Europe/Paris", dt.datetime(2027, 7, 1, 6, 0, tzinfo=dt.timezone.utc)),
        ("2026-12-01T08:00+02:00", "Africa/Bamako", dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.timezone.utc)),
        ("2026-12-01T08:00Z", "Europe/Paris", dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.timezone.utc)),
    ],
)
def test_at_is_read_in_the_organisation_time_zone(value, zone, expected):
    assert schedule.parse_at(value, zone, now=NOW) == expected


@pytest.mark.parametrize("value, message", [("demain 8h", "is not an ISO 8601"), ("2026-11-23T11:59", "in the past"),
                                            ("2026-13-01T08:00", "is not an ISO 8601")])
def test_bad_times_are_refused(value, message):
    with pytest.raises(schedule.ScheduleError, match=message):
        schedule.parse_at(value, "Africa/Bamako", now=NOW)


def _scheduled_send(url, cfg, issue, at) -> int:
    engine = engine_for(cfg.database_url)
    with session_scope(engine) as s:
        send_id = create_send(s, issue_dir=issue, list_slug="news", editions=render_issue(issue, cfg),
                              scheduled_at=at).id
    schedule.schedule_send(engine, cfg, send_id, at)
    return send_id


def test_a_job_that_came_due_while_nothing_ran_fires_when_the_scheduler_starts(db_url, make_config, tmp_path):
    """APScheduler alone (not the worker's own check of due sends): a job 10 minutes late still fires (it wakes
    the worker), where the default misfire_grace_time of 1 s would have dropped it; the pass it wakes starts
    the send."""
    populate(db_url, 4)
    issue = copy_issue(tmp_path)
    cfg = make_config("", db_url=db_url)
    engine = engine_for(cfg.database_url)
    send_id = _scheduled_send(db_url, cfg, issue, utcnow() - dt.timedelta(minutes=10))
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT id FROM {schedule.JOB_TABLE}")).scalars().all() == [f"send-{send_id}"]
    sched, wake = schedule.start_scheduler(engine, cfg)
    try:
        assert wake.wait(10), "the late job fired"
    finally:
        sched.shutdown(wait=True)
    with session_scope(engine) as s:
        assert s.get(Send, send_id).state == "scheduled", "the job only wakes the worker"
    assert sends.start_due(Store(engine), cfg, utcnow()).started == (send_id,)
    with session_scope(engine) as s:
        send = s.get(Send, send_id)
        assert (send.state, send.total) == ("running", 4)
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {schedule.JOB_TABLE}")).scalar() == 0


def _wait_for(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_send_at_survives_a_worker_killed_before_it_was_due(db_url, make_config, tmp_path):
    ids = populate(db_url, 20)
    issue = copy_issue(tmp_path)
    with SmtpServer(Recorder()) as server:
        cfg = make_config(smtp_toml(server.port) + '\n[organisation]\ntimezone = "Europe/Paris"\n', db_url=db_url)
        at = (dt.datetime.now(ZoneInfo("Europe/Paris")) + dt.timedelta(seconds=6)).replace(tzinfo=None)
        assert main(["--config", str(cfg.path), "send", str(issue), "--list", "news",
                     "--at", at.isoformat(timespec="seconds")]) == 0
        worker = subprocess.Popen(bulletin_cmd("--config", str(cfg.path), "worker"), cwd=tmp_path)
        time.sleep(2.0)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        assert server.handler.received == [], "nothing before the time"
        worker = subprocess.Popen(bulletin_cmd("--config", str(cfg.path), "worker"), cwd=tmp_path)
        try:
            assert _wait_for(lambda: len(server.handler.received) >= len(ids), 30), "fired after the restart"
            first = min(r.message["Date"].datetime for r in server.handler.received)
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(20) == 0
        per = server.handler.per_recipient()
    assert per == {email: 1 for email in ids}
    assert first.replace(tzinfo=None) >= at.replace(microsecond=0) - dt.timedelta(hours=1)  # Paris is UTC+1
    with session_scope(engine_for(cfg.database_url)) as s:
        assert s.scalar(select(Send.state)) == "done"


def test_a_send_that_came_due_while_down_goes_on_drain(sqlite_url, make_config, tmp_path):
    ids = populate(sqlite_url, 5)
    issue = copy_issue(tmp_path)
    with SmtpServer(Recorder()) as server:
        cfg = make_config(smtp_toml(server.port), db_url=sqlite_url)
        _scheduled_send(sqlite_url, cfg, issue, utcnow() - dt.timedelta(hours=3))
        done = subprocess.run(bulletin_cmd("--config", str(cfg.path), "worker", "--drain"), cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "sent 5" in done.stdout
        assert server.handler.per_recipient() == {email: 1 for email in ids}


def test_cancel_a_scheduled_send(sqlite_url, make_config, tmp_path, capsys):
    populate(sqlite_url, 3)
    issue = copy_issue(tmp_path)
    with SmtpServer(Recorder()) as server:
        cfg = make_config(smtp_toml(server.port), db_url=sqlite_url)
        send_id = _scheduled_send(sqlite_url, cfg, issue, utcnow() - dt.timedelta(minutes=1))
        assert main(["--config", str(cfg.path), "cancel", str(send_id)]) == 0
        assert f"send {send_id} cancelled (it was scheduled)" in capsys.readouterr().out
        with engine_for(cfg.database_url).connect() as conn:
            assert conn.execute(text(f"SELECT count(*) FROM {schedule.JOB_TABLE}")).scalar() == 0
        assert main(["--config", str(cfg.path), "worker", "--drain"]) == 0
        assert server.handler.received == []
        assert main(["--config", str(cfg.path), "cancel", str(send_id)]) == 1
        assert "error: SEND_ID: send 1 is cancelled already" in capsys.readouterr().err
        # a cancelled send does not count as sent: the issue may go to the list without --again
        assert main(["--config", str(cfg.path), "send", str(issue), "--list", "news"]) == 0
        assert len(server.handler.received) == 3
