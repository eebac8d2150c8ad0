"""An issue on its way from the editor to readers, as the workspace shows it: where each issue folder stands
(draft, approved, changed since approval, scheduled, sent), a test send to a few addresses, approval,
scheduling to a list, and what the monthly schedule will do with it.

Approval, publishing images at test sends and the monthly schedule are `bulletin approve`'s, `send`'s and the
worker's (services.issues, services.sends, services.monthly): this module only calls them, so the browser and
the command line record the same approval and send the same messages, and adds the workspace's audit entries.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from bulletin import i18n
from bulletin.errors import BulletinError, ContentError, InvalidAddress
from bulletin.render.check import CheckReport, EditionWeight, check_issue
from bulletin.services import issues, monthly, sends
from bulletin.services.audit import Action, Actor, record
from bulletin.services.errors import InputRefused
from bulletin.services.store import Store, UnitOfWork
from bulletin.states import ApprovalState, IssueState, SendState
from bulletin.store import dashboard as send_lines
from bulletin.store.addresses import normalise_email

#: A test goes to a few people, not a list.
MAX_TEST_ADDRESSES = 10


@dataclass(frozen=True)
class IssueRow:
    slug: str
    subject: str
    state: IssueState
    errors: int
    warnings: int
    weights: tuple[EditionWeight, ...]
    limit_kb: int
    send_id: int | None = None
    send_at: dt.datetime | None = None

    @property
    def heaviest(self) -> int:
        return max((w.total for w in self.weights), default=0)

    @property
    def over(self) -> bool:
        return self.heaviest > self.limit_kb * 1024


def state_of(uow: UnitOfWork, cfg, slug: str, folder: Path) -> tuple[IssueState, int | None, dt.datetime | None]:
    """Where an issue stands: its latest send that was not cancelled decides, else its approval."""
    latest = send_lines.latest_send_of(uow.session, slug)
    if latest is not None:
        state = {SendState.SCHEDULED: IssueState.SCHEDULED, SendState.RUNNING: IssueState.SENDING}.get(
            latest.state, IssueState.SENT)
        return state, latest.id, latest.scheduled_at if state is IssueState.SCHEDULED else latest.started_at
    approved = issues.approval(uow, cfg, folder)
    state = {ApprovalState.APPROVED: IssueState.APPROVED, ApprovalState.CHANGED: IssueState.CHANGED}.get(
        approved.state, IssueState.DRAFT)
    return state, None, approved.approved_at if state is not IssueState.DRAFT else None


def approval(uow: UnitOfWork, cfg, slug: str) -> issues.IssueApproval:
    """Where the issue stands with its approval (the record `bulletin approve` writes)."""
    return issues.approval(uow, cfg, issues.issue_dir(cfg, slug))


def issue_rows(uow: UnitOfWork, cfg) -> list[IssueRow]:
    """Every issue folder of [web].issues_dir, newest first, with its state, what check finds and its weight."""
    rows = []
    for slug in issues.issue_slugs(cfg):
        folder = issues.issue_dir(cfg, slug)
        report = check_issue(folder, cfg)
        state, send_id, at = state_of(uow, cfg, slug, folder)
        rows.append(IssueRow(slug, _subject(cfg, folder), state, len(report.errors), len(report.warnings),
                             report.weights, cfg.compose.max_edition_kb, send_id, at))
    return rows


def _subject(cfg, folder: Path) -> str:
    from bulletin.content.form import read_form

    form = read_form(folder, cfg.organisation.language, cfg.organisation.languages)
    return form.toml.values.get("subject", "")


def check(cfg, slug: str) -> CheckReport:
    return check_issue(issues.issue_dir(cfg, slug), cfg)


# -- test send ---------------------------------------------------------------------------------------------------

def addresses(typed: str) -> list[str]:
    """The addresses typed in the test form: separated by commas, semicolons, spaces or lines."""
    found: dict[str, str] = {}
    for part in re.split(r"[\s,;]+", typed or ""):
        if not part:
            continue
        try:
            address = normalise_email(part)
        except InvalidAddress:
            raise InputRefused(i18n.Message("editor.test.address", address=part), field="to") from None
        found.setdefault(address.lower(), address)
    if not found:
        raise InputRefused(i18n.Message("editor.test.none"), field="to")
    if len(found) > MAX_TEST_ADDRESSES:
        raise InputRefused(i18n.Message("editor.test.too_many", limit=MAX_TEST_ADDRESSES), field="to")
    return list(found.values())


@dataclass(frozen=True)
class TestSent:
    __test__ = False  # not a pytest test class

    #: (language, address) per message sent
    sent: tuple[tuple[str, str], ...]


def test_send(store: Store, cfg, slug: str, typed: str, languages: list[str] | None, *, actor: Actor,
              now: dt.datetime) -> TestSent:
    """Every chosen edition of the issue to each address typed, subject marked [TEST]; refused while check
    finds errors. Recorded in the audit log (who tested what, to whom)."""
    to = addresses(typed)
    folder = issues.issue_dir(cfg, slug)
    report = check_issue(folder, cfg)
    if report.errors:
        raise InputRefused(i18n.Message("editor.not_ready", errors=len(report.errors)), field="to")
    langs = [w.language for w in report.weights]
    wanted = [lang for lang in (languages or langs) if lang in langs]
    if not wanted:
        raise InputRefused(i18n.Message("editor.test.language"), field="language")
    try:
        sent = tuple((lang, address) for _slug, lang, address in
                     sends.test_send(cfg, folder, to, store=store, languages=wanted).sent)
    except issues.IssueNotReady as e:
        raise InputRefused(i18n.Message("editor.not_ready", errors=len(e.report.errors)), field="to") from None
    except BulletinError as e:
        raise InputRefused(i18n.Message("editor.test.failed", reason=str(e.what)), field="to") from None
    with store.unit_of_work() as uow:
        record(uow, actor, Action.ISSUE_TEST_SEND, object_type="issue", object_id=slug,
               detail=f"{', '.join(wanted)} -> {', '.join(to)}", now=now)
    return TestSent(sent)


# -- approval and schedule -----------------------------------------------------------------------------------------

def approve(store: Store, cfg, slug: str, *, actor: Actor, now: dt.datetime) -> issues.Approved:
    """`bulletin approve` from the browser: the same record (the folder's fingerprint, who, when), refused
    while check finds errors; and an entry in the audit log."""
    folder = issues.issue_dir(cfg, slug)
    try:
        done = issues.approve(store, cfg, folder, by=actor.email, source="web", now=now)
    except issues.IssueNotReady as e:
        raise InputRefused(i18n.Message("editor.not_ready", errors=len(e.report.errors)), field="approve") from None
    except ContentError as e:
        raise InputRefused(i18n.Message("editor.approve.refused", reason=str(e.what)), field="approve") from None
    with store.unit_of_work() as uow:
        record(uow, actor, Action.ISSUE_APPROVE, object_type="issue", object_id=slug,
               detail=f"{done.fingerprint.digest} ({len(done.fingerprint.files)} files)", now=now)
    return done


@dataclass(frozen=True)
class MonthlyPlan:
    """What the monthly schedule will do with this issue: send it to `list_slug` at `send_at` if approved."""

    list_slug: str
    send_at: dt.datetime


def monthly_plan(cfg, slug: str, now: dt.datetime) -> MonthlyPlan | None:
    """When the monthly schedule sends this issue, or None (no schedule, or not the issue of a month to come)."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", slug)
    if not cfg.schedule.enabled or m is None or not 1 <= int(m.group(2)) <= 12:
        return None
    month = monthly.month(cfg, int(m.group(1)), int(m.group(2)))
    if month.send_at <= now:
        return None
    return MonthlyPlan(month.list_slug, month.send_at)


def schedule(store: Store, cfg, slug: str, list_slug: str, at: dt.datetime, *, actor: Actor,
             now: dt.datetime) -> sends.CreatedSend:
    """The issue to a list at a time (services.sends.schedule: checked, recorded, in the audit log)."""
    from bulletin.services import lists

    folder = issues.issue_dir(cfg, slug)
    with store.unit_of_work() as uow:
        lists.require_list(uow, list_slug)
    try:
        return sends.schedule(store, cfg, folder, list_slug, at, actor=actor, now=now)
    except issues.IssueNotReady as e:
        raise InputRefused(i18n.Message("editor.not_ready", errors=len(e.report.errors)), field="") from None
