"""Sending an issue: a test to a few addresses, to a list now or at a time, cancelling, and delivering.

Every send runs `check` first and refuses an issue with errors; the images and icons it shows are published
(services.issues.publish) in the same transaction as the send. A send is created with its rendered editions
and, when it starts, one delivery row per recipient. A scheduled send keeps the fingerprint of its folder and
is rendered again from the folder when it fires, if the folder is still that version (or was approved again);
otherwise it waits and the team is told. A scheduled send's row is the truth about it: the APScheduler job
written after it is only its wake-up call, and the worker starts any due send whose job was lost.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from bulletin.deliver import schedule as scheduling
from bulletin.deliver import sends as send_rows
from bulletin.deliver.context import list_id_header
from bulletin.deliver.engine import deliver_send
from bulletin.deliver.message import domain_of
from bulletin.deliver.testsend import TestRecipient, send_test
from bulletin.content import Problem
from bulletin.deliver.sends import AlreadySentError  # noqa: F401  (the workspace tells this refusal apart)
from bulletin.errors import BulletinError, ContentError, InvalidAddress
from bulletin.i18n import Message
from bulletin import i18n
from bulletin.services import issues, journal, notices
from bulletin.services.audit import Action, Actor, record
from bulletin.services.errors import InputRefused
from bulletin.services.issues import IssueNotReady
from bulletin.services.store import Store, UnitOfWork
from bulletin.states import SendState, WaitReason
from bulletin.store import queries
from bulletin.store import dashboard as send_lines
from bulletin.store.dashboard import SendLine
from bulletin.store.addresses import normalise_email

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CreatedSend:
    id: int
    slug: str
    list_slug: str
    #: recipients snapshotted (0 until the send starts)
    total: int
    scheduled_at: dt.datetime | None = None
    #: what `check` warned about (errors refuse the send)
    warnings: tuple[Problem, ...] = ()


@dataclass
class TestSend:
    """A test send under way: the check's warnings, and the messages, sent one by one as `sent` is read."""

    __test__ = False  # not a pytest test class

    warnings: tuple[Problem, ...]
    #: (slug, language, address) per message, as each one goes
    sent: Iterator[tuple[str, str, str]]


def test_addresses(values: Iterable[str]) -> list[str]:
    """The addresses of `--to`, repeated or separated by commas, each checked, duplicates dropped."""
    found: dict[str, str] = {}
    for value in values:
        for part in value.split(","):
            if not part.strip():
                continue
            try:
                address = normalise_email(part)
            except InvalidAddress as e:
                raise BulletinError(f"{part.strip()!r} is not an email address: {e.what}", where="--to") from None
            found.setdefault(address.lower(), address)
    if not found:
        raise BulletinError("give at least one address", where="--to")
    return list(found.values())


def test_send(cfg, issue_dir: str | Path, to: Sequence[str], *, store: Store,
              list_slug: str | None = None, languages: Sequence[str] | None = None) -> TestSend:
    """Every edition (or those in `languages`) to each address, subject marked [TEST]. Refused (IssueNotReady)
    when `check` finds errors. The images and icons are published first, so they show; nothing else is
    recorded, and the unsubscribe link leads to a page that says it was a test. With a list, the List-Id and
    the names are the list's."""
    addresses = test_addresses(to)
    report = issues.ready(cfg, issue_dir)
    shown = [e for e in report.editions if languages is None or e.language in languages]
    with store.unit_of_work() as uow:
        editions = issues.publish(uow, cfg, report, shown)
        recipients = [TestRecipient(a) for a in addresses]
        if list_slug:
            recipients = _test_recipients(uow, cfg, list_slug, addresses)
    return TestSend(tuple(report.warnings), send_test(cfg, editions, recipients))


def _test_recipients(uow: UnitOfWork, cfg, list_slug: str, addresses: list[str]) -> list[TestRecipient]:
    ml = queries.get_list(uow.session, list_slug)
    header = list_id_header(ml, domain_of(cfg.delivery.from_address))
    out = []
    for address in addresses:
        person = queries.find_subscriber(uow.session, address)
        out.append(TestRecipient(address, person.name if person else "", header))
    return out


def send_now(store: Store, cfg, issue_dir: str | Path, list_slug: str, *, again: bool = False) -> CreatedSend:
    """Check the issue (errors refuse it), publish its images, create the send and snapshot its recipients, in
    one transaction; `deliver` then sends it."""
    report = issues.ready(cfg, issue_dir)
    with store.unit_of_work() as uow:
        editions = issues.publish(uow, cfg, report)
        send = send_rows.create_send(uow.session, issue_dir=Path(issue_dir).resolve(), list_slug=list_slug,
                                     editions=editions, again=again)
        send_rows.start_send(uow.session, send.id)
        total = send_rows.get_send(uow.session, send.id).total
        send_id, slug = send.id, send.issue_slug
    return CreatedSend(send_id, slug, list_slug, total, warnings=tuple(report.warnings))


def schedule(store: Store, cfg, issue_dir: str | Path, list_slug: str, at: dt.datetime, *,
             again: bool = False, actor: Actor | None = None, now: dt.datetime | None = None) -> CreatedSend:
    """Create the send for `at` with the folder's fingerprint, then its APScheduler job. When it fires, the
    send is rendered from the folder as it is then, if it still has that fingerprint (or was approved again
    as it is); otherwise it waits, and the team is told (`start_due`)."""
    before = issues.fingerprint(cfg, issue_dir)
    report = issues.ready(cfg, issue_dir)
    fingerprint = issues.fingerprint_of(report)
    if fingerprint != before:
        raise ContentError(Message("issue.changed_while_reading"), where=issue_dir)
    with store.unit_of_work() as uow:
        send = send_rows.create_send(uow.session, issue_dir=Path(issue_dir).resolve(), list_slug=list_slug,
                                     editions=report.editions, scheduled_at=at, again=again,
                                     fingerprint=fingerprint.digest)
        created = CreatedSend(send.id, send.issue_slug, list_slug, send.total, at, tuple(report.warnings))
        record(uow, actor or Actor.cli(), Action.SEND_SCHEDULE, object_type="send", object_id=created.id,
               detail=f"{created.slug} -> {list_slug} at {at.isoformat()}", now=now or _utcnow())
    scheduling.schedule_send(store.engine, cfg, created.id, at)
    return created


# -- when a scheduled send comes due ---------------------------------------------------------------------------

@dataclass(frozen=True)
class DueSends:
    started: tuple[int, ...] = ()
    #: (send id, why) of the sends that wait, newly or still
    waiting: tuple[tuple[int, WaitReason], ...] = ()


def start_due(store: Store, cfg, now: dt.datetime, *, mail: notices.SendMail | None = None) -> DueSends:
    """Start every scheduled send whose time has come, each in its own transaction.

    A send scheduled from a folder is rendered and published from the folder now, if the folder still has the
    fingerprint it was scheduled with, or was approved again as it is. Otherwise it waits (the reason is stored
    and shown by `status`), the team is mailed once per reason, and it is looked at again at every pass: an
    approval lets it go. A send made before fingerprints existed goes with the editions stored with it."""
    with store.unit_of_work() as uow:
        due = [(s.id, s.fingerprint) for s in send_rows.due_sends(uow.session, now)]
    started, waiting = [], []
    for send_id, scheduled_with in due:
        if scheduled_with is None:
            with store.unit_of_work() as uow:
                if send_rows.start_send(uow.session, send_id):
                    started.append(send_id)
            continue
        outcome = _start_from_folder(store, cfg, send_id, now, mail)
        if outcome is None:
            started.append(send_id)
        elif outcome is not False:
            waiting.append((send_id, outcome))
    return DueSends(tuple(started), tuple(waiting))


def _start_from_folder(store: Store, cfg, send_id: int, now: dt.datetime, mail) -> WaitReason | bool | None:
    """None when the send started; the reason when it waits; False when another worker took it."""
    with store.unit_of_work() as uow:
        send = send_rows.get_send(uow.session, send_id)
        folder, slug, scheduled_with = Path(send.issue_dir), send.issue_slug, send.fingerprint
    try:
        current = issues.fingerprint(cfg, folder)
    except ContentError:
        return _wait(store, cfg, send_id, WaitReason.MISSING, now, mail)
    with store.unit_of_work() as uow:
        allowed = issues.may_go(uow, cfg, slug, scheduled_with, current)
    if not allowed:
        return _wait(store, cfg, send_id, WaitReason.CHANGED, now, mail)
    try:
        report = issues.ready(cfg, folder)
    except IssueNotReady:
        return _wait(store, cfg, send_id, WaitReason.ERRORS, now, mail)
    if issues.fingerprint_of(report) != current:
        return WaitReason.CHANGED  # edited while it was being rendered: looked at again next pass
    with store.unit_of_work() as uow:
        send = send_rows.get_send(uow.session, send_id)
        if send.state != SendState.SCHEDULED:
            return False
        editions = issues.publish(uow, cfg, report)
        send_rows.replace_editions(uow.session, send, editions, current.digest)
        if not send_rows.start_send(uow.session, send_id):
            uow.rollback()
            return False
    return None


def _wait(store: Store, cfg, send_id: int, reason: WaitReason, now: dt.datetime, mail) -> WaitReason:
    """Mark the send waiting; the first time for this reason, mail the team in the same transaction (a mail
    that fails undoes the mark, so it is tried again at the next pass)."""
    with store.unit_of_work() as uow:
        if send_rows.set_waiting(uow.session, send_id, reason, now):
            send = send_rows.get_send(uow.session, send_id)
            when = notices.local_time(cfg, send.scheduled_at)
            why = notices.reason(str(reason), cfg, send.issue_dir)
            values = dict(id=send.id, slug=send.issue_slug, list=send.mailing_list.slug, folder=send.issue_dir,
                          reason=why, **when)
            notices.mail_team(cfg, Message("notice.waiting.subject", **values),
                              Message("notice.waiting.body", **values), send=mail)
    return reason


def waiting_reason(cfg, reason: str, issue_dir: str) -> Message:
    """Why a send waits, as `bulletin status` says it."""
    return notices.reason(reason, cfg, issue_dir)


def parse_at(value: str, cfg, now: dt.datetime | None = None) -> dt.datetime:
    """`--at`: ISO 8601; without an offset, in the organisation's time zone; in the future."""
    return scheduling.parse_at(value, cfg.organisation.timezone, now)


def parse_local(date: str, time: str, cfg, now: dt.datetime) -> dt.datetime:
    """A date (YYYY-MM-DD) and a time (HH:MM) typed in a form, in the organisation's time zone, in the future."""
    date, time = (date or "").strip(), (time or "").strip()
    if not date:
        raise InputRefused(i18n.Message("send.at.date_missing"), field="date")
    if not time:
        raise InputRefused(i18n.Message("send.at.time_missing"), field="time")
    try:
        local = dt.datetime.fromisoformat(f"{date}T{time}")
    except ValueError:
        raise InputRefused(i18n.Message("send.at.invalid", value=f"{date} {time}"), field="date") from None
    if local.tzinfo is not None:
        raise InputRefused(i18n.Message("send.at.invalid", value=f"{date} {time}"), field="time")
    at = local.replace(tzinfo=ZoneInfo(cfg.organisation.timezone))
    if at <= now:
        raise InputRefused(i18n.Message("send.at.past", value=f"{local:%Y-%m-%d %H:%M}"), field="date")
    return at


def cancel(store: Store, cfg, send_id: int, *, actor: Actor | None = None, now: dt.datetime | None = None) -> str:
    """Stop a scheduled or running send; returns the state it had."""
    with store.unit_of_work() as uow:
        was = send_rows.cancel_send(uow.session, send_id)
        record(uow, actor or Actor.cli(), Action.SEND_CANCEL, object_type="send", object_id=send_id,
               detail=f"was {was}", now=now or _utcnow())
    if was == SendState.SCHEDULED:
        scheduling.unschedule_send(store.engine, cfg, send_id)
    return str(was)


def resume(store: Store, send_id: int, *, actor: Actor | None = None, now: dt.datetime | None = None) -> int:
    """Try a waiting send's deferred recipients again now instead of at their next retry time (after the
    mail server is fixed, say); the next worker round sends them. Returns how many were waiting."""
    now = now or _utcnow()
    with store.unit_of_work() as uow:
        n = send_rows.resume_send(uow.session, send_id, now)
        record(uow, actor or Actor.cli(), Action.SEND_RESUME, object_type="send", object_id=send_id,
               detail=f"{n} deferred recipients due now", now=now)
    return n


@dataclass(frozen=True)
class SendSummary:
    line: SendLine
    #: deliveries by status (pending, claimed, sent, deferred, failed, skipped)
    counts: dict[str, int]


def send_summaries(uow: UnitOfWork, *, limit: int = 50, before_id: int | None = None) -> list[SendSummary]:
    """Every send with its deliveries counted by status, newest first, `limit` at a time."""
    lines = send_lines.sends_in(uow.session, tuple(SendState), limit=limit, before_id=before_id)
    counts = send_lines.open_rows(uow.session, [s.id for s in lines])
    return [SendSummary(line, counts[line.id]) for line in lines]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def deliver(store: Store, cfg, send_id: int, *, progress: Callable[[str], None] | None = None,
            on_wait: Callable | None = None, wait_for_retries: bool = True):
    """Deliver a running send in this process until done or only retries are left; returns what is left."""
    return deliver_send(store.engine, cfg, send_id, wait_for_retries=wait_for_retries, progress=progress,
                        on_wait=on_wait)


def work(store: Store, cfg, *, drain: bool, stop, on_send_done: Callable | None = None,
         clock: Callable[[], dt.datetime] | None = None, mail: notices.SendMail | None = None) -> None:
    """`bulletin worker`: at every pass, run the monthly schedule and start the scheduled sends that came due
    and may go (`start_due`); deliver unfinished sends; until `stop` (or, with `drain`, until nothing is due).

    `clock` gives the time the schedule decides by (default: the wall clock), so a test can run a month."""
    from bulletin.deliver.worker import run_worker
    from bulletin.services import monthly

    now = clock or _utcnow

    def start_due_now() -> None:
        at = now()
        # Unsubscribes that waited in the journal (the database was held): into the lists before anything starts.
        try:
            journal.apply_pending(store)
        except Exception:
            log.exception("unsubscribe journal: this pass failed; trying again at the next one")
        # A mail server that is down must not stop the deliveries: the step is tried again at the next pass.
        try:
            monthly.tick(store, cfg, at, mail=mail)
        except Exception:
            log.exception("monthly schedule: this pass failed; trying again at the next one")
        try:
            start_due(store, cfg, at, mail=mail)
        except Exception:
            log.exception("scheduled sends: this pass failed; trying again at the next one")

    run_worker(store.engine, cfg, drain=drain, stop=stop, on_send_done=on_send_done, start_due=start_due_now,
               monthly=monthly.cron_fields(cfg))
