"""Header values as RFC 5322 and RFC 2047 want them, whatever a subscriber typed as their name.

Every line stays within 78 characters where it can be folded (998 at most, the hard limit: only an address longer
than a line could pass 78), and every encoded word within 75 characters, each holding whole UTF-8 characters.
A name that is not plain ASCII words, or that looks like an encoded word itself (`=?utf-8?q?...?=`, which lenient
readers would decode, CR and LF included), is sent as encoded words. The common case, a short name in plain
words, costs one regular-expression match: this runs once per recipient.
"""

from __future__ import annotations

import base64
import re

#: RFC 5322 2.1.1: lines SHOULD be no longer than 78 characters, excluding CRLF.
LINE = 78
#: RFC 2047 2: an encoded word is at most 75 characters.
WORD = 75
_PREFIX = "=?utf-8?b?"
_SUFFIX = "?="
_OVERHEAD = len(_PREFIX) + len(_SUFFIX)
FOLD = "\r\n "
#: A plain word longer than this is encoded instead, so that encoded words can be folded into short lines.
LONGEST_WORD = 70

#: Names sent as they are: atext words separated by single spaces (RFC 5322 3.2.3), nothing like "=?".
_PLAIN_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/^_`{|}~-]+)*")
#: Unstructured text sent as it is: printable ASCII without "=?", spaces anywhere.
_PLAIN_TEXT = re.compile(r"[\x20-\x7e]*")


def one_line(value: str) -> str:
    """Values from subscriber data never break a header or a line: CR and LF become spaces."""
    return value.replace("\r", " ").replace("\n", " ")


def encoded_words(text: str, first: int = WORD) -> list[str]:
    """`text` as base64 encoded words: the first at most `first` characters long, the others at most 75; no
    UTF-8 character is split between two words (RFC 2047 5)."""
    data = text.encode("utf-8")
    words = []
    room = first
    start = 0
    while start < len(data):
        size = max(4, (room - _OVERHEAD) // 4 * 3)  # bytes that base64 turns into at most room - overhead
        end = min(len(data), start + size)
        while end < len(data) and end > start + 1 and (data[end] & 0xC0) == 0x80:
            end -= 1  # a continuation byte: the character starts before, keep it whole for the next word
        words.append(_PREFIX + base64.b64encode(data[start:end]).decode("ascii") + _SUFFIX)
        start = end
        room = WORD
    return words


def fold(header: str, tokens: list[str]) -> str:
    """The tokens joined by spaces as the value of `header`, a token going to a new line (CRLF SP) when the line
    would pass 78 characters (counting `Header: `)."""
    lines = []
    line = ""
    used = len(header) + 2
    for token in tokens:
        if line and used + len(line) + 1 + len(token) > LINE:
            lines.append(line)
            line, used = token, 1
        else:
            line = f"{line} {token}" if line else token
    lines.append(line)
    return FOLD.join(lines)


def _first_room(header: str) -> int:
    return min(WORD, LINE - len(header) - 2)


def _plain(text: str) -> bool:
    """Plain words that need no quoting or encoding, each short enough to fold between them."""
    return _PLAIN_PHRASE.fullmatch(text) is not None and "=?" not in text and all(
        len(w) <= LONGEST_WORD for w in text.split(" "))


def phrase(header: str, name: str) -> list[str]:
    """A display name as tokens to fold: plain words as they are, anything else as encoded words."""
    return name.split(" ") if _plain(name) else encoded_words(name, _first_room(header))


def address(header: str, name: str, email: str) -> bytes:
    """The value of an address header, `Name <email>`, folded, the name encoded when it must be (the address
    itself is UTF-8 only for an SMTPUTF8 recipient, RFC 6532, and cannot be folded)."""
    name = one_line(name).strip()
    email = one_line(email).strip()
    if not name:
        return f"<{email}>".encode("utf-8")
    if len(header) + len(name) + len(email) + 5 <= LINE and _PLAIN_PHRASE.fullmatch(name) and "=?" not in name:
        return f"{name} <{email}>".encode("utf-8")  # the common case: plain words on one short line
    return fold(header, [*phrase(header, name), f"<{email}>"]).encode("utf-8")


def unstructured(header: str, value: str) -> bytes:
    """A Subject-like value (spaces around it dropped): plain ASCII folded at its spaces, anything else as encoded
    words."""
    value = one_line(value).strip()
    if _PLAIN_TEXT.fullmatch(value) and "=?" not in value:
        if len(header) + 2 + len(value) <= LINE:
            return value.encode("ascii")
        words = value.split(" ")
        if "" not in words and all(len(w) <= LONGEST_WORD for w in words):
            return fold(header, words).encode("ascii")
    return fold(header, encoded_words(value, _first_room(header))).encode("ascii")
