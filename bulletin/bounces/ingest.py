"""Bounce ingestion: each message of a source is read, mapped to a subscriber and a send, and the policy applied.

A bounce is mapped by its VERP token first (it names the send and the subscriber and cannot be forged), then,
when `[bounces].match_by_address` allows it, by the failed address, with the send taken from the returned
message's X-Bulletin-Send header. One transaction per message: a message is marked done in its source only
once its result is committed, and the same message read twice is recognised by its Message-ID.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bulletin import i18n
from bulletin.bounces import policy, verp
from bulletin.bounces.parse import Failure, Kind, Report, Skip, parse_report
from bulletin.bounces.sources import MailboxMessage
from bulletin.config import Config
from bulletin.states import EventKind
from bulletin.store import bounces as store
from bulletin.store.db import session_scope

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from bulletin.store.models import Send, Subscriber

_SEND_ID = re.compile(r"^\s*(\d{1,18})\b")


@dataclass
class IngestSummary:
    """What one ingestion run read and did, as printed by `bulletin bounces ingest`."""

    messages: int = 0
    hard: int = 0
    soft: int = 0
    complaints: int = 0
    marked_bounced: int = 0
    marked_complained: int = 0
    unmatched: int = 0
    duplicates: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {
            "messages": self.messages,
            "bounced_hard": self.hard,
            "bounced_soft": self.soft,
            "complaints": self.complaints,
            "marked_bounced": self.marked_bounced,
            "marked_complained": self.marked_complained,
            "unmatched": self.unmatched,
            "duplicates": self.duplicates,
            "skipped": dict(sorted(self.skipped.items())),
        }


@dataclass
class Explained:
    """One message as `--explain` prints it: where it was, what was recognised, what the policy did."""

    where: str
    message_id: str = ""
    #: the recogniser's trace, then the outcome of each failure
    lines: list[i18n.Message] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    subscriber: Subscriber
    send: Send | None
    #: how the subscriber was found, for --explain
    how: i18n.Message | None = None


def _source_key(report: Report, raw: bytes) -> str:
    """What identifies this bounce message across runs: its Message-ID, else a digest of its bytes."""
    if report.message_id:
        return f"bounce:{report.message_id}"
    return f"bounce:sha256:{hashlib.sha256(raw).hexdigest()[:40]}"


def _send_from_header(session: Session, report: Report, subscriber_id: int) -> Send | None:
    if report.original is None:
        return None
    m = _SEND_ID.match(str(report.original.get("x-bulletin-send", "")))
    return store.send_of(session, int(m.group(1)), subscriber_id) if m else None


def _verp_target(session: Session, cfg: Config, secret: bytes, report: Report) -> Target | None:
    template = cfg.delivery.return_path
    for address in report.envelope:
        token = verp.token_from_address(template, address)
        decoded = verp.decode(secret, token) if token else None
        if decoded is None:
            continue
        subscriber = store.subscriber(session, decoded.subscriber_id)
        if subscriber is not None:
            how = i18n.Message("bounces.outcome.verp", address=address, email=subscriber.email)
            return Target(subscriber, store.send(session, decoded.send_id), how)
    return None


def _address_target(session: Session, report: Report, failure: Failure) -> Target | None:
    if not failure.address:
        return None
    subscriber = store.subscriber_by_address(session, failure.address)
    if subscriber is None:
        return None
    return Target(subscriber, _send_from_header(session, report, subscriber.id))


def _targets(session: Session, cfg: Config, secret: bytes, report: Report) -> list[tuple[Target | None, Failure]]:
    by_verp = _verp_target(session, cfg, secret, report)
    if by_verp is not None:
        # A VERP address was sent to one recipient: the worst failure in the report is theirs.
        worst = min(report.failures, key=lambda f: (not f.hard, f.status))
        return [(by_verp, worst)]
    if not cfg.bounces.match_by_address:
        return [(None, f) for f in report.failures]
    return [(_address_target(session, report, f), f) for f in report.failures]


def ingest_report(
    session: Session, cfg: Config, secret: bytes, report: Report, raw: bytes, summary: IngestSummary,
    now: dt.datetime | None = None, explained: Explained | None = None,
) -> None:
    """Apply one parsed message to the store (within the caller's transaction) and count what it did."""
    said = explained.lines if explained is not None else []
    if report.kind == Kind.SKIPPED:
        summary.skipped[report.skipped or Skip.NOT_A_BOUNCE] += 1
        return
    source = _source_key(report, raw)
    for target, failure in _targets(session, cfg, secret, report):
        if target is None:
            summary.unmatched += 1
            key = "bounces.outcome.unmatched" if cfg.bounces.match_by_address else "bounces.outcome.verp_only"
            said.append(i18n.Message(key, address=failure.address or "-"))
            continue
        if target.how is not None:
            said.append(target.how)
        send_id = target.send.id if target.send else None
        list_id = target.send.list_id if target.send else None
        if report.kind == Kind.COMPLAINT:
            kind = EventKind.COMPLAINT
        else:
            kind = EventKind.BOUNCE_HARD if failure.hard else EventKind.BOUNCE_SOFT
        if store.event_recorded(session, target.subscriber.id, kind, source):
            summary.duplicates += 1
            said.append(i18n.Message("bounces.outcome.duplicate", address=target.subscriber.email))
            continue
        if kind == EventKind.COMPLAINT:
            summary.complaints += 1
            applied = policy.apply_complaint(
                session, target.subscriber, detail=failure.detail, source=source, send_id=send_id, list_id=list_id,
                now=now,
            )
            summary.marked_complained += applied.marked
        else:
            if failure.hard:
                summary.hard += 1
            else:
                summary.soft += 1
            applied = policy.apply_bounce(
                session, cfg.bounces, target.subscriber, hard=failure.hard, detail=failure.detail, source=source,
                send_id=send_id, list_id=list_id, now=now,
            )
            summary.marked_bounced += applied.marked
        said.append(applied.said)


def ingest(
    engine: Engine, cfg: Config, messages: Iterable[MailboxMessage], now: dt.datetime | None = None,
    explain: Callable[[Explained], None] | None = None,
) -> IngestSummary:
    """Read every message of a source: one transaction each, then mark it done in its source. `explain`, when
    given, is called with each message's explanation once its result is committed."""
    summary = IngestSummary()
    secret = cfg.signing_secret()
    max_bytes = cfg.bounces.max_message_bytes
    for message in messages:
        summary.messages += 1
        explained = Explained(message.where) if explain is not None else None
        if message.size > max_bytes:
            # Never fetched or parsed: a huge message is junk, and reading it could exhaust memory.
            summary.skipped[Skip.TOO_LARGE] += 1
            if explained is not None:
                explained.lines.append(i18n.Message("bounces.explain.too_large", size=message.size, limit=max_bytes))
            message.done()
            if explain is not None and explained is not None:
                explain(explained)
            continue
        try:
            raw = message.read()
        except FileNotFoundError:
            continue  # another run of ingest took this Maildir message first
        report = parse_report(raw, max_bytes)
        if explained is not None:
            explained.message_id = report.message_id
            explained.lines += report.trace
        if report.kind == Kind.SKIPPED:
            summary.skipped[report.skipped or Skip.NOT_A_BOUNCE] += 1
        else:
            with session_scope(engine) as session:
                ingest_report(session, cfg, secret, report, raw, summary, now=now, explained=explained)
        try:
            message.done()
        except FileNotFoundError:
            pass
        if explain is not None and explained is not None:
            explain(explained)
    return summary
