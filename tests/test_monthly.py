"""The monthly rhythm ([schedule]) with an injectable clock: the worker's passes (`bulletin worker --drain` as the
services run it) and `bulletin status` are given the time, nothing sleeps. Messages go through a real SMTP
server. The month is January 2027: first Tuesday the 5th at 08:00 in Bamako (UTC), reminder on the 2nd."""

from __future__ import annotations

import datetime as dt
import getpass
import re
import shutil
import threading
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select, text

from bulletin import config as config_mod
from bulletin.cli import main
from bulletin.content.fingerprint import fingerprint
from bulletin.errors import ConfigError
from bulletin.monthday import MonthDay
from bulletin.services import monthly, sends
from bulletin.services.store import Store
from bulletin.states import ScheduleStep
from bulletin.store.db import engine_for, session_scope
from bulletin.store.models import ScheduleEntry, Send
from tests.deliver_support import ISSUE, Recorder, SmtpServer, populate, smtp_toml

TEAM = "officer@imrap-mali.org"
SCHEDULE = f'\n[schedule]\nday = "first tuesday"\ntime = "08:00"\nlist = "news"\nremind_days_before = 3\n' \
           f'remind = ["{TEAM}"]\n'
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


# -- the day of the month ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, rule", [
    ("15", MonthDay(date=15)), ("1", MonthDay(date=1)), ("28", MonthDay(date=28)),
    ("first tuesday", MonthDay(nth=1, weekday=1)), ("First Tuesday", MonthDay(nth=1, weekday=1)),
    ("premier mardi", MonthDay(nth=1, weekday=1)), ("2nd mon", MonthDay(nth=2, weekday=0)),
    ("third wednesday", MonthDay(nth=3, weekday=2)), ("4e jeudi", MonthDay(nth=4, weekday=3)),
    ("last friday", MonthDay(nth=-1, weekday=4)), ("dernier vendredi", MonthDay(nth=-1, weekday=4)),
])
def test_the_day_is_read_in_english_and_french(text, rule):
    assert MonthDay.parse(text) == rule


@pytest.mark.parametrize("rule, year, month, day", [
    ("first tuesday", 2026, 12, 1), ("first tuesday", 2027, 1, 5), ("last friday", 2027, 2, 26),
    ("last friday", 2026, 12, 25), ("15", 2027, 2, 15), ("second monday", 2027, 3, 8), ("4th sunday", 2027, 1, 24),
])
def test_the_day_in_a_month(rule, year, month, day):
    assert MonthDay.parse(rule).in_month(year, month) == dt.date(year, month, day)


@pytest.mark.parametrize("zone", ["Africa/Bamako", "Europe/Paris"])
@pytest.mark.parametrize("day", ["first tuesday", "last friday", "15", "1", "third sunday"])
def test_the_cron_job_fires_when_the_schedule_says(make_config, zone, day):
    """APScheduler's cron trigger, from `cron_fields`, and `next_send` agree over fourteen months (Paris crosses
    two changes of summer time)."""
    cfg = make_config(SCHEDULE.replace("first tuesday", day) + f'[organisation]\ntimezone = "{zone}"\n')
    trigger = CronTrigger(timezone=ZoneInfo(zone), **monthly.cron_fields(cfg))
    now = dt.datetime(2026, 11, 20, 3, 7, tzinfo=dt.timezone.utc)
    while now < dt.datetime(2028, 1, 20, tzinfo=dt.timezone.utc):
        assert trigger.get_next_fire_time(None, now) == monthly.next_send(cfg, now).send_at, now
        now += dt.timedelta(hours=13)


@pytest.mark.parametrize("body, message", [
    ('day = "29"', "[schedule].day must be a date from 1 to 28 or a weekday of the month"),
    ('day = "tuesday"', "[schedule].day must be a date from 1 to 28"),
    ('day = "fifth monday"', "[schedule].day must be a date from 1 to 28"),
    ('day = "15"', "[schedule].list: which list receives the monthly issue?"),
    ('time = "8h"', "[schedule].time must be an hour and minutes such as \"08:00\""),
    ('time = "24:00"', "[schedule].time must be an hour and minutes"),
    ("remind_days_before = 28", "[schedule].remind_days_before must be a number of days from 0"),
    ("remind_days_before = -1", "[schedule].remind_days_before must be a number of days from 0"),
    ('remind = ["officer at imrap"]', "[schedule].remind: 'officer at imrap' is not an email address"),
    ("remind = \"officer@imrap-mali.org\"", "[schedule].remind must be a list of strings"),
])
def test_a_bad_schedule_is_refused_at_load_naming_the_key(tmp_path, capsys, body, message):
    path = tmp_path / "bulletin.toml"
    path.write_text(f"[schedule]\n{body}\n", encoding="utf-8")
    key = message.split("].", 1)[1].split(" ")[0].rstrip(":")
    line = 2 if body.startswith(key) else 1  # the key's line, or the section's for a key that is missing
    with pytest.raises(ConfigError) as e:
        config_mod.load(path)
    assert str(e.value).startswith(f"{path}:{line}: {message}")
    assert main(["--config", str(path), "status"]) == 1
    assert capsys.readouterr().err.startswith(f"error: {path}:{line}: {message}")


def test_a_bad_schedule_is_refused_in_the_terminal_s_language(tmp_path, capsys, monkeypatch):
    path = tmp_path / "bulletin.toml"
    path.write_text('[schedule]\nday = "31"\n', encoding="utf-8")
    monkeypatch.setenv("LANG", "fr_ML.UTF-8")
    assert main(["--config", str(path), "status"]) == 1
    assert capsys.readouterr().err == (
        f"error: {path}:2: [schedule].day doit être une date de 1 à 28 ou un jour de la semaine dans le mois, comme "
        "\"first tuesday\" (\u00ab\u00a0premier mardi\u00a0\u00bb) ou \"last friday\" (\u00ab\u00a0dernier vendredi\u00a0\u00bb), "
        "et non '31'\n")


def test_no_day_no_schedule(make_config, tmp_path):
    cfg = make_config("[schedule]\nremind = []\n", db_url=f"sqlite:///{tmp_path / 'b.db'}")
    assert monthly.next_send(cfg, dt.datetime.now(dt.timezone.utc)) is None
    assert monthly.cron_fields(cfg) is None
    assert monthly.tick(Store.open(cfg), cfg, dt.datetime.now(dt.timezone.utc)) == []


def test_a_reminder_may_fall_in_the_month_before(make_config, tmp_path):
    """The 1st of the month, reminded 3 days before: the reminder of January goes on 29 December."""
    cfg = make_config(SCHEDULE.replace("first tuesday", "1") + '[delivery]\ntransport = "maildir"\n',
                      db_url=f"sqlite:///{tmp_path / 'b.db'}")
    january = monthly.month(cfg, 2027, 1)
    assert january.remind_at == dt.datetime(2026, 12, 29, 8, tzinfo=ZoneInfo("Africa/Bamako"))
    store = Store.open(cfg)
    # December's day passed with no worker, but there is no December issue: nothing to say.
    assert monthly.tick(store, cfg, january.remind_at - HOUR) == []
    [step] = monthly.tick(store, cfg, january.remind_at + HOUR)
    assert (step.month, step.step, step.detail, step.mailed) == ("2027-01", ScheduleStep.REMINDER, "missing", (TEAM,))


# -- a month, pass by pass -----------------------------------------------------------------------------------------

JANUARY = dt.datetime(2027, 1, 5, 8, 0, tzinfo=dt.timezone.utc)


class Month:
    """A configuration with the schedule, subscribers, an SMTP server, and January 2027."""

    def __init__(self, make_config, db_url, tmp_path, server, extra: str = ""):
        self.server = server
        self.ids = populate(db_url, 4)
        self.cfg = make_config(smtp_toml(server.port) + SCHEDULE + extra, db_url=db_url)
        self.store = Store.open(self.cfg)
        self.month = monthly.month(self.cfg, 2027, 1)
        self.folder = self.month.folder
        self.at = self.month.send_at
        self.reminder = self.month.remind_at
        assert (self.at, self.reminder, self.folder) == (JANUARY, JANUARY - 3 * DAY, tmp_path / "issues" / "2027-01")

    def write_issue(self) -> None:
        shutil.copytree(ISSUE, self.folder)

    def approve(self) -> None:
        assert main(["--config", str(self.cfg.path), "approve", str(self.folder)]) == 0

    def work(self, at: dt.datetime) -> None:
        """One `bulletin worker --drain` whose clock says `at`."""
        sends.work(self.store, self.cfg, drain=True, stop=threading.Event(), clock=lambda: at)

    def team(self) -> list:
        return [r.message for r in self.server.handler.received if r.rcpt == TEAM]

    def readers(self) -> dict[str, int]:
        return {rcpt: n for rcpt, n in self.server.handler.per_recipient().items() if rcpt != TEAM}

    def status(self, at: dt.datetime, capsys, monkeypatch) -> list[str]:
        """`bulletin status` on a day its clock says."""
        monkeypatch.setattr("bulletin.cli.deliver._utcnow", lambda: at)
        capsys.readouterr()
        assert main(["--config", str(self.cfg.path), "status"]) == 0
        return capsys.readouterr().out.splitlines()

    def log(self) -> list[tuple[str, str]]:
        with session_scope(engine_for(self.cfg.database_url)) as s:
            return [(e.step, e.detail) for e in s.scalars(select(ScheduleEntry).order_by(ScheduleEntry.id))]


@pytest.fixture
def server():
    with SmtpServer(Recorder()) as server:
        yield server


def test_approved_it_is_sent_on_the_day_once(db_url, make_config, tmp_path, server, capsys, monkeypatch):
    m = Month(make_config, db_url, tmp_path, server)
    m.write_issue()
    m.approve()
    out = m.status(m.reminder, capsys, monkeypatch)
    assert out[0] == f"monthly send: 2027-01-05 08:00 (Africa/Bamako), {m.folder} to news"
    short = fingerprint(m.folder, m.cfg).short
    assert re.fullmatch(rf"  approved by {getpass.getuser()} on \S+ at \S+ \(Africa/Bamako\), fingerprint {short}",
                        out[1]), out[1]
    assert out[2:] == ["no sends yet"]
    for at in (m.reminder + HOUR, m.at - dt.timedelta(minutes=1)):
        m.work(at)
        assert server.handler.received == [], at
    m.work(m.at)
    assert m.readers() == {email: 1 for email in m.ids}
    assert m.team() == [], "no reminder or alert for an approved issue"
    for at in (m.at + 2 * HOUR, m.at + DAY, m.at + 3 * DAY):
        m.work(at)
    assert m.readers() == {email: 1 for email in m.ids}, "once"
    with session_scope(engine_for(m.cfg.database_url)) as s:
        [send] = s.scalars(select(Send)).all()
        assert (send.issue_slug, send.state, send.scheduled_at) == ("2027-01", "done", m.at)
    assert [step for step, _detail in m.log()] == ["sent"]
    # The worker wrote the monthly job in the same job store, due at the next monthly send from today.
    with engine_for(m.cfg.database_url).connect() as conn:
        [(when,)] = conn.execute(text("SELECT next_run_time FROM apscheduler_jobs WHERE id = 'monthly'")).all()
    assert when == monthly.next_send(m.cfg, dt.datetime.now(dt.timezone.utc)).send_at.timestamp()
    assert m.status(m.at + HOUR, capsys, monkeypatch)[:3] == [
        f"monthly send: 2027-02-02 08:00 (Africa/Bamako), {tmp_path / 'issues' / '2027-02'} to news",
        f"  there is no issue folder {tmp_path / 'issues' / '2027-02'}",
        f"  2027-01: sent on 2027-01-05 08:00 (Africa/Bamako) as send {send.id}",
    ]


def test_unapproved_a_reminder_then_an_alert_and_nothing_sent(db_url, make_config, tmp_path, server, capsys,
                                                               monkeypatch):
    m = Month(make_config, db_url, tmp_path, server)
    m.write_issue()
    m.work(m.reminder - HOUR)
    assert m.team() == []
    m.work(m.reminder + dt.timedelta(minutes=1))
    [reminder] = m.team()
    assert str(reminder["Subject"]) == "Rappel\u00a0: le numéro 2027-01 n'est pas encore approuvé"
    body = reminder.get_body(("plain",)).get_content()
    assert "part vers la liste news le 2027-01-05 à 08:00 (Africa/Bamako)" in body
    assert f"il n'a pas été approuvé (bulletin approve {m.folder})" in body
    m.work(m.reminder + 2 * HOUR)
    assert len(m.team()) == 1, "one reminder"
    assert m.status(m.reminder + 3 * HOUR, capsys, monkeypatch) == [
        f"monthly send: 2027-01-05 08:00 (Africa/Bamako), {m.folder} to news",
        f"  it has not been approved (bulletin approve {m.folder})",
        "  2027-01: reminder mailed on 2027-01-02 08:01 (Africa/Bamako): not approved",
        "no sends yet",
    ]

    m.work(m.at)
    reminder, alert = m.team()
    assert str(alert["Subject"]) == "Non envoyé\u00a0: le numéro 2027-01"
    assert "Rien n'a été envoyé\u00a0: il n'a pas été approuvé" in alert.get_body(("plain",)).get_content()
    m.work(m.at + HOUR)
    assert len(m.team()) == 2 and m.readers() == {}, "one alert, nothing sent"
    assert m.log() == [("reminder", "not_approved"), ("alert", "not_approved")]
    assert m.status(m.at + 2 * HOUR, capsys, monkeypatch)[1:] == [
        f"  there is no issue folder {tmp_path / 'issues' / '2027-02'}",
        "  2027-01: reminder mailed on 2027-01-02 08:01 (Africa/Bamako): not approved",
        "  2027-01: nothing sent at the time, alert mailed on 2027-01-05 08:00 (Africa/Bamako): not approved",
        "no sends yet",
    ]


def test_changed_after_approval_nothing_is_sent(db_url, make_config, tmp_path, server):
    m = Month(make_config, db_url, tmp_path, server)
    m.write_issue()
    m.approve()
    mopti = m.folder / "news" / "02-mopti.md"
    mopti.write_text(mopti.read_text(encoding="utf-8") + "\nUne correction de dernière minute.\n", encoding="utf-8")
    m.work(m.reminder + HOUR)
    assert "il a changé depuis son approbation" in m.team()[0].get_body(("plain",)).get_content()
    m.work(m.at)
    assert m.readers() == {}
    assert [str(x["Subject"]) for x in m.team()][1] == "Non envoyé\u00a0: le numéro 2027-01"
    assert m.log() == [("reminder", "changed"), ("alert", "changed")]


def test_approved_later_the_same_day_it_goes_then(db_url, make_config, tmp_path, server):
    m = Month(make_config, db_url, tmp_path, server)
    m.write_issue()
    m.work(m.at)
    assert m.readers() == {} and len(m.team()) == 1
    m.approve()
    m.work(m.at + 3 * HOUR)
    assert m.readers() == {email: 1 for email in m.ids}


def test_worker_down_over_the_time_sends_at_start_the_same_day(db_url, make_config, tmp_path, server):
    m = Month(make_config, db_url, tmp_path, server)
    m.write_issue()
    m.approve()
    m.work(m.at + 6 * HOUR)  # 14:00: the first pass of the day
    assert m.readers() == {email: 1 for email in m.ids}


def test_worker_down_the_whole_day_sends_nothing_a_day_later_and_says_so(db_url, make_config, tmp_path, server):
    m = Month(make_config, db_url, tmp_path, server)
    m.write_issue()
    m.approve()
    m.work(m.at + DAY)
    m.work(m.at + DAY + HOUR)
    assert m.readers() == {}
    [missed] = m.team()
    assert str(missed["Subject"]) == "Non envoyé\u00a0: le numéro 2027-01 (aucun worker ne tournait ce jour-là)"
    assert f"bulletin send {m.folder} --list news" in missed.get_body(("plain",)).get_content()
    assert m.log() == [("missed", "")]


def test_an_issue_already_sent_by_hand_is_not_sent_again(db_url, make_config, tmp_path, server):
    m = Month(make_config, db_url, tmp_path, server)
    m.write_issue()
    assert main(["--config", str(m.cfg.path), "send", str(m.folder), "--list", "news"]) == 0
    m.work(m.reminder + HOUR)
    m.work(m.at)
    assert m.readers() == {email: 1 for email in m.ids} and m.team() == []
    assert m.log() == [("sent", "send 1")]


def test_the_team_is_written_to_in_the_organisation_s_language(sqlite_url, make_config, tmp_path, server):
    m = Month(make_config, sqlite_url, tmp_path, server, '[organisation]\nlanguage = "en"\n')
    m.work(m.reminder)
    m.work(m.at)
    reminder, alert = m.team()
    assert str(reminder["Subject"]) == "Reminder: the 2027-01 issue is not approved yet"
    assert f"For now, there is no issue folder {m.folder}." in reminder.get_body(("plain",)).get_content()
    assert str(alert["Subject"]) == "Not sent: the 2027-01 issue"
    assert f"Nothing was sent: there is no issue folder {m.folder}." in alert.get_body(("plain",)).get_content()


@pytest.mark.parametrize("approved, at, expected", [
    (True, JANUARY, ["sent"]),
    (False, JANUARY - 3 * DAY + HOUR, ["reminder"]),
], ids=["the send", "the reminder"])
def test_two_workers_at_the_same_moment_do_it_once(db_url, make_config, tmp_path, server, approved, at, expected):
    m = Month(make_config, db_url, tmp_path, server)
    m.write_issue()
    if approved:
        m.approve()
    barrier = threading.Barrier(2)
    done, failed = [], []

    def worker():
        barrier.wait()
        try:
            done.append(monthly.tick(m.store, m.cfg, at))
        except Exception as e:  # noqa: BLE001 - reported below, with the other worker's outcome
            failed.append(e)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failed == []
    assert sorted(len(steps) for steps in done) == [0, 1], "one worker did it, the other found it done"
    assert [step for step, _ in m.log()] == expected
    if approved:
        with session_scope(engine_for(m.cfg.database_url)) as s:
            [send_id] = s.scalars(select(Send.id)).all()
        sends.deliver(m.store, m.cfg, send_id)
        assert m.readers() == {email: 1 for email in m.ids}
    else:
        assert len(m.team()) == 1 and m.readers() == {}


def test_a_send_that_fails_to_start_is_not_recorded_as_sent(db_url, make_config, tmp_path, server, monkeypatch):
    """The SENT step and the send are one transaction: when starting the send fails after the step was claimed
    (here the disk refuses the published images), neither is kept, and the next pass of that day sends it."""
    m = Month(make_config, db_url, tmp_path, server)
    m.write_issue()
    m.approve()

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr("bulletin.services.monthly.send_rows.create_send", full_disk)
        m.work(m.at)  # the worker logs the failure and goes on
    assert m.log() == [] and m.readers() == {}, "nothing recorded: the month is still to send"
    m.work(m.at + HOUR)
    assert m.readers() == {email: 1 for email in m.ids}
    assert [step for step, _detail in m.log()] == ["sent"]
