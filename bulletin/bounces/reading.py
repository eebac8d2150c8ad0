"""What one message of the bounce mailbox holds, read once: the server's own words, its delivery report, the
returned original, who sent it. The recognisers (recognise.py) only look; nothing here decides anything.

Everything here meets arbitrary bytes: unknown charsets, broken base64 and missing parts fall back to something
readable instead of raising, and what could not be read is said in `problems`.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr
from functools import cached_property
from html.parser import HTMLParser

from bulletin.bounces import phrases

#: The headers a receiving server writes the envelope recipient into: the VERP return path sits there.
ENVELOPE_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "x-rcpt-to", "to")
#: Local parts of mail systems: a sign the message comes from a server, and never a failed recipient.
DAEMONS = frozenset({
    "mailer-daemon", "mailer_daemon", "mailerdaemon", "mail-daemon", "maildaemon", "postmaster", "mdaemon",
})
#: Local parts that are never a failed recipient of a newsletter either.
NOT_RECIPIENTS = DAEMONS | {"abuse", "hostmaster", "webmaster", "noreply", "no-reply", "root"}
_ORIGINAL_TYPES = ("message/rfc822", "message/rfc822-headers", "text/rfc822-headers")
_QUOTED_SEND = re.compile(r"^X-Bulletin-Send:[ \t]*\d+", re.MULTILINE | re.IGNORECASE)
# Headers that start a quoted message in a plain-text bounce (two in a row, at the start of a line).
_HEADER_LINE = re.compile(
    r"^(return-path|received|from|to|cc|subject|date|message-id|mime-version|content-type|reply-to|sender|"
    r"dkim-signature|list-id|x-[\w-]+):",
    re.IGNORECASE,
)
_SPACES = re.compile(r"[ \t]+")


def header(msg: Message, name: str) -> str:
    """A header's value on one line ('' when absent). 8-bit values (UTF-8 or Windows-1252 diagnostics in a
    delivery report) are decoded, not replaced by question marks."""
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            if isinstance(value, str) and any("\udc80" <= c <= "\udcff" for c in value):
                value = _eight_bit(value.encode("ascii", "surrogateescape"))
            return " ".join(str(value).split())
    return ""


def _eight_bit(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeError:
        return raw.decode("cp1252", "replace")


def decoded_header(msg: Message, name: str) -> str:
    """A header with its RFC 2047 words decoded, as a person reads it."""
    raw = header(msg, name)
    try:
        return str(make_header(decode_header(raw)))
    except (HeaderParseError, LookupError, UnicodeError):
        return raw


def field_address(field_value: str) -> str:
    """`rfc822; user@example.org` (DSN and ARF recipient fields) or a plain address, without brackets."""
    _type, sep, rest = field_value.partition(";")
    value = rest if sep else field_value
    return parseaddr(value.strip())[1] or value.strip().strip("<>")


def addresses_in(msg: Message, *names: str) -> list[str]:
    found = []
    for name in names:
        values = [str(v) for v in msg.get_all(name, [])]
        found += [a for _n, a in getaddresses(values) if "@" in a]
    return found


def part_text(part: Message) -> str:
    """A leaf part's text: its declared charset, else UTF-8, else Windows-1252 (what old French servers wrote)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    for charset in (part.get_content_charset(), "utf-8", "cp1252"):
        if not charset:
            continue
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeError):
            continue
    return payload.decode("latin-1")


class _TextOfHtml(HTMLParser):
    """The words of an HTML part, one block per line (bounces that come as HTML only, as Office 365 may send)."""

    _BLOCKS = {"p", "br", "div", "tr", "li", "h1", "h2", "h3", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script", "head"):
            self._skip += 1
        elif tag in self._BLOCKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag):
        if tag in ("style", "script", "head"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCKS:
            self.chunks.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.chunks.append(data)


def html_text(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    return "".join(parser.chunks)


def leaves(msg: Message) -> Iterator[Message]:
    """The parts of a message in order, without going inside a returned message/rfc822 (its words are ours)."""
    if msg.is_multipart() and msg.get_content_type() not in _ORIGINAL_TYPES:
        for sub in msg.get_payload():
            if isinstance(sub, Message):
                yield from leaves(sub)
    else:
        yield msg


@dataclass
class Notice:
    """One message of the bounce mailbox, and what any recogniser may want to know of it."""

    msg: Message
    problems: list[str] = field(default_factory=list)

    @cached_property
    def message_id(self) -> str:
        return header(self.msg, "message-id")

    @cached_property
    def subject(self) -> str:
        return decoded_header(self.msg, "subject")

    @cached_property
    def sender(self) -> tuple[str, str]:
        """(display name, address) of From."""
        name, addr = parseaddr(decoded_header(self.msg, "from"))
        return name, addr

    @cached_property
    def has_report(self) -> bool:
        """A multipart/report of delivery status, or any message/delivery-status part."""
        report_type = str(self.msg.get_param("report-type", "") or "").lower()
        if self.msg.get_content_type() == "multipart/report" and report_type == "delivery-status":
            return True
        return any(p.get_content_type() == "message/delivery-status" for p in self.msg.walk())

    @cached_property
    def mail_system(self) -> str:
        """Why this message comes from a mail system and not a person ('' when nothing says so)."""
        return_path = header(self.msg, "return-path")
        if return_path == "<>" or field_address(return_path).partition("@")[0].lower() in DAEMONS:
            return f"Return-Path: {return_path}"
        name, addr = self.sender
        local = addr.partition("@")[0].lower()
        if local in DAEMONS or local.startswith("microsoftexchange"):
            return f"From: {addr}"
        if name:
            match = phrases.tables().first(phrases.fold(name), "sender")
            if match:
                return f"From: {name}"
        for marker in ("x-failed-recipients", "x-ms-exchange-message-is-ndr"):
            if self.msg.get(marker) is not None:
                return marker.title()
        return ""

    @cached_property
    def _text_and_quote(self) -> tuple[str, str]:
        """The server's words (text parts before the returned original), and what a plain-text bounce quotes."""
        plain: list[str] = []
        html: list[str] = []
        for part in leaves(self.msg):
            ctype = part.get_content_type()
            if ctype in _ORIGINAL_TYPES:
                break
            if ctype == "text/plain":
                plain.append(part_text(part))
            elif ctype == "text/html":
                html.append(html_text(part_text(part)))
        text = "\n".join(plain or html).replace("\r\n", "\n").replace("\r", "\n")
        cut = _quote_start(text)
        return text[:cut], text[cut:]

    @cached_property
    def words(self) -> str:
        """What the reporting server wrote, without the message it returns."""
        return self._text_and_quote[0]

    @cached_property
    def folded_words(self) -> str:
        return phrases.fold(self.words)

    @cached_property
    def original(self) -> Message | None:
        """The headers of the message that bounced: an attached message/rfc822 or text/rfc822-headers part, or
        the header block a plain-text bounce quotes after its own words."""
        for part in self.msg.walk():
            ctype = part.get_content_type()
            if ctype in ("message/rfc822", "message/rfc822-headers"):
                payload = part.get_payload()
                if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                    return payload[0]
            if ctype == "text/rfc822-headers":
                return HeaderParser().parsestr(part_text(part))
        quote = self._text_and_quote[1]
        block = _header_block(quote)
        if block:
            return HeaderParser().parsestr(block)
        # Servers that quote the original without a marker: find Bulletin's own header in the text.
        text = "\n".join(part_text(p) for p in leaves(self.msg) if p.get_content_type() == "text/plain")
        m = _QUOTED_SEND.search(text)
        if m:
            cut = text.rfind("\n\n", 0, m.start())
            return HeaderParser().parsestr(text[cut + 2 if cut >= 0 else 0 :])
        return None

    @cached_property
    def envelope(self) -> list[str]:
        """Addresses the report was delivered to or names as the original sender: where a VERP token sits."""
        found = addresses_in(self.msg, *ENVELOPE_HEADERS)
        if self.original is not None:
            # The original's Return-Path is the VERP address itself when the returning server kept it.
            found += addresses_in(self.original, "return-path")
        return found

    @cached_property
    def own_addresses(self) -> frozenset[str]:
        """Addresses that are never a failed recipient: this report's own, and the sender's of the original."""
        mine = addresses_in(self.msg, "from", "to", "cc", "reply-to", "sender", "return-path", *ENVELOPE_HEADERS)
        if self.original is not None:
            mine += addresses_in(self.original, "from", "reply-to", "sender", "return-path")
        return frozenset(a.lower() for a in mine)

    @cached_property
    def report_blocks(self) -> list[Message]:
        """The field blocks of every message/delivery-status part, read tolerantly (see `field_blocks`)."""
        blocks: list[Message] = []
        for part in self.msg.walk():
            if part.get_content_type() == "message/delivery-status":
                blocks += self.field_blocks(part)
        return blocks

    def field_blocks(self, part: Message) -> list[Message]:
        """The field blocks of a message/delivery-status or message/feedback-report part, also when the part is
        base64 or quoted-printable (the email package then reads the encoded text as headers)."""
        payload = part.get_payload()
        encoding = header(part, "content-transfer-encoding").lower()
        if isinstance(payload, list):
            if encoding not in ("base64", "quoted-printable"):
                return [p for p in payload if isinstance(p, Message)]
            text = "\n".join(p.as_string() if p.keys() else str(p.get_payload()) for p in payload)
        else:
            text = payload if isinstance(payload, str) else ""
        if encoding == "base64":
            try:
                text = base64.b64decode(re.sub(r"\s+", "", text) + "==", validate=False).decode("utf-8", "replace")
            except (binascii.Error, ValueError) as e:
                self.problems.append(f"delivery-status part: bad base64 ({e})")
                return []
        elif encoding == "quoted-printable":
            text = quopri.decodestring(text.encode("ascii", "replace")).decode("utf-8", "replace")
        chunks = re.split(r"\r?\n\s*\r?\n", text.strip())
        return [HeaderParser().parsestr(c) for c in chunks if c.strip()]

    @cached_property
    def defects(self) -> list[str]:
        return sorted({type(d).__name__ for part in self.msg.walk() for d in part.defects})


def _quote_start(text: str) -> int:
    """Where a plain-text bounce starts quoting the returned message: a marker line in any language (see the
    `original` phrases), or a block of two header lines; the end of the text when there is neither."""
    tables = phrases.tables()
    lines = text.split("\n")
    offset = 0
    for i, line in enumerate(lines):
        if tables.first(phrases.fold(line), "original") is not None:
            return offset
        if _HEADER_LINE.match(line) and _next_is_header(lines, i):
            return offset
        offset += len(line) + 1
    return len(text)


def _next_is_header(lines: list[str], i: int) -> bool:
    for line in lines[i + 1 :]:
        if line[:1] in (" ", "\t"):
            continue  # a folded header line
        return bool(_HEADER_LINE.match(line))
    return False


def _header_block(quote: str) -> str:
    """The first header block of quoted text, after its marker line and blank lines ('' when none)."""
    lines = quote.split("\n")
    for i, line in enumerate(lines):
        if _HEADER_LINE.match(line):
            end = next((j for j in range(i, len(lines)) if not lines[j].strip()), len(lines))
            return "\n".join(lines[i:end]) + "\n"
    return ""
