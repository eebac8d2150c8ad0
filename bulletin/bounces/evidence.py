"""What a server's words say about one failed address: an RFC 3463 status code, an SMTP reply code, or a phrase
of the tables (phrases.py), and from that whether the failure is for good.

RFC 3463 says X.2.2 (mailbox full) is a persistent transient failure: it is soft whatever its first digit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bulletin.bounces import phrases

#: An RFC 3463 enhanced status code (5.1.1, 4.2.2, 5.1.10), not part of an IP address or a version number.
STATUS = re.compile(r"(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?![\w]|\.\d)")
#: An SMTP reply code of a failure (550, 452), as servers quote it: `550 5.1.1`, `550-5.1.1`, `554: ...`.
REPLY = re.compile(r"(?<![^\s(\[\"'#;:])([45][0-5]\d)(?=[ \-:]|$)", re.MULTILINE)

#: How strong a piece of evidence is, strongest first: a status code, a phrase that says what is wrong, an SMTP
#: reply code, a phrase that only says the failure is permanent or temporary, a phrase that only says it failed.
RANKS = ("code", "phrase", "reply", "general", "failure")


@dataclass(frozen=True)
class Evidence:
    """Why a failure is read as hard or soft: what was found, where, and the status it gives."""

    rank: str  # one of RANKS, or "report" for a DSN Status field
    words: str  # the code or phrase as written
    status: str = ""
    hard: bool | None = None  # None: a failure, without saying whether for good
    language: str = ""


def status_is_hard(status: str) -> bool:
    return status.startswith("5") and not _mailbox_full(status)


def _mailbox_full(status: str) -> bool:
    return status[2:] == "2.2"


def from_status(status: str, rank: str = "report") -> Evidence:
    return Evidence(rank, status, status, status_is_hard(status))


def find(text: str, rank: str, *, last: bool = False) -> Evidence | None:
    """The first (or last) evidence of one rank in a piece of the server's words."""
    if rank == "code":
        found = list(STATUS.finditer(text))
        if not found:
            return None
        m = found[-1] if last else found[0]
        return Evidence("code", m.group(0), m.group(0), status_is_hard(m.group(0)))
    if rank == "reply":
        found = list(REPLY.finditer(text))
        if not found:
            return None
        m = found[-1] if last else found[0]
        return _from_reply(m.group(1))
    folded = phrases.fold(text)
    tables = phrases.tables()
    if rank in ("phrase", "general"):
        general = rank == "general"
        matches = sorted(
            (m for m in tables.find(folded, "permanent") + tables.find(folded, "temporary")
             if m.phrase.status.endswith(".0.0") == general),
            key=lambda m: m.start,
        )
        if not matches:
            return None
        match = matches[-1] if last else matches[0]
        p = match.phrase
        said = Evidence(rank, p.text, p.status, status_is_hard(p.status), p.language)
        # When a reply code in the same words disagrees with the phrase, the softer of the two is believed:
        # "452 user unknown" and "552 mailbox full" are both soft. Never hard on doubt.
        reply = find(text, "reply")
        if reply is not None and reply.hard != said.hard:
            return said if not said.hard else reply
        return said
    if rank == "failure":
        match = tables.first(folded, "failure")
        if match is None:
            return None
        return Evidence("failure", match.phrase.text, language=match.phrase.language)
    raise ValueError(rank)


def _from_reply(reply: str) -> Evidence:
    return Evidence("reply", reply, f"{reply[0]}.0.0", reply[0] == "5")


def refine(evidence: Evidence, text: str) -> Evidence:
    """A reply code alone gives only a class (5.0.0): a phrase of the same class next to it tells more."""
    if evidence.rank != "reply":
        return evidence
    phrase = find(text, "phrase")
    if phrase is not None and phrase.rank == "phrase" and phrase.hard == evidence.hard:
        return phrase
    return evidence


def best(text: str) -> Evidence | None:
    """The strongest evidence in some words: a status code, else a phrase, else a reply code, else a failure."""
    for rank in RANKS:
        found = find(text, rank)
        if found is not None:
            return refine(found, text)
    return None
