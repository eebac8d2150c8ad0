"""The issue folders the workspace offers (`[web].issues_dir`), and what the dashboard says of this month's.

Approval (`bulletin approve`) is not recorded yet: `approval_of` is the hook that will read it, and until then
answers None ("not known"), which the dashboard shows as such rather than guessing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from bulletin import i18n
from bulletin.services.errors import InputRefused
from bulletin.services.store import UnitOfWork
from bulletin.states import SendState
from bulletin.store import dashboard as send_lines

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


def approval_of(folder: Path) -> bool | None:
    """Whether this version of the issue is approved; None while approvals are not recorded (hook)."""
    return None


@dataclass(frozen=True)
class MonthIssue:
    slug: str
    exists: bool
    #: True approved, False not (or changed since), None not known (approvals not recorded yet)
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
    return MonthIssue(slug, exists, approval_of(folder) if exists else None,
                      latest.state if latest else None, latest.id if latest else None)
