"""The bounce side of a send's figures: hard and soft bounces, complaints and the commonest bounce reasons.

Counted per subscriber, not per message: a subscriber whose mail bounced soft, then hard, is one hard bounce,
so that hard + soft is the number of recipients whose mail came back. The database counts (store/bounces.py);
this module names the reasons.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

from bulletin.states import EventKind
from bulletin.store import bounces as store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

TOP_REASONS = 5
_STATUS = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")

#: RFC 3463 status codes, in the words an admin reads in a report.
STATUS_WORDS = {
    "5.0.0": "permanent failure",
    "5.1.0": "bad address",
    "5.1.1": "mailbox does not exist",
    "5.1.2": "domain does not exist",
    "5.1.3": "bad address syntax",
    "5.1.6": "mailbox has moved",
    "5.1.10": "recipient not found",
    "5.2.0": "mailbox unavailable",
    "5.2.1": "mailbox disabled",
    "5.2.2": "mailbox full",
    "5.2.3": "message too large",
    "5.4.1": "no answer from host",
    "5.4.4": "unable to route",
    "5.7.0": "refused for security reasons",
    "5.7.1": "refused by the recipient's policy",
    "5.7.26": "refused: sender authentication failed (SPF/DKIM/DMARC)",
    "4.2.2": "mailbox full",
    "4.4.1": "no answer from host",
    "4.4.7": "delivery time expired",
    "4.7.0": "temporarily refused (greylisting or rate limit)",
}


def reason_label(detail: str) -> str:
    """What a bounce's raw reason is grouped under: its status code and words, else its first words."""
    m = _STATUS.match(detail.strip())
    if m:
        code = m.group(1)
        words = STATUS_WORDS.get(code) or STATUS_WORDS.get(code[:1] + ".0.0", "temporary failure")
        return f"{code} {words}"
    return " ".join(detail.split())[:80] or "no reason given"


def bounce_figures(session: Session, send_id: int) -> dict:
    """bounced_hard, bounced_soft and complaints (subscribers), and the top bounce reasons of one send."""
    counts = store.bounce_counts(session, send_id)
    reasons: Counter[str] = Counter()
    for detail, n in store.bounce_details(session, send_id):
        reasons[reason_label(detail)] += n
    top = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[:TOP_REASONS]
    return {
        "bounced_hard": counts[EventKind.BOUNCE_HARD],
        "bounced_soft": counts[EventKind.BOUNCE_SOFT],
        "complaints": counts[EventKind.COMPLAINT],
        "bounce_reasons": [{"reason": r, "count": n} for r, n in top],
    }
