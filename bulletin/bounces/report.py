"""The bounce side of a send's figures: hard and soft bounces, complaints and the commonest bounce reasons.

Counted per subscriber, not per message: a subscriber whose mail bounced soft, then hard, is one hard bounce,
so that hard + soft is the number of recipients whose mail came back. The database counts (store/bounces.py);
this module names the reasons.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

from bulletin import i18n
from bulletin.states import EventKind
from bulletin.store import bounces as store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

TOP_REASONS = 5
_STATUS = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")

def reason_label(detail: str, language: str | None = None) -> str:
    """What a bounce's raw reason is grouped under: its status code and its words (`bounce.status.CODE` in the
    catalogue, else those of its class), else its first words."""
    m = _STATUS.match(detail.strip())
    if m:
        code = m.group(1)
        t = i18n.catalogue(language or i18n.default_language())
        key = next(k for k in (f"bounce.status.{code}", f"bounce.status.{code[:1]}.0.0", "bounce.status.4.0.0")
                   if t.has(k))
        return f"{code} {t(key)}"
    return " ".join(detail.split())[:80] or i18n.catalogue(language or i18n.default_language())("bounce.status.none")


def bounce_figures(session: Session, send_id: int, language: str | None = None) -> dict:
    """bounced_hard, bounced_soft and complaints (subscribers), and the top bounce reasons of one send."""
    counts = store.bounce_counts(session, send_id)
    reasons: Counter[str] = Counter()
    for detail, n in store.bounce_details(session, send_id):
        reasons[reason_label(detail, language)] += n
    top = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[:TOP_REASONS]
    return {
        "bounced_hard": counts[EventKind.BOUNCE_HARD],
        "bounced_soft": counts[EventKind.BOUNCE_SOFT],
        "complaints": counts[EventKind.COMPLAINT],
        "bounce_reasons": [{"reason": r, "count": n} for r, n in top],
    }
