"""What one message of the bounce mailbox says: a bounce (DSN or another server's format), a complaint, or junk.

Nothing here touches the store: a `Report` names failed addresses and where a VERP token may sit, and the
ingestion maps them to subscribers. Junk (spam, auto-replies, malformed MIME, huge messages) becomes a Report
with `skipped` set, never an exception, so that one bad message cannot stop a mailbox from being read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses, parseaddr

import flufl.bounce

#: Why a message was skipped, as counted in the ingestion summary.
SKIP_REASONS = ("too_large", "malformed", "spam", "auto_reply", "delay_warning", "not_a_complaint", "not_a_bounce")

# The headers a receiving server writes the envelope recipient into: the VERP return path sits there.
_ENVELOPE_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "x-rcpt-to", "to")
# ARF feedback types that are complaints; "not-spam" and DMARC's "auth-failure" are not.
_COMPLAINT_TYPES = {"abuse", "fraud", "virus", "other"}
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_REPLY = re.compile(r"(?<![\d.])([45])\d\d(?:[ -]|$)", re.MULTILINE)
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|absen(ce|t)|vacation|"
    r"r[ée]ponse automatique|abwesen|i am away|on leave|en cong[ée])",
    re.IGNORECASE,
)
_QUOTED_SEND = re.compile(r"^X-Bulletin-Send:[ \t]*\d+", re.MULTILINE | re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (status|failure|has failed)|failure notice|returned mail|mail delivery failed|"
    r"non remis|non distribu|[ée]chec de (la )?remise|unzustellbar",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Failure:
    """One recipient the report says was not delivered (or, for a complaint, who complained)."""

    address: str
    hard: bool
    status: str = ""
    reason: str = ""

    @property
    def detail(self) -> str:
        """The raw reason as kept in Event.detail: status code first, so reports can group by it."""
        return " ".join(p for p in (self.status, self.reason) if p)[:2000]


@dataclass
class Report:
    kind: str  # "bounce" | "complaint" | "skipped"
    message_id: str = ""
    failures: list[Failure] = field(default_factory=list)
    skipped: str | None = None
    #: addresses the report was delivered to or names as the original sender: where a VERP token sits
    envelope: list[str] = field(default_factory=list)
    #: headers of the returned original message (X-Bulletin-Send, To, Message-ID), when it came back
    original: Message | None = None


def _skip(reason: str, message_id: str = "") -> Report:
    return Report(kind="skipped", skipped=reason, message_id=message_id)


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    return " ".join(str(value).split()) if value is not None else ""


def _address(field_value: str) -> str:
    """`rfc822; user@example.org` (DSN and ARF recipient fields) or a plain address, without brackets."""
    _type, sep, rest = field_value.partition(";")
    value = rest if sep else field_value
    return parseaddr(value.strip())[1] or value.strip().strip("<>")


def _header_blocks(part: Message) -> list[Message]:
    """The field blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = payload if isinstance(payload, str) else ""
    chunks = re.split(r"\r?\n\s*\r?\n", text.strip())
    return [HeaderParser().parsestr(c) for c in chunks if c.strip()]


def _original_headers(msg: Message) -> Message | None:
    """The headers of the message that bounced, from a message/rfc822 or text/rfc822-headers part."""
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/rfc822-headers"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if ctype == "text/rfc822-headers":
            text = part.get_payload(decode=True) or b""
            return HeaderParser().parsestr(text.decode("utf-8", "replace"))
    # Plain-text bounces (qmail, Exim) quote the original after their own words: find its header block.
    text = _readable_text(msg, stop_at_original=False)
    m = _QUOTED_SEND.search(text)
    if m:
        cut = text.rfind("\n\n", 0, m.start())
        return HeaderParser().parsestr(text[cut + 2 if cut >= 0 else 0 :])
    return None


def _envelope(msg: Message, original: Message | None) -> list[str]:
    found: list[str] = []
    for name in _ENVELOPE_HEADERS:
        for value in msg.get_all(name, []):
            found += [a for _n, a in getaddresses([str(value)]) if a]
    if original is not None:
        # The original's Return-Path is the VERP address itself when the returning server kept it.
        found += [a for _n, a in getaddresses(original.get_all("return-path", [])) if a]
    return found


def _dsn_failures(msg: Message) -> tuple[list[Failure], int] | None:
    """RFC 3464: the failed recipients of a message/delivery-status part, and how many were only delayed.

    None when the message has no delivery-status part at all."""
    parts = [p for p in msg.walk() if p.get_content_type() == "message/delivery-status"]
    if not parts:
        return None
    failures: list[Failure] = []
    delayed = 0
    for part in parts:
        blocks = _header_blocks(part)
        # The first block is per-message (Reporting-MTA ...); the others are per-recipient.
        for block in blocks[1:] if len(blocks) > 1 else blocks:
            action = _header(block, "action").lower()
            status_field = _header(block, "status")
            recipient = _header(block, "original-recipient") or _header(block, "final-recipient")
            if not recipient or not (action or status_field):
                continue
            if action.startswith("delayed"):
                delayed += 1
                continue
            m = _STATUS.search(status_field)
            failed = action.startswith(("fail", "error")) or (not action and m is not None and m.group(1) != "2")
            if not failed:
                continue  # delivered, relayed, expanded
            status = m.group(0) if m else ""
            failures.append(
                Failure(
                    address=_address(recipient),
                    hard=not (m and m.group(1) == "4"),
                    status=status,
                    reason=_header(block, "diagnostic-code") or _header(block, "x-postfix-diagnostic"),
                )
            )
    return failures, delayed


def _complaint(msg: Message, original: Message | None) -> Report | None:
    """RFC 5965 (ARF): who complained, from the feedback report and the returned original."""
    parts = [p for p in msg.walk() if p.get_content_type() == "message/feedback-report"]
    if not parts:
        return None
    blocks = _header_blocks(parts[0])
    fields = blocks[0] if blocks else Message()
    feedback_type = _header(fields, "feedback-type").lower()
    if feedback_type not in _COMPLAINT_TYPES:
        return _skip("not_a_complaint")
    address = _address(_header(fields, "original-rcpt-to"))
    if not address and original is not None:
        address = parseaddr(_header(original, "to"))[1]
    reason = "; ".join(
        f"{name}: {_header(fields, name)}" for name in ("feedback-type", "user-agent", "source-ip") if _header(fields, name)
    )
    report = Report(kind="complaint", failures=[Failure(address=address, hard=True, reason=reason)])
    mail_from = _address(_header(fields, "original-mail-from"))
    if mail_from:
        report.envelope.append(mail_from)
    return report


def _readable_text(msg: Message, limit: int = 20000, stop_at_original: bool = True) -> str:
    chunks = []
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True) or b""
            charset = part.get_content_charset() or "utf-8"
            try:
                chunks.append(payload.decode(charset, "replace"))
            except LookupError:  # an unknown charset name
                chunks.append(payload.decode("utf-8", "replace"))
        if stop_at_original and part.get_content_type() == "message/rfc822":
            break  # the returned original follows: its words are not the server's
    return "\n".join(chunks).replace("\r\n", "\n")[:limit]


def _heuristic_failures(msg: Message) -> tuple[list[Failure], int]:
    """Non-standard bounces (qmail, Exim, Postfix, Exchange ...) recognised by flufl.bounce, as Mailman does."""
    temporary, permanent = flufl.bounce.all_failures(msg)
    text = _readable_text(msg)
    failures = []
    for raw in sorted(permanent):
        address = raw.decode("ascii", "replace")
        reason = _reason_near(text, address)
        status = _STATUS.search(reason)
        reply = _SMTP_REPLY.search(reason)
        soft = (status.group(1) == "4") if status else bool(reply and reply.group(1) == "4")
        failures.append(Failure(address=address, hard=not soft, status=status.group(0) if status else "", reason=reason))
    return failures, len(temporary - permanent)


def _reason_near(text: str, address: str) -> str:
    """The server's words about one address: the line that names it and the lines that follow."""
    lines = [line.strip() for line in text.splitlines()]
    for i, line in enumerate(lines):
        if address.lower() in line.lower():
            tail = [part for part in lines[i : i + 4] if part]
            return " ".join(tail)[:500]
    return " ".join(part for part in lines if part)[:500]


def _is_spam(msg: Message) -> bool:
    return (
        _header(msg, "x-spam-flag").lower().startswith("yes")
        or _header(msg, "x-spam-status").lower().startswith("yes")
        or _header(msg, "x-spam").lower().startswith("yes")
    )


def _subject(msg: Message) -> str:
    raw = _header(msg, "subject")
    try:
        return str(make_header(decode_header(raw)))
    except (HeaderParseError, LookupError, UnicodeError):
        return raw


def _is_auto_reply(msg: Message) -> bool:
    """RFC 3834 auto-replies and the non-standard markers of out-of-office messages."""
    subject = _subject(msg)
    if _AUTO_REPLY_SUBJECT.search(subject):
        return True
    if _BOUNCE_SUBJECT.search(subject):
        return False  # Exim marks its own bounces auto-replied
    return bool(
        msg.get("x-autoreply")
        or msg.get("x-autorespond")
        or _header(msg, "precedence").lower() == "auto_reply"
        or _header(msg, "auto-submitted").lower().startswith("auto-replied")
    )


def _has_defects(msg: Message) -> bool:
    return any(part.defects for part in msg.walk())


def parse_report(raw: bytes, max_bytes: int = 1_048_576) -> Report:
    """Read one message of the bounce mailbox. Never raises for what a mailbox may contain."""
    if len(raw) > max_bytes:
        return _skip("too_large")
    try:
        msg = BytesParser(policy=policy.compat32).parsebytes(raw)
        return _read(msg)
    except Exception:  # noqa: BLE001 — the email package and heuristics meet arbitrary bytes: junk, not a crash
        return _skip("malformed")


def _read(msg: Message) -> Report:
    message_id = _header(msg, "message-id")
    if not msg.keys():
        return _skip("malformed", message_id)
    if _is_spam(msg):
        return _skip("spam", message_id)
    original = _original_headers(msg)
    complaint = _complaint(msg, original)
    if complaint is not None:
        complaint.message_id = message_id
        complaint.original = original
        complaint.envelope = _envelope(msg, original) + complaint.envelope
        return complaint
    dsn = _dsn_failures(msg)
    if dsn is None:
        if _has_defects(msg):
            return _skip("malformed", message_id)
        if _is_auto_reply(msg):
            return _skip("auto_reply", message_id)
        failures, delayed = _heuristic_failures(msg)
    else:
        failures, delayed = dsn
    if not failures:
        return _skip("delay_warning" if delayed else "not_a_bounce", message_id)
    return Report(
        kind="bounce", message_id=message_id, failures=failures, envelope=_envelope(msg, original), original=original
    )
