"""An issue on its way to readers: the folders there are, checked before anything goes, approved as one exact
version, published.

- `issue_slugs`, `issue_dir`: the issue folders of `[web].issues_dir` (the workspace's list, the monthly schedule's
  `issues/YYYY-MM`); `month_issue`: what the dashboard says of this month's.

- `ready`: what `bulletin check` says; an issue with errors is refused by every send, test send, schedule and
  approval, with each problem, and nothing is written.
- `approve`: records the fingerprint of the folder (content/fingerprint.py: every file the build reads), who
  approved it and when. `approval` says where a folder stands: approved as it is, changed since, not approved.
- `publish`: the scaled images and icons of editions into content-addressed storage (`store.media`, served at
  /media/HASH.EXT), and the editions rewritten to load them from there. Storage is a database table rather than
  a folder: every worker and `bulletin serve`, on any machine of a PostgreSQL installation, reads the same
  files; a send and its images are committed together; and backups of the database hold them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import re

from bulletin import i18n
from bulletin.content.fingerprint import Fingerprint, fingerprint as folder_fingerprint, of_files
from bulletin.errors import BulletinError, ContentError
from bulletin.i18n import Message
from bulletin.render.check import CheckReport, check_issue
from bulletin.render.edition import RenderedEdition
from bulletin.render.publish import publish_editions
from bulletin.services.errors import InputRefused
from bulletin.services.store import Store, UnitOfWork
from bulletin.states import ApprovalState, SendState
from bulletin.store import approvals, media
from bulletin.store import dashboard as send_lines
from bulletin.store.models import utcnow

#: A folder name the workspace accepts as an issue's slug: no dots or slashes, so never a path out of the folder.
SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


def issues_root(cfg) -> Path:
    return cfg.resolve_path(cfg.web.issues_dir)


def issue_slugs(cfg) -> list[str]:
    """The issue folders (those with an issue.toml), newest slug first."""
    root = issues_root(cfg)
    if not root.is_dir():
        return []
    return sorted((p.name for p in root.iterdir() if SLUG.match(p.name) and (p / "issue.toml").is_file()),
                  reverse=True)


def issue_dir(cfg, slug: str) -> Path:
    """The folder of the issue named `slug`; refuses anything that is not one of `issue_slugs`."""
    if not SLUG.match(slug or "") or not (issues_root(cfg) / slug / "issue.toml").is_file():
        raise InputRefused(i18n.Message("issue.unknown", slug=slug or ""), field="issue")
    return issues_root(cfg) / slug


class IssueNotReady(ContentError):
    """`check` finds errors in the issue: nothing is sent, scheduled or approved. `report.errors` lists them."""

    def __init__(self, report: CheckReport, doing: str = "send"):
        self.report = report
        super().__init__(Message(f"issue.not_ready.{doing}", errors=len(report.errors),
                                 path=str(report.issue_dir)), where=report.issue_dir)


def folder(issue_dir: str | Path) -> Path:
    """The issue folder; ContentError when there is none."""
    path = Path(issue_dir)
    if not path.is_dir():
        raise ContentError(Message("issue.no_folder"), where=issue_dir)
    return path


def check(cfg, issue_dir: str | Path) -> CheckReport:
    """Every problem of the issue and what each edition weighs (`bulletin check`)."""
    return check_issue(folder(issue_dir), cfg)


def ready(cfg, issue_dir: str | Path, *, doing: str = "send") -> CheckReport:
    """The check of an issue about to be sent (or approved): IssueNotReady when it finds errors. The report
    holds the editions as rendered, and its warnings, which do not stop anything."""
    report = check(cfg, issue_dir)
    if report.errors or report.issue is None:
        raise IssueNotReady(report, doing)
    return report


def fingerprint(cfg, issue_dir: str | Path) -> Fingerprint:
    return folder_fingerprint(folder(issue_dir), cfg)


def fingerprint_of(report: CheckReport) -> Fingerprint:
    """The fingerprint of the files a check read (hashed now: compare with one taken before to be sure they
    did not change in between)."""
    return of_files(report.issue_dir, report.sources)


# -- approval ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class IssueApproval:
    """Where an issue folder stands with its approval."""

    slug: str
    folder: Path
    state: ApprovalState
    #: the folder's fingerprint now (None when there is no folder)
    fingerprint: Fingerprint | None = None
    #: the approval that counts (the latest), if any
    approved_fingerprint: str | None = None
    approved_by: str | None = None
    approved_at: dt.datetime | None = None

    @property
    def approved(self) -> bool:
        return self.state is ApprovalState.APPROVED


@dataclass(frozen=True)
class Approved:
    slug: str
    folder: Path
    fingerprint: Fingerprint
    by: str
    at: dt.datetime
    #: scheduled sends of this issue that were waiting and may now go (the worker starts them)
    released: tuple[int, ...] = ()
    warnings: tuple = ()


def approval(uow: UnitOfWork, cfg, issue_dir: str | Path) -> IssueApproval:
    """Whether the folder, as it is now, is the version last approved."""
    path = Path(issue_dir)
    slug = path.resolve().name
    latest = approvals.latest(uow.session, slug)
    seen = dict(approved_fingerprint=latest.fingerprint, approved_by=latest.approved_by,
                approved_at=latest.approved_at) if latest else {}
    try:
        now = fingerprint(cfg, path)
    except ContentError:
        return IssueApproval(slug, path, ApprovalState.MISSING, None, **seen)
    if latest is None:
        return IssueApproval(slug, path, ApprovalState.NOT_APPROVED, now)
    state = ApprovalState.APPROVED if latest.fingerprint == now.digest else ApprovalState.CHANGED
    return IssueApproval(slug, path, state, now, **seen)


def approve(store: Store, cfg, issue_dir: str | Path, *, by: str, source: str = "cli",
            now: dt.datetime | None = None) -> Approved:
    """Record that this version of the issue may be sent: refused (IssueNotReady) when `check` finds errors."""
    from bulletin.deliver import sends as send_rows

    before = fingerprint(cfg, issue_dir)
    report = ready(cfg, issue_dir, doing="approve")
    after = fingerprint_of(report)
    if after != before:
        raise ContentError(Message("issue.changed_while_reading"), where=issue_dir)
    at = now or utcnow()
    path = folder(issue_dir)
    with store.unit_of_work() as uow:
        approvals.record(uow.session, slug=report.issue.slug, issue_dir=str(path.resolve()),
                         fingerprint=after.digest, files=len(after.files), by=by, source=source, at=at)
        released = tuple(s.id for s in send_rows.waiting_sends(uow.session, report.issue.slug))
    return Approved(report.issue.slug, path, after, by, at, released, tuple(report.warnings))


def may_go(uow: UnitOfWork, cfg, slug: str, scheduled_with: str, current: Fingerprint) -> bool:
    """A send scheduled with fingerprint `scheduled_with` may go with the folder as it is now: unchanged, or
    approved again as it is."""
    if current.digest == scheduled_with:
        return True
    latest = approvals.latest(uow.session, slug)
    return latest is not None and latest.fingerprint == current.digest


@dataclass(frozen=True)
class MonthIssue:
    slug: str
    exists: bool
    #: True approved as it is, False not (or changed since), None when there is no folder
    approved: bool | None
    #: the state of its latest send that was not cancelled, if any
    send_state: SendState | None
    send_id: int | None


def month_issue(uow: UnitOfWork, cfg, today: dt.date) -> MonthIssue:
    """This month's issue (`issues/YYYY-MM`): is it there, approved, scheduled or sent?"""
    slug = f"{today:%Y-%m}"
    folder = issues_root(cfg) / slug
    exists = (folder / "issue.toml").is_file()
    latest = send_lines.latest_send_of(uow.session, slug)
    return MonthIssue(slug, exists, approval(uow, cfg, folder).approved if exists else None,
                      latest.state if latest else None, latest.id if latest else None)


# -- publishing -------------------------------------------------------------------------------------------------

def publish(uow: UnitOfWork, cfg, report: CheckReport,
            editions: Sequence[RenderedEdition] | None = None) -> list[RenderedEdition]:
    """Store every image and icon the editions load, under their hash, and return the editions loading them from
    /media/. Publishing the same files again stores nothing new."""
    if report.issue is None:
        raise BulletinError(Message("issue.not_ready.send", errors=len(report.errors), path=str(report.issue_dir)))
    published, files = publish_editions(report.issue, editions if editions is not None else report.editions, cfg)
    for f in files:
        media.put(uow.session, f.digest, f.media_type, f.data)
    return published
