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
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bulletin.bounces import policy, verp
from bulletin.bounces.parse import Failure, Report, parse_report
from bulletin.bounces.sources import MailboxMessage
from bulletin.config import Config
from bulletin.store import queries
from bulletin.store.db import session_scope
from bulletin.store.models import Delivery, Event, Send, Subscriber

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


@dataclass(frozen=True)
class Target:
    subscriber: Subscriber
    send: Send | None


def _source_key(report: Report, raw: bytes) -> str:
    """What identifies this bounce message across runs: its Message-ID, else a digest of its bytes."""
    if report.message_id:
        return f"bounce:{report.message_id}"[:200]
    return f"bounce:sha256:{hashlib.sha256(raw).hexdigest()[:40]}"


def _send_from_header(session: Session, report: Report, subscriber_id: int) -> Send | None:
    if report.original is None:
        return None
    m = _SEND_ID.match(str(report.original.get("x-bulletin-send", "")))
    if not m:
        return None
    send_id = int(m.group(1))
    # Only a send this subscriber was really part of: a stray or forged header names nothing.
    found = session.scalar(
        select(Delivery.id).where(Delivery.send_id == send_id, Delivery.subscriber_id == subscriber_id)
    )
    return session.get(Send, send_id) if found is not None else None


def _verp_target(session: Session, cfg: Config, secret: bytes, report: Report) -> Target | None:
    template = cfg.delivery.return_path
    for address in report.envelope:
        token = verp.token_from_address(template, address)
        decoded = verp.decode(secret, token) if token else None
        if decoded is None:
            continue
        subscriber = session.get(Subscriber, decoded.subscriber_id)
        if subscriber is not None:
            return Target(subscriber, session.get(Send, decoded.send_id))
    return None


def _address_target(session: Session, report: Report, failure: Failure) -> Target | None:
    if not failure.address:
        return None
    subscriber = queries.find_subscriber(session, failure.address)
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


def _already_recorded(session: Session, subscriber_id: int, kind: str, source: str) -> bool:
    return (
        session.scalar(
            select(Event.id).where(Event.subscriber_id == subscriber_id, Event.kind == kind, Event.source == source)
        )
        is not None
    )


def ingest_report(
    session: Session, cfg: Config, secret: bytes, report: Report, raw: bytes, summary: IngestSummary,
    now: dt.datetime | None = None,
) -> None:
    """Apply one parsed message to the store (within the caller's transaction) and count what it did."""
    if report.kind == "skipped":
        summary.skipped[report.skipped or "not_a_bounce"] += 1
        return
    source = _source_key(report, raw)
    for target, failure in _targets(session, cfg, secret, report):
        if target is None:
            summary.unmatched += 1
            continue
        send_id = target.send.id if target.send else None
        list_id = target.send.list_id if target.send else None
        if report.kind == "complaint":
            if _already_recorded(session, target.subscriber.id, policy.COMPLAINT, source):
                summary.duplicates += 1
                continue
            summary.complaints += 1
            if policy.apply_complaint(
                session, target.subscriber, detail=failure.detail, source=source, send_id=send_id, list_id=list_id,
                now=now,
            ):
                summary.marked_complained += 1
            continue
        kind = policy.BOUNCE_HARD if failure.hard else policy.BOUNCE_SOFT
        if _already_recorded(session, target.subscriber.id, kind, source):
            summary.duplicates += 1
            continue
        if failure.hard:
            summary.hard += 1
        else:
            summary.soft += 1
        if policy.apply_bounce(
            session, cfg.bounces, target.subscriber, hard=failure.hard, detail=failure.detail, source=source,
            send_id=send_id, list_id=list_id, now=now,
        ):
            summary.marked_bounced += 1


def ingest(engine: Engine, cfg: Config, messages: Iterable[MailboxMessage], now: dt.datetime | None = None) -> IngestSummary:
    """Read every message of a source: one transaction each, then mark it done in its source."""
    summary = IngestSummary()
    secret = cfg.signing_secret()
    max_bytes = cfg.bounces.max_message_bytes
    for message in messages:
        summary.messages += 1
        if message.size > max_bytes:
            # Never fetched or parsed: a huge message is junk, and reading it could exhaust memory.
            summary.skipped["too_large"] += 1
            message.done()
            continue
        try:
            raw = message.read()
        except FileNotFoundError:
            continue  # another run of ingest took this Maildir message first
        report = parse_report(raw, max_bytes)
        if report.kind == "skipped":
            summary.skipped[report.skipped or "not_a_bounce"] += 1
        else:
            with session_scope(engine) as session:
                ingest_report(session, cfg, secret, report, raw, summary, now=now)
        try:
            message.done()
        except FileNotFoundError:
            pass
    return summary
