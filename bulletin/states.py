"""The states things go through, as types: a subscriber, a subscription, a send, one delivery, an event.

Each is a `StrEnum` stored as its value, with a CHECK constraint in the database (store/models.py), so a typo
fails at once instead of silently matching nothing. Imports nothing of Bulletin: every layer may use it.
"""

from __future__ import annotations

from enum import StrEnum


class SubscriberStatus(StrEnum):
    """A person, whatever the list: bounced or complained means no mail from any list."""

    ACTIVE = "active"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    #: personal data removed at their request; the row stays so that counts and "never mail again" survive
    ERASED = "erased"


class SubscriptionStatus(StrEnum):
    """A person on one list."""

    SUBSCRIBED = "subscribed"
    UNCONFIRMED = "unconfirmed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"


class SendState(StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"


class IssueState(StrEnum):
    """Where an issue folder stands on its way to readers, as the workspace lists it (read, not stored)."""

    DRAFT = "draft"
    APPROVED = "approved"
    #: approved, then edited: it must be approved again before the monthly schedule sends it
    CHANGED = "changed"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"


class DeliveryStatus(StrEnum):
    """One recipient of one send: claimed, sent, then marked."""

    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    SKIPPED = "skipped"


class EventKind(StrEnum):
    """What happened to a subscriber, kept for ever in their history."""

    SUBSCRIBE = "subscribe"
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    RESUBSCRIBE = "resubscribe"
    BOUNCE_HARD = "bounce_hard"
    BOUNCE_SOFT = "bounce_soft"
    COMPLAINT = "complaint"
    #: an admin changed something of theirs (name, language) or re-admitted them
    UPDATE = "update"
    ERASE = "erase"


class WaitReason(StrEnum):
    """Why a scheduled send that came due has not started. It goes as soon as the reason is gone."""

    #: the issue folder differs from the version it was scheduled (or last approved) with
    CHANGED = "changed"
    #: the issue folder is gone (moved, renamed) or cannot be read
    MISSING = "missing"
    #: `check` finds errors in the folder now (a template or the configuration changed since)
    ERRORS = "errors"


class ScheduleStep(StrEnum):
    """What the monthly schedule did for one month and list, once each."""

    #: `remind_days_before` the day: the issue was not approved, the reminder was mailed
    REMINDER = "reminder"
    #: at the time: the issue was not approved (or changed since), nothing was sent, the alert was mailed
    ALERT = "alert"
    #: no worker ran on the day: nothing was sent (a later day never sends), the alert was mailed
    MISSED = "missed"
    #: the send of the month was made
    SENT = "sent"


class ApprovalState(StrEnum):
    """Where an issue folder stands with its approval (not stored: read from the folder and the approvals)."""

    APPROVED = "approved"
    #: approved once, but a file the build reads changed since
    CHANGED = "changed"
    NOT_APPROVED = "not_approved"
    #: there is no such folder
    MISSING = "missing"


class Role(StrEnum):
    """What an account of the web workspace may do: an editor works on issues, an admin on everything."""

    ADMIN = "admin"
    EDITOR = "editor"


class AccountStatus(StrEnum):
    """An account of the web workspace: a disabled one cannot sign in and its sessions are ended."""

    ACTIVE = "active"
    DISABLED = "disabled"


class ImportState(StrEnum):
    """A subscriber file uploaded in the workspace: checked (a dry run), then imported or abandoned."""

    CHECKING = "checking"
    CHECKED = "checked"
    IMPORTING = "importing"
    DONE = "done"
    ABANDONED = "abandoned"
    FAILED = "failed"


#: Delivery rows that still have work to do.
OPEN_DELIVERIES = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED, DeliveryStatus.DEFERRED)
#: Subscription states in which nobody is mailed; only the person can leave them (double opt-in).
STOPPED_SUBSCRIPTIONS = frozenset({SubscriptionStatus.UNSUBSCRIBED, SubscriptionStatus.BOUNCED})
#: Subscriber states in which nobody is mailed from any list.
STOPPED_SUBSCRIBERS = frozenset({SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED, SubscriberStatus.ERASED})
