"""The audit log: who did what, when, to which object, from where. Every use case that changes something on
behalf of a person records one entry here, in the same transaction as the change (both or neither).

A new kind of change is a new `Action` member and a catalogue key `admin.audit.action.VALUE` (the audit page
prints that); the column is not CHECK-constrained, so no migration is needed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from bulletin.services.store import UnitOfWork
from bulletin.store import accounts as rows
from bulletin.store.accounts import AuditFilter

__all__ = ["Action", "Actor", "AuditFilter", "Entry", "record", "entries", "actors", "PAGE_SIZE"]

PAGE_SIZE = 50


class Action(StrEnum):
    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in.failed"
    SIGN_OUT = "sign_out"
    USER_ADD = "user.add"
    USER_DISABLE = "user.disable"
    USER_ROLE = "user.role"
    SEND_SCHEDULE = "send.schedule"
    SEND_CANCEL = "send.cancel"
    SEND_RESUME = "send.resume"
    ISSUE_CREATE = "issue.create"
    ISSUE_SAVE = "issue.save"
    ISSUE_BLOCK_ADD = "issue.block.add"
    ISSUE_BLOCK_MOVE = "issue.block.move"
    ISSUE_BLOCK_REMOVE = "issue.block.remove"
    ISSUE_TEST_SEND = "issue.test_send"
    ISSUE_APPROVE = "issue.approve"
    LIST_ADD = "list.add"
    LIST_EDIT = "list.edit"
    LIST_ARCHIVE = "list.archive"
    LIST_RESTORE = "list.restore"
    LIST_EXPORT = "list.export"
    SUBSCRIBER_ADD = "subscriber.add"
    SUBSCRIBER_EDIT = "subscriber.edit"
    SUBSCRIBER_UNSUBSCRIBE = "subscriber.unsubscribe"
    SUBSCRIBER_INVITE = "subscriber.invite"
    SUBSCRIBER_EXPORT = "subscriber.export"
    SUBSCRIBER_ERASE = "subscriber.erase"
    IMPORT_UPLOAD = "import.upload"
    IMPORT_CONFIRM = "import.confirm"
    IMPORT_ABANDON = "import.abandon"


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in account (its id and address) from an IP address, or the command line."""

    user_id: int | None
    email: str
    ip: str = ""

    @classmethod
    def cli(cls) -> Actor:
        return cls(None, "cli")


@dataclass(frozen=True)
class Entry:
    id: int
    at: dt.datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    detail: str
    ip: str


def record(uow: UnitOfWork, actor: Actor, action: Action | str, *, object_type: str = "", object_id: object = "",
           detail: str = "", now: dt.datetime) -> None:
    rows.add_audit(uow.session, at=now, user_id=actor.user_id, actor=actor.email, action=str(action),
                   object_type=object_type, object_id=str(object_id), detail=detail, ip=actor.ip)


def entries(uow: UnitOfWork, f: AuditFilter, *, limit: int = PAGE_SIZE, before_id: int | None = None) -> list[Entry]:
    """The entries matching `f`, newest first, `limit` at a time (`before_id`: the last id of the previous page).
    An action filter matches its sub-actions too: "sign_in" finds failed sign-ins."""
    return [Entry(e.id, e.at, e.actor, e.action, e.object_type, e.object_id, e.detail, e.ip)
            for e in rows.audit_entries(uow.session, f, limit=limit, before_id=before_id)]


def actors(uow: UnitOfWork) -> list[str]:
    return rows.audit_actors(uow.session)
