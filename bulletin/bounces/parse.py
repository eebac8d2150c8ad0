"""What one message of the bounce mailbox says: a bounce, a complaint, or junk, and why.

Nothing here touches the store: a `Report` names failed addresses and where a VERP token may sit, and the
ingestion maps them to subscribers. Junk (spam, auto-replies, delay warnings, malformed MIME, huge messages)
becomes a Report with `skipped` set and a named reason in `trace`, never an exception, so that one bad message
cannot stop a mailbox from being read. Only the exceptions that malformed input causes are caught, where it
causes them; a bug of Bulletin's own still raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email import policy
from email.errors import MessageError
from email.message import Message
from email.parser import BytesParser
from enum import StrEnum

from bulletin import i18n


class Kind(StrEnum):
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    SKIPPED = "skipped"


class Skip(StrEnum):
    """Why a message was skipped, as counted in the ingestion summary."""

    TOO_LARGE = "too_large"
    MALFORMED = "malformed"
    SPAM = "spam"
    AUTO_REPLY = "auto_reply"
    CHALLENGE = "challenge"
    DELAY_WARNING = "delay_warning"
    NOT_A_COMPLAINT = "not_a_complaint"
    NOT_A_BOUNCE = "not_a_bounce"


SKIP_REASONS = tuple(Skip)


class Rule(StrEnum):
    """Where a failed address was found, most trusted first (see recognise.py)."""

    DSN = "dsn"
    FLUFL = "flufl"
    TEXT = "text"
    RETURNED_HEADERS = "returned-headers"
    RECEIVED_FOR = "received-for"
    ARF = "arf"


@dataclass(frozen=True)
class Failure:
    """One recipient the report says was not delivered (or, for a complaint, who complained)."""

    address: str
    hard: bool
    status: str = ""
    reason: str = ""
    rule: Rule = Rule.DSN
    #: how it was found and classed, for `bulletin bounces ingest --explain`
    why: i18n.Message | None = field(default=None, compare=False)

    @property
    def detail(self) -> str:
        """The raw reason as kept in Event.detail: status code first, so reports can group by it."""
        return " ".join(p for p in (self.status, self.reason) if p)[:2000]


@dataclass
class Report:
    kind: Kind
    message_id: str = ""
    failures: list[Failure] = field(default_factory=list)
    skipped: Skip | None = None
    #: addresses the report was delivered to or names as the original sender: where a VERP token sits
    envelope: list[str] = field(default_factory=list)
    #: headers of the returned original message (X-Bulletin-Send, To, Message-ID), when it came back
    original: Message | None = None
    #: what was recognised and why, or why it was skipped, in order
    trace: list[i18n.Message] = field(default_factory=list)


def skipped(reason: Skip, why: i18n.Message, message_id: str = "", trace: list[i18n.Message] | None = None) -> Report:
    return Report(Kind.SKIPPED, message_id=message_id, skipped=reason, trace=[*(trace or []), why])


def parse_report(raw: bytes, max_bytes: int = 1_048_576) -> Report:
    """Read one message of the bounce mailbox. Never raises for what a mailbox may contain."""
    if len(raw) > max_bytes:
        return skipped(Skip.TOO_LARGE, i18n.Message("bounces.explain.too_large", size=len(raw), limit=max_bytes))
    try:
        msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    except (MessageError, UnicodeError, LookupError, ValueError) as e:  # the email package on broken bytes
        why = i18n.Message("bounces.explain.malformed.unreadable", problem=f"{type(e).__name__}: {e}")
        return skipped(Skip.MALFORMED, why)
    from bulletin.bounces.recognise import recognise

    return recognise(msg)
