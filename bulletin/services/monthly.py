"""The monthly rhythm ([schedule]): on the day, at the time, the approved issue of the month goes to the list.

- `remind_days_before` days before the day, at the time: if `issues/YYYY-MM` is not approved as it is, the team
  ([schedule].remind) gets a reminder.
- At the time: approved and unchanged since, it is checked, rendered, published and sent; otherwise nothing is
  sent and the team gets an alert. Approved later the same day, it goes then.
- A day on which no worker ran is made up when one starts the same day, never on a later day: then the team is
  told that nothing was sent, if the month's folder exists (an issue a week late is better sent by a person who
  decided so).
- An issue already sent or scheduled to the list (by `bulletin send`) is not sent again.

Everything is decided by `tick(store, cfg, now)`: a function of the time it is given and of what the database
says was done (store.schedule_log: each step once per month and list, which also keeps two workers from doing
it twice). The worker calls it at every pass with the time of its clock; the APScheduler cron job only wakes the
worker at the time. Tests call it at chosen times: nothing here reads the wall clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from bulletin.deliver import sends as send_rows
from bulletin.errors import NotFoundError
from bulletin.i18n import Message
from bulletin.services import issues, notices
from bulletin.services.issues import IssueApproval, IssueNotReady
from bulletin.services.store import Store, UnitOfWork
from bulletin.states import ApprovalState, ScheduleStep
from bulletin.store import queries, schedule_log
from bulletin.store.models import Send


@dataclass(frozen=True)
class Month:
    """One month of the schedule: its issue (the folder named YYYY-MM) and when it goes."""

    #: "2026-12", the slug of its issue
    key: str
    folder: Path
    list_slug: str
    send_at: dt.datetime
    #: when the reminder is due (None: no reminder, remind_days_before = 0)
    remind_at: dt.datetime | None

    def same_day(self, cfg, now: dt.datetime) -> bool:
        zone = ZoneInfo(cfg.organisation.timezone)
        return now.astimezone(zone).date() == self.send_at.astimezone(zone).date()


@dataclass(frozen=True)
class Step:
    """What a tick did: a step recorded for a month, with the send made and the addresses mailed."""

    month: str
    step: ScheduleStep
    detail: str = ""
    send_id: int | None = None
    mailed: tuple[str, ...] = ()


def month(cfg, year: int, number: int) -> Month:
    """The month `year`-`number` of the schedule."""
    s = cfg.schedule
    zone = ZoneInfo(cfg.organisation.timezone)
    day = s.month_day.in_month(year, number)
    at = dt.time(*s.hour_minute)
    send_at = dt.datetime.combine(day, at, tzinfo=zone)
    remind_at = None
    if s.remind_days_before > 0:
        remind_at = dt.datetime.combine(day - dt.timedelta(days=s.remind_days_before), at, tzinfo=zone)
    key = f"{year:04d}-{number:02d}"
    return Month(key, issues.issues_root(cfg) / key, s.list.strip(), send_at, remind_at)


def month_of(cfg, now: dt.datetime) -> Month:
    """The month `now` is in, in the organisation's time zone."""
    local = now.astimezone(ZoneInfo(cfg.organisation.timezone))
    return month(cfg, local.year, local.month)


def following(cfg, m: Month) -> Month:
    year, number = int(m.key[:4]), int(m.key[5:])
    return month(cfg, year + number // 12, number % 12 + 1)


def cron_fields(cfg) -> dict | None:
    """The monthly job's APScheduler cron fields (the same day and time as `month`), or None without a schedule."""
    if not cfg.schedule.enabled:
        return None
    hour, minute = cfg.schedule.hour_minute
    return {"day": cfg.schedule.month_day.cron(), "hour": hour, "minute": minute}


def next_send(cfg, now: dt.datetime) -> Month | None:
    """The next monthly send after `now` (this month's if its time has not come), or None without a schedule."""
    if not cfg.schedule.enabled:
        return None
    this = month_of(cfg, now)
    return this if now < this.send_at else following(cfg, this)


# -- the tick ---------------------------------------------------------------------------------------------------

def tick(store: Store, cfg, now: dt.datetime, *, mail: notices.SendMail | None = None) -> list[Step]:
    """Do what the schedule asks at `now`: a reminder, the send, an alert, or nothing. Safe to call at any
    time and as often as wanted: each step is done once per month."""
    if not cfg.schedule.enabled:
        return []
    this = month_of(cfg, now)
    done: list[Step] = []
    for m in (this, following(cfg, this)):  # a reminder may fall in the month before the day
        if m.remind_at is not None and m.remind_at <= now < m.send_at:
            done += _remind(store, cfg, m, now, mail)
    if now >= this.send_at:
        done += _on_or_after_the_day(store, cfg, this, now, mail)
    return done


def _existing(uow: UnitOfWork, m: Month) -> Send | None:
    """A send of the month's issue to the list already made (or scheduled) by hand."""
    found = queries.lists(uow.session, [m.list_slug])
    return send_rows.existing_send(uow.session, m.key, found[0].id) if found else None


def _record(store: Store, m: Month, step: ScheduleStep, now: dt.datetime, detail: str, notice=None,
            mail=None) -> list[Step]:
    """Record the step and mail its notice in one transaction: a failed mail records nothing (tried again at the
    next pass); a step another worker recorded first is left to it."""
    try:
        with store.unit_of_work() as uow:
            entry = schedule_log.claim(uow.session, m.key, m.list_slug, step, at=now, detail=detail)
            if entry is None:
                return []
            mailed = notice(mail) if notice is not None else ()
    except IntegrityError:
        return []
    return [Step(m.key, step, detail, mailed=mailed)]


def _values(cfg, m: Month, **more) -> dict:
    return dict(month=m.key, folder=str(m.folder), list=m.list_slug, **notices.local_time(cfg, m.send_at), **more)


def _why(cfg, state: IssueApproval) -> Message:
    return notices.reason(str(state.state), cfg, state.folder, by=state.approved_by, at=state.approved_at)


def _remind(store: Store, cfg, m: Month, now: dt.datetime, mail) -> list[Step]:
    with store.unit_of_work() as uow:
        if schedule_log.entry(uow.session, m.key, m.list_slug, ScheduleStep.REMINDER) is not None:
            return []
        if _existing(uow, m) is not None:
            return []
        state = issues.approval(uow, cfg, m.folder)
    if state.approved:
        return []
    values = _values(cfg, m, reason=_why(cfg, state))

    def notice(send):
        return notices.mail_team(cfg, Message("notice.reminder.subject", **values),
                                 Message("notice.reminder.body", **values), send=send)

    return _record(store, m, ScheduleStep.REMINDER, now, str(state.state), notice, mail)


def _on_or_after_the_day(store: Store, cfg, m: Month, now: dt.datetime, mail) -> list[Step]:
    with store.unit_of_work() as uow:
        recorded = {e.step for e in schedule_log.entries(uow.session, m.key, m.list_slug)}
        if ScheduleStep.SENT in recorded:
            return []
        existing = _existing(uow, m)
        existing_id = existing.id if existing is not None else None
    if existing_id is not None:
        return _record_existing(store, m, now, existing_id)
    if not m.same_day(cfg, now):
        # Said once, and only about an issue someone prepared: a schedule set up after the day, in a month with
        # no folder, has nothing to report.
        if recorded & {ScheduleStep.ALERT, ScheduleStep.MISSED} or not m.folder.is_dir():
            return []
        values = _values(cfg, m)
        return _record(store, m, ScheduleStep.MISSED, now, "", lambda send: notices.mail_team(
            cfg, Message("notice.missed.subject", **values), Message("notice.missed.body", **values), send=send),
            mail)
    with store.unit_of_work() as uow:
        state = issues.approval(uow, cfg, m.folder)
    if not state.approved:
        return _alert(store, cfg, m, now, str(state.state), _why(cfg, state), recorded, mail)
    try:
        return _send(store, cfg, m, state, now)
    except IssueNotReady:
        return _alert(store, cfg, m, now, "errors", notices.reason("errors", cfg, m.folder), recorded, mail)
    except NotFoundError as e:  # the list is gone
        return _alert(store, cfg, m, now, "other", notices.reason("other", cfg, m.folder, what=str(e)), recorded,
                      mail)


def _record_existing(store: Store, m: Month, now: dt.datetime, send_id: int) -> list[Step]:
    try:
        with store.unit_of_work() as uow:
            entry = schedule_log.claim(uow.session, m.key, m.list_slug, ScheduleStep.SENT, at=now,
                                       detail=f"send {send_id}", send_id=send_id)
    except IntegrityError:
        return []
    return [Step(m.key, ScheduleStep.SENT, f"send {send_id}", send_id)] if entry is not None else []


def _alert(store: Store, cfg, m: Month, now: dt.datetime, kind: str, why: Message, recorded: set, mail
           ) -> list[Step]:
    if ScheduleStep.ALERT in recorded:
        return []
    values = _values(cfg, m, reason=why)
    return _record(store, m, ScheduleStep.ALERT, now, kind, lambda send: notices.mail_team(
        cfg, Message("notice.alert.subject", **values), Message("notice.alert.body", **values), send=send), mail)


def _send(store: Store, cfg, m: Month, state: IssueApproval, now: dt.datetime) -> list[Step]:
    """Check, render and publish the approved folder, and start its send, with the SENT step in the same
    transaction (two workers: one sends)."""
    report = issues.ready(cfg, m.folder)
    fingerprint = issues.fingerprint_of(report)
    if fingerprint.digest != state.approved_fingerprint:
        return []  # edited while it was being rendered: the next pass sees the change
    try:
        with store.unit_of_work() as uow:
            entry = schedule_log.claim(uow.session, m.key, m.list_slug, ScheduleStep.SENT, at=now,
                                       detail=fingerprint.short)
            if entry is None:
                return []
            editions = issues.publish(uow, cfg, report)
            send = send_rows.create_send(uow.session, issue_dir=m.folder.resolve(), list_slug=m.list_slug,
                                         editions=editions, scheduled_at=m.send_at,
                                         fingerprint=fingerprint.digest)
            send_rows.start_send(uow.session, send.id)
            entry.send_id = send.id
            send_id = send.id
    except IntegrityError:
        return []
    return [Step(m.key, ScheduleStep.SENT, fingerprint.short, send_id)]


# -- what `bulletin status` shows -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogLine:
    month: str
    step: ScheduleStep
    at: dt.datetime
    detail: str
    send_id: int | None


@dataclass(frozen=True)
class MonthlyStatus:
    #: the next monthly send
    next: Month
    #: where its issue stands
    approval: IssueApproval
    #: what the schedule did this month and for the next send's month
    log: tuple[LogLine, ...]


def status(store: Store, cfg, now: dt.datetime) -> MonthlyStatus | None:
    """The next monthly send, whether its issue is approved, and this month's steps; None without a schedule."""
    upcoming = next_send(cfg, now)
    if upcoming is None:
        return None
    this = month_of(cfg, now)
    with store.unit_of_work() as uow:
        state = issues.approval(uow, cfg, upcoming.folder)
        log = []
        for key in dict.fromkeys((this.key, upcoming.key)):
            log += [LogLine(e.month, ScheduleStep(e.step), e.at, e.detail, e.send_id)
                    for e in schedule_log.entries(uow.session, key, upcoming.list_slug)]
    return MonthlyStatus(upcoming, state, tuple(log))


def why(detail: str) -> Message | str:
    """A logged reason (an ApprovalState or WaitReason value) in a few words, for `bulletin status`."""
    if detail in ("not_approved", "changed", "missing", "errors"):
        return Message(f"monthly.why.{detail}")
    return detail


def describe(cfg, state: IssueApproval) -> Message:
    """One line on where the issue stands, for `bulletin status`."""
    if state.state is ApprovalState.APPROVED:
        return Message("monthly.approved", by=state.approved_by, short=state.approved_fingerprint[:12],
                       **notices.local_time(cfg, state.approved_at))
    return _why(cfg, state)


__all__ = ["Month", "Step", "MonthlyStatus", "tick", "status", "next_send", "month", "month_of", "describe",
           "cron_fields", "why"]
