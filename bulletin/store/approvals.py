"""Approvals of issues: who said which version (fingerprint) may be sent, and when."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bulletin.store.models import NAME_MAX, SOURCE_MAX, Approval


def record(session: Session, *, slug: str, issue_dir: str, fingerprint: str, files: int, by: str, source: str,
           at: dt.datetime) -> Approval:
    approval = Approval(issue_slug=slug, issue_dir=issue_dir, fingerprint=fingerprint, files=files,
                        approved_by=by[:NAME_MAX], source=source[:SOURCE_MAX], approved_at=at)
    session.add(approval)
    session.flush()
    return approval


def latest(session: Session, slug: str) -> Approval | None:
    """The approval that counts for the issue `slug`: its latest."""
    return session.scalars(
        select(Approval).where(Approval.issue_slug == slug).order_by(Approval.approved_at.desc(), Approval.id.desc())
        .limit(1)
    ).first()
