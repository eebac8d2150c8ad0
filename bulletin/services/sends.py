"""Sending an issue: a test to a few addresses, to a list now or at a time, cancelling, and delivering.

A send is created with its rendered editions and, when it starts, one delivery row per recipient, in one
transaction each. A scheduled send's row is the truth about it: the APScheduler job written after it is only
its wake-up call, and the worker starts any due send whose job was lost (a crash between the two).
"""

from __future__ import annotations

import datetime as dt
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
from bulletin import i18n
from bulletin.deliver.sends import AlreadySentError  # noqa: F401  (the workspace tells this refusal apart)
from bulletin.errors import BulletinError, ContentError
from bulletin.render.edition import RenderedEdition
from bulletin.services.audit import Action, Actor, record
from bulletin.services.errors import InputRefused
from bulletin.services.store import Store, UnitOfWork
from bulletin.states import SendState
from bulletin.store import queries
from bulletin.store import dashboard as send_lines
from bulletin.store.dashboard import SendLine
from bulletin.errors import InvalidAddress
from bulletin.store.addresses import normalise_email


@dataclass(frozen=True)
class CreatedSend:
    id: int
    slug: str
    list_slug: str
    #: recipients snapshotted (0 until the send starts)
    total: int
    scheduled_at: dt.datetime | None = None


def render(cfg, issue_dir: str | Path) -> list[RenderedEdition]:
    """Every edition of the issue, rendered once (primary language first)."""
    from bulletin.render.pipeline import render_issue

    path = Path(issue_dir)
    if not path.is_dir():
        raise ContentError("no such issue folder", where=str(issue_dir))
    return render_issue(path, cfg)


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


def test_send(cfg, issue_dir: str | Path, to: Sequence[str], *, store: Store | None = None,
              list_slug: str | None = None, languages: Sequence[str] | None = None) -> Iterator[tuple[str, str, str]]:
    """Every edition (or those in `languages`) to each address, subject marked [TEST]; nothing is recorded.
    With a list, an address on it gets its own unsubscribe link, so the test shows what that person will
    receive. Yields (slug, language, address) as each message goes."""
    addresses = test_addresses(to)
    editions = [e for e in render(cfg, issue_dir) if languages is None or e.language in languages]
    recipients = [TestRecipient(a) for a in addresses]
    if store is not None and list_slug:
        with store.unit_of_work() as uow:
            recipients = _test_recipients(uow, cfg, list_slug, addresses)
    return send_test(cfg, editions, recipients)


def _test_recipients(uow: UnitOfWork, cfg, list_slug: str, addresses: list[str]) -> list[TestRecipient]:
    ml = queries.get_list(uow.session, list_slug)
    header = list_id_header(ml, domain_of(cfg.delivery.from_address))
    out = []
    for address in addresses:
        person = queries.find_subscriber(uow.session, address)
        out.append(TestRecipient(address, person.name if person else "", person.id if person else 0, ml.id, header))
    return out


def _create(uow: UnitOfWork, cfg, issue_dir: str | Path, list_slug: str, editions: Sequence[RenderedEdition], *,
            at: dt.datetime | None, again: bool) -> CreatedSend:
    send = send_rows.create_send(uow.session, issue_dir=Path(issue_dir).resolve(), list_slug=list_slug,
                                 editions=editions, scheduled_at=at, again=again)
    return CreatedSend(send.id, send.issue_slug, list_slug, send.total, at)


def send_now(store: Store, cfg, issue_dir: str | Path, list_slug: str, *, again: bool = False) -> CreatedSend:
    """Create the send and snapshot its recipients in one transaction; `deliver` then sends it."""
    editions = render(cfg, issue_dir)
    with store.unit_of_work() as uow:
        created = _create(uow, cfg, issue_dir, list_slug, editions, at=None, again=again)
        send_rows.start_send(uow.session, created.id)
        total = send_rows.get_send(uow.session, created.id).total
    return CreatedSend(created.id, created.slug, list_slug, total)


def schedule(store: Store, cfg, issue_dir: str | Path, list_slug: str, at: dt.datetime, *,
             again: bool = False, actor: Actor | None = None, now: dt.datetime | None = None) -> CreatedSend:
    """Create the send for `at`, then its APScheduler job (the worker fires it; a lost job is made up for)."""
    editions = render(cfg, issue_dir)
    with store.unit_of_work() as uow:
        created = _create(uow, cfg, issue_dir, list_slug, editions, at=at, again=again)
        record(uow, actor or Actor.cli(), Action.SEND_SCHEDULE, object_type="send", object_id=created.id,
               detail=f"{created.slug} -> {list_slug} at {at.isoformat()}", now=now or _utcnow())
    scheduling.schedule_send(store.engine, cfg, created.id, at)
    return created


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


def work(store: Store, cfg, *, drain: bool, stop, on_send_done: Callable | None = None) -> None:
    """`bulletin worker`: fire scheduled sends and deliver unfinished ones, until `stop` (or, with `drain`,
    until nothing is due)."""
    from bulletin.deliver.worker import run_worker

    run_worker(store.engine, cfg, drain=drain, stop=stop, on_send_done=on_send_done)
