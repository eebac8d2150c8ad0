"""The queries of the web workspace's accounts, sessions and audit log. Each takes the caller's session and
never commits; the rules (who may sign in, how long a session lives) are services/accounts.py's."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bulletin.states import AccountStatus, Role
from bulletin.store.models import EMAIL_MAX, AdminSession, AuditEntry, User


def email_key(email: str) -> str:
    return email.strip().lower()


# --- users -------------------------------------------------------------------------------------------------


def find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email_key == email_key(email)))


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def add_user(session: Session, email: str, role: Role, password_hash: str, now: dt.datetime) -> User:
    user = User(email=email, email_key=email_key(email), role=role, status=AccountStatus.ACTIVE,
                password_hash=password_hash, created_at=now)
    session.add(user)
    session.flush()
    return user


def users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email_key)))


def active_admins(session: Session) -> int:
    return session.scalar(
        select(func.count()).select_from(User).where(User.role == Role.ADMIN, User.status == AccountStatus.ACTIVE)
    ) or 0


# --- sessions ----------------------------------------------------------------------------------------------


def add_session(session: Session, token_hash: str, user_id: int, csrf_token: str, ip: str, now: dt.datetime) -> None:
    session.add(AdminSession(token_hash=token_hash, user_id=user_id, csrf_token=csrf_token, created_at=now,
                             last_seen_at=now, ip=ip))
    session.flush()


def session_with_user(session: Session, token_hash: str) -> tuple[AdminSession, User] | None:
    row = session.execute(
        select(AdminSession, User).join(User, User.id == AdminSession.user_id)
        .where(AdminSession.token_hash == token_hash)
    ).first()
    return (row[0], row[1]) if row else None


def touch_session(session: Session, token_hash: str, now: dt.datetime) -> None:
    session.execute(update(AdminSession).where(AdminSession.token_hash == token_hash).values(last_seen_at=now)
                    .execution_options(synchronize_session=False))


def end_session(session: Session, token_hash: str) -> int:
    return session.execute(delete(AdminSession).where(AdminSession.token_hash == token_hash)
                           .execution_options(synchronize_session=False)).rowcount


def end_sessions_of(session: Session, user_id: int) -> int:
    return session.execute(delete(AdminSession).where(AdminSession.user_id == user_id)
                           .execution_options(synchronize_session=False)).rowcount


def end_stale_sessions(session: Session, idle_before: dt.datetime, created_before: dt.datetime) -> int:
    """Delete sessions idle since `idle_before` or opened before `created_before`."""
    return session.execute(
        delete(AdminSession)
        .where((AdminSession.last_seen_at < idle_before) | (AdminSession.created_at < created_before))
        .execution_options(synchronize_session=False)
    ).rowcount


def session_count(session: Session, user_id: int) -> int:
    return session.scalar(select(func.count()).select_from(AdminSession).where(AdminSession.user_id == user_id)) or 0


# --- audit log ---------------------------------------------------------------------------------------------


def add_audit(session: Session, *, at: dt.datetime, user_id: int | None, actor: str, action: str,
              object_type: str, object_id: str, detail: str, ip: str) -> AuditEntry:
    entry = AuditEntry(at=at, user_id=user_id, actor=actor[:EMAIL_MAX], action=action, object_type=object_type,
                       object_id=object_id[:200], detail=detail, ip=ip[:64])
    session.add(entry)
    session.flush()
    return entry


def count_actions(session: Session, action: str, *, since: dt.datetime, actor: str | None = None,
                  ip: str | None = None) -> tuple[int, dt.datetime | None]:
    """How many `action` entries since `since` by this actor or from this IP, and when the last one was."""
    query = select(func.count(), func.max(AuditEntry.at)).where(AuditEntry.action == action, AuditEntry.at >= since)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if ip is not None:
        query = query.where(AuditEntry.ip == ip)
    n, last = session.execute(query).one()
    if last is not None and last.tzinfo is None:  # max() on SQLite skips the column's type
        last = dt.datetime.fromisoformat(str(last)).replace(tzinfo=dt.timezone.utc)
    return n or 0, last


def last_action(session: Session, action: str, actor: str) -> dt.datetime | None:
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == action, AuditEntry.actor == actor)
                           .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(1))
    return entry.at if entry else None


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def audit_entries(session: Session, f: AuditFilter, *, limit: int, before_id: int | None = None) -> list[AuditEntry]:
    """Entries matching `f`, newest first; `before_id` pages on (keyset, so page 100 costs what page 1 does)."""
    query = select(AuditEntry)
    if f.actor:
        query = query.where(func.lower(AuditEntry.actor) == f.actor.strip().lower())
    if f.action:
        query = query.where((AuditEntry.action == f.action) | AuditEntry.action.startswith(f.action + "."))
    if f.object_type:
        query = query.where(AuditEntry.object_type == f.object_type)
    if f.object_id:
        query = query.where(AuditEntry.object_id == f.object_id)
    if f.since is not None:
        query = query.where(AuditEntry.at >= f.since)
    if f.until is not None:
        query = query.where(AuditEntry.at < f.until)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))


def audit_actors(session: Session) -> list[str]:
    """The accounts' addresses, for the audit page's filter menu."""
    return list(session.scalars(select(User.email).order_by(User.email_key)))
