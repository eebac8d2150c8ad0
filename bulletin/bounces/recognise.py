"""The recogniser: layers read a message in order of trust, and never mark anybody on doubt.

1. Junk first: spam flags, ARF complaints (RFC 5965), then, for messages that are neither a delivery report nor
   from a mail system, challenge-responses and auto-replies in any language.
2. The delivery report (RFC 3464), read tolerantly: its per-recipient fields decide alone when it has them
   (failed, delayed, or delivered).
3. Otherwise, and only for a message from a mail system: delay warnings in any language are skipped; then the
   failed address comes from flufl.bounce's known formats, else from the server's words (an address next to
   a failure phrase or an SMTP code), else from the returned original's To or `Received: ... for` line, which
   counts only when the message is plainly a failure notice with a reason.

Whether a failure is hard comes from the report's Status, else a status code in the words near the address,
else a phrase of the tables (classed permanent or temporary), else the SMTP reply code. A failure with no
reason at all is soft: it counts toward `soft_limit`, it never marks at once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.message import Message
from email.utils import parseaddr

import flufl.bounce

from bulletin import i18n
from bulletin.bounces import evidence, phrases
from bulletin.bounces.parse import Failure, Kind, Report, Rule, Skip, skipped
from bulletin.bounces.reading import NOT_RECIPIENTS, Notice, addresses_in, field_address, header

# flufl.bounce logs a traceback for each message it cannot read; we say why in the report instead.
logging.getLogger("flufl.bounce").addHandler(logging.NullHandler())

#: ARF feedback types that are complaints; "not-spam" and DMARC's "auth-failure" are not.
COMPLAINT_TYPES = {"abuse", "fraud", "virus", "other"}
#: How far around an address its reason is looked for, in characters of the server's words.
WINDOW = 300
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"[A-Za-z0-9.!#$%&*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+")
# Lines that quote the original's sender, not a recipient: an address there is never a failure.
_SENDER_LINE = re.compile(r"^\s*(from|sender|reply-to|return-path|de|von|expéditeur|remitente|remetente|da|van)\s*:",
                          re.IGNORECASE)
_RECEIVED_FOR = re.compile(r"\bfor\s+<?([^\s<>;]+@[^\s<>;]+?)>?\s*;", re.IGNORECASE)


def recognise(msg: Message) -> Report:
    notice = Notice(msg)
    message_id = notice.message_id
    if not msg.keys():
        return skipped(Skip.MALFORMED, i18n.Message("bounces.explain.malformed.no_headers"), message_id)
    spam = _spam_flag(msg)
    if spam:
        return skipped(Skip.SPAM, i18n.Message("bounces.explain.spam", header=spam[0], value=spam[1]), message_id)
    complaint = _complaint(notice)
    if complaint is not None:
        complaint.message_id = message_id
        complaint.original = notice.original
        complaint.envelope = notice.envelope + complaint.envelope
        return complaint
    report = _read_report(notice)
    report.message_id = message_id
    if report.kind == Kind.BOUNCE:
        report.envelope = notice.envelope
        report.original = notice.original
    return report


def _spam_flag(msg: Message) -> tuple[str, str] | None:
    for name in ("X-Spam-Flag", "X-Spam-Status", "X-Spam"):
        value = header(msg, name)
        if value.lower().startswith("yes"):
            return name, value[:80]
    return None


def _complaint(notice: Notice) -> Report | None:
    """RFC 5965 (ARF): who complained, from the feedback report and the returned original."""
    parts = [p for p in notice.msg.walk() if p.get_content_type() == "message/feedback-report"]
    if not parts:
        return None
    blocks = notice.field_blocks(parts[0])
    fields = blocks[0] if blocks else Message()
    feedback_type = header(fields, "feedback-type").lower()
    if feedback_type not in COMPLAINT_TYPES:
        why = i18n.Message("bounces.explain.not_a_complaint", type=feedback_type or "-")
        return skipped(Skip.NOT_A_COMPLAINT, why)
    recipient = field_address(header(fields, "original-rcpt-to"))
    if not recipient and notice.original is not None:
        recipient = parseaddr(header(notice.original, "to"))[1]
    named = ("feedback-type", "user-agent", "source-ip")
    reason = "; ".join(f"{name}: {header(fields, name)}" for name in named if header(fields, name))
    why = i18n.Message("bounces.explain.complaint", address=recipient or "-", type=feedback_type)
    report = Report(Kind.COMPLAINT, failures=[Failure(recipient, True, reason=reason, rule=Rule.ARF, why=why)])
    report.trace.append(why)
    mail_from = field_address(header(fields, "original-mail-from"))
    if mail_from:
        report.envelope.append(mail_from)
    return report


def _read_report(notice: Notice) -> Report:
    trace: list[i18n.Message] = []
    dsn = _from_delivery_report(notice, trace)
    if dsn is not None:
        return dsn
    from_system = notice.mail_system
    if not (notice.has_report or from_system):
        return _not_from_a_mail_system(notice, trace)
    trace.append(i18n.Message("bounces.explain.sender", why=from_system or "multipart/report"))
    challenge = None if notice.has_report else phrases.tables().first(notice.folded_words, "challenge")
    if challenge is not None:
        p = challenge.phrase
        return skipped(Skip.CHALLENGE, i18n.Message("bounces.explain.challenge", words=p.text, language=p.language),
                       trace=trace)
    delay = _delay_warning(notice)
    if delay is not None:
        return skipped(Skip.DELAY_WARNING, delay, trace=trace)
    known = _from_flufl(notice, trace)
    if isinstance(known, i18n.Message):
        return skipped(Skip.DELAY_WARNING, known, trace=trace)
    failures = known or _from_words(notice) or _from_returned_headers(notice, trace)
    if failures:
        return Report(Kind.BOUNCE, failures=failures, trace=trace + [f.why for f in failures if f.why is not None])
    if notice.defects:
        return _malformed(notice, trace)
    if notice.problems:
        # Unreadable for flufl.bounce or for us, and nothing else found: junk, with its named reason.
        problem = "; ".join(notice.problems)
        return skipped(Skip.MALFORMED, i18n.Message("bounces.explain.malformed.unreadable", problem=problem),
                       trace=trace)
    return skipped(Skip.NOT_A_BOUNCE, i18n.Message("bounces.explain.not_a_bounce.no_address"), trace=trace)


def _malformed(notice: Notice, trace: list[i18n.Message]) -> Report:
    why = i18n.Message("bounces.explain.malformed.defects", defects=", ".join(notice.defects))
    return skipped(Skip.MALFORMED, why, trace=trace)


# --- 1. junk that is no bounce at all -------------------------------------------------------------------------

def _not_from_a_mail_system(notice: Notice, trace: list[i18n.Message]) -> Report:
    """A person, an autoresponder or a newsletter wrote this: bounce words in it never mark anybody."""
    if notice.defects:
        return _malformed(notice, trace)
    tables = phrases.tables()
    words = notice.folded_words
    challenge = tables.first(words, "challenge")
    if challenge is not None:
        p = challenge.phrase
        return skipped(Skip.CHALLENGE, i18n.Message("bounces.explain.challenge", words=p.text, language=p.language),
                       trace=trace)
    auto = _auto_reply(notice)
    if auto is not None:
        return skipped(Skip.AUTO_REPLY, auto, trace=trace)
    sender = notice.sender[1] or notice.sender[0] or "-"
    return skipped(Skip.NOT_A_BOUNCE, i18n.Message("bounces.explain.not_a_bounce.person", sender=sender), trace=trace)


def _auto_reply(notice: Notice) -> i18n.Message | None:
    """RFC 3834 and the non-standard markers of out-of-office replies, then their words in any language."""
    msg = notice.msg
    for name in ("X-Autoreply", "X-Autorespond"):
        if msg.get(name) is not None:
            return i18n.Message("bounces.explain.auto_reply.header", header=name, value=header(msg, name)[:80])
    precedence = header(msg, "precedence").lower()
    if precedence == "auto_reply":
        return i18n.Message("bounces.explain.auto_reply.header", header="Precedence", value=precedence)
    submitted = header(msg, "auto-submitted")
    if submitted.lower().startswith("auto-replied"):
        return i18n.Message("bounces.explain.auto_reply.header", header="Auto-Submitted", value=submitted[:80])
    tables = phrases.tables()
    subject = tables.first(phrases.fold(notice.subject), "auto_reply", subject=True)
    if subject is not None:
        return i18n.Message("bounces.explain.auto_reply.subject", words=subject.phrase.text)
    words = tables.first(notice.folded_words, "auto_reply")
    if words is not None:
        p = words.phrase
        return i18n.Message("bounces.explain.auto_reply.words", words=p.text, language=p.language)
    return None


# --- 2. the delivery report -----------------------------------------------------------------------------------

def _from_delivery_report(notice: Notice, trace: list[i18n.Message]) -> Report | None:
    """RFC 3464's per-recipient fields, wherever a server put them. None when the report has none to read."""
    blocks = [b for b in notice.report_blocks if "@" in _recipient(b)]
    if not blocks:
        if notice.has_report:
            trace.append(i18n.Message("bounces.explain.report_without_recipients"))
        return None
    failures: list[Failure] = []
    delayed: list[str] = []
    other: list[tuple[str, str]] = []
    for block in blocks:
        recipient = _recipient(block)
        action = header(block, "action").lower()
        status_field = header(block, "status")
        code = evidence.STATUS.search(status_field)
        if action.startswith("delayed"):
            delayed.append(recipient)
            continue
        failed = action.startswith(("fail", "error")) or (not action and code is not None and code.group(1) != "2")
        if not failed:
            other.append((recipient, action or status_field or "-"))
            continue
        diagnostic = header(block, "diagnostic-code") or header(block, "x-postfix-diagnostic")
        near = None
        if code is not None:
            found = evidence.from_status(code.group(0))
        else:
            found = evidence.best(diagnostic)
            if found is None:
                near = _evidence_for(notice, recipient)
                found = near.evidence if near is not None else None
        found = _graded(found)
        hard = found.hard if found is not None else True  # "Action: failed" is permanent by RFC 3464
        reason = diagnostic or _reason_lines(notice.words, near.at if near else -1, found)
        why = _why(i18n.Message("bounces.explain.found.dsn", address=recipient), found, hard, default="dsn_failed")
        failures.append(Failure(recipient, hard, found.status if found else "", reason, Rule.DSN, why))
    if failures:
        return Report(Kind.BOUNCE, failures=failures, trace=trace + [f.why for f in failures])
    if delayed:
        why = i18n.Message("bounces.explain.delay.report", address=", ".join(delayed))
        return skipped(Skip.DELAY_WARNING, why, trace=trace)
    recipient, action = other[0]
    why = i18n.Message("bounces.explain.not_a_bounce.delivered", address=recipient, action=action)
    return skipped(Skip.NOT_A_BOUNCE, why, trace=trace)


def _recipient(block: Message) -> str:
    value = field_address(header(block, "original-recipient") or header(block, "final-recipient"))
    if "@" not in value:
        value = field_address(header(block, "final-recipient"))
    return value


# --- 3. a mail system's words ---------------------------------------------------------------------------------

def _delay_warning(notice: Notice) -> i18n.Message | None:
    """A warning that the server is still trying, in any language of the tables: it marks nobody."""
    tables = phrases.tables()
    subject = tables.first(phrases.fold(notice.subject), "delay", subject=True)
    words = tables.first(notice.folded_words, "delay")
    if words is not None:
        p = words.phrase
        return i18n.Message("bounces.explain.delay.words", words=p.text, language=p.language)
    if subject is not None and tables.first(notice.folded_words, "permanent") is None:
        return i18n.Message("bounces.explain.delay.subject", words=subject.phrase.text)
    return None


def _from_flufl(notice: Notice, trace: list[i18n.Message]) -> list[Failure] | i18n.Message | None:
    """The plain-text formats flufl.bounce knows (qmail, Exim, old Postfix, Yahoo, Netscape, ...), as Mailman
    reads them; the words of a delay warning when it reads one; None when it failed on this message (malformed
    headers or parts)."""
    try:
        temporary, permanent = flufl.bounce.all_failures(notice.msg)
    except (IndexError, TypeError, AttributeError, UnicodeError, LookupError, ValueError) as e:
        # Its detectors index and decode headers without checks: malformed input raises these.
        error = f"{type(e).__name__}: {e}"[:200]
        trace.append(i18n.Message("bounces.explain.malformed.flufl", error=error))
        notice.problems.append(f"flufl.bounce: {error}")
        return None
    if temporary and not permanent:
        listed = ", ".join(sorted(a.decode("ascii", "replace") for a in temporary))
        return i18n.Message("bounces.explain.delay.flufl", address=listed)
    failures = []
    for raw in sorted(permanent):
        address = raw.decode("ascii", "replace")
        if address.lower() in notice.own_addresses:
            continue
        near = _evidence_for(notice, address)
        graded = _graded(near.evidence) if near is not None else None
        hard = graded.hard if graded is not None else True  # flufl.bounce reports it as a permanent failure
        why = _why(i18n.Message("bounces.explain.found.flufl", address=address), graded, hard, default="flufl")
        at = near.at if near is not None else _first_place(notice.words, address)
        reason = _reason_lines(notice.words, at, graded)
        failures.append(Failure(address, hard, graded.status if graded else "", reason, Rule.FLUFL, why))
    return failures


def _from_words(notice: Notice) -> list[Failure]:
    """Addresses the server's words name next to a failure: a status code, a reply code, or a phrase."""
    failures = []
    for address in _candidates(notice):
        near = _evidence_for(notice, address, local_only=True)
        if near is None:
            continue
        graded = _graded(near.evidence) or _graded(evidence.best(notice.words))
        hard = graded.hard if graded is not None else False  # a failure with no reason: soft, never on doubt
        found = i18n.Message("bounces.explain.found.text", address=address, words=near.evidence.words)
        why = _why(found, graded, hard, default="doubt")
        reason = _reason_lines(notice.words, near.at, near.evidence)
        failures.append(Failure(address, hard, graded.status if graded else "", reason, Rule.TEXT, why))
    return failures


def _from_returned_headers(notice: Notice, trace: list[i18n.Message]) -> list[Failure]:
    """The recipient of the returned original, when the server's words name none: only for a message that is
    plainly a failure notice (from a mail system, with failure words) and says why it failed."""
    original = notice.original
    if original is None:
        return []
    tables = phrases.tables()
    failure_words = (tables.first(phrases.fold(notice.subject), "failure", subject=True)
                     or tables.first(notice.folded_words, "failure"))
    found = _graded(evidence.best(notice.words))
    if failure_words is None or found is None:
        trace.append(i18n.Message("bounces.explain.returned_headers.doubt"))
        return []
    theirs = [a for a in addresses_in(original, "to") if a.lower() not in notice.own_addresses]
    rule, key = Rule.RETURNED_HEADERS, "bounces.explain.found.returned_headers"
    if len(set(a.lower() for a in theirs)) != 1:
        lines = [str(value) for value in original.get_all("received", [])]
        received = [m.group(1) for line in lines for m in _RECEIVED_FOR.finditer(line)]
        theirs = [a for a in received if a.lower() not in notice.own_addresses]
        rule, key = Rule.RECEIVED_FOR, "bounces.explain.found.received_for"
    if len(set(a.lower() for a in theirs)) != 1:
        trace.append(i18n.Message("bounces.explain.returned_headers.ambiguous"))
        return []
    address = theirs[0]
    why = _why(i18n.Message(key, address=address), found, found.hard, default="doubt")
    return [Failure(address, found.hard, found.status, _evidence_lines(notice.words), rule, why)]


# --- reading the words around an address ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Window:
    """The words after and before one place an address is named, up to the places around it that name one."""

    at: int
    after: str
    before: str


@dataclass(frozen=True)
class _Found:
    evidence: evidence.Evidence
    at: int  # where the address is named, next to this evidence


def _candidates(notice: Notice) -> list[str]:
    """Addresses in the server's words that may be a failed recipient: not the report's or the sender's own,
    not a mail system's, not on a line that quotes the original's sender."""
    seen: dict[str, str] = {}
    for line in notice.words.split("\n"):
        if _SENDER_LINE.match(line):
            continue
        for m in _ADDRESS.finditer(line):
            address = m.group(0).rstrip(".")
            key = address.lower()
            if key in notice.own_addresses or key.partition("@")[0] in NOT_RECIPIENTS:
                continue
            seen.setdefault(key, address)
    return list(seen.values())


def _windows(words: str, address: str) -> list[_Window]:
    """Each place an address is named, with the words after and before it up to the neighbouring places
    that name an address (this one again or another), at most WINDOW characters each way."""
    target = address.lower()
    places = [(m.start(), m.end(), m.group(0).rstrip(".").lower() == target) for m in _ADDRESS.finditer(words)]
    windows = []
    for i, (start, end, mine) in enumerate(places):
        if not mine:
            continue
        after_end = places[i + 1][0] if i + 1 < len(places) else len(words)
        before_start = places[i - 1][1] if i > 0 else 0
        windows.append(_Window(start, words[end : min(after_end, end + WINDOW)],
                               words[max(before_start, start - WINDOW) : start]))
    return windows


def _evidence_for(notice: Notice, address: str, *, local_only: bool = False) -> _Found | None:
    """The strongest evidence next to a place the address is named (a status code before a phrase before a
    reply code before a bare failure phrase; after the address before before it), else, unless `local_only`,
    in the whole of the server's words."""
    windows = _windows(notice.words, address)
    for rank in evidence.RANKS:
        for window in windows:
            for text, last in ((window.after, False), (window.before, True)):
                found = evidence.find(text, rank, last=last)
                if found is not None:
                    return _Found(evidence.refine(found, text), window.at)
    if local_only:
        return None
    found = evidence.best(notice.words)
    return _Found(found, windows[0].at if windows else -1) if found is not None else None


def _first_place(words: str, address: str) -> int:
    return words.lower().find(address.lower())


def _graded(found: evidence.Evidence | None) -> evidence.Evidence | None:
    """Evidence that says hard or soft; a bare failure phrase does not."""
    return found if found is not None and found.hard is not None else None


def _reason_lines(words: str, at: int, found: evidence.Evidence | None) -> str:
    """The server's words about one address: from the line that names it to the line that gives its reason,
    or, when the reason comes first, from the start of its paragraph."""
    if at < 0:
        return _evidence_lines(words)
    lines = words.split("\n")
    i = words.count("\n", 0, at)
    start = i
    while start > 0 and i - start < 5 and lines[start - 1].strip():
        start -= 1  # the paragraph that names the address
    span = (i, min(len(lines), i + 4))
    if found is not None:
        after = next((j for j in range(i, min(len(lines), i + 8)) if _says(lines[j], found)), None)
        if after is not None:
            span = (i, max(after + 1, min(len(lines), i + 2)))
        elif any(_says(lines[j], found) for j in range(max(0, i - 5), i)):
            span = (min(start, next(j for j in range(max(0, i - 5), i) if _says(lines[j], found))), i + 1)
    return " ".join(line.strip() for line in lines[span[0] : span[1]] if line.strip())[:500]


def _says(line: str, found: evidence.Evidence) -> bool:
    if found.rank in ("code", "reply", "report"):
        return found.words in line
    return phrases.fold(found.words) in phrases.fold(line)


def _evidence_lines(words: str) -> str:
    """The first lines of the server's words that say something failed, and why."""
    lines = [line.strip() for line in words.split("\n") if line.strip() and _has_evidence(line)]
    return " ".join(lines[:4])[:500]


def _has_evidence(line: str) -> bool:
    return any(evidence.find(line, rank) is not None for rank in evidence.RANKS)


def _why(found_text: i18n.Message, graded: evidence.Evidence | None, hard: bool, *, default: str) -> i18n.Message:
    """One line of the explanation: where the address was found, how it was classed, and the outcome."""
    if graded is None:
        classed = i18n.Message(f"bounces.explain.class.{default}")
    elif graded.rank == "report":
        classed = i18n.Message("bounces.explain.class.report", status=graded.status)
    elif graded.rank == "code":
        classed = i18n.Message("bounces.explain.class.code", status=graded.status)
    elif graded.rank == "reply":
        classed = i18n.Message("bounces.explain.class.reply", reply=graded.words, status=graded.status)
    else:
        classed = i18n.Message("bounces.explain.class.phrase", words=graded.words, language=graded.language,
                       status=graded.status)
    outcome = i18n.Message("bounces.explain.hard" if hard else "bounces.explain.soft")
    return i18n.Message("bounces.explain.failure", found=found_text, classed=classed, outcome=outcome)
