"""Exporting a list as a CSV that `subscribers import` reads back to the same state (unsubscribes included, so a
re-import keeps them out)."""

from __future__ import annotations

import csv
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from bulletin.store.models import MailingList, Subscriber, Subscription

COLUMNS = ["email", "name", "language", "status", "subscriber_status"]
FETCH = 2000


def _rows(session: Session, ml: MailingList, *columns):
    query = (
        select(*columns)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .where(Subscription.list_id == ml.id)
        .order_by(Subscriber.email_key)
        .execution_options(yield_per=FETCH)
    )
    return session.execute(query)


def export_subscribers(session: Session, ml: MailingList, out: TextIO) -> int:
    """Write every subscription of `ml` to `out` as CSV (the caller opens it, UTF-8 with a BOM for Excel);
    returns the number of rows. Attributes become columns after the fixed ones, sorted by name."""
    keys: set[str] = set()
    for (attributes,) in _rows(session, ml, Subscriber.attributes):
        keys.update(attributes or {})
    extra = sorted(keys - set(COLUMNS))
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS + extra)
    n = 0
    for r in _rows(session, ml, Subscriber.email, Subscriber.name, Subscriber.language, Subscription.status,
                   Subscriber.status.label("subscriber_status"), Subscriber.attributes):
        attrs = r.attributes or {}
        writer.writerow([r.email, r.name, r.language, r.status, r.subscriber_status,
                         *(attrs.get(k, "") for k in extra)])
        n += 1
    return n
