"""Exporting a list as a CSV that spreadsheets open safely and `subscribers import` reads back to the same state
(unsubscribes included, so a re-import keeps them out).

Spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return as a formula, and anyone
can put one in a name through the public subscribe form: such cells are written with a leading apostrophe, which
spreadsheets show as text and the importer removes (OWASP, "CSV Injection"). The delimiter is the one the
organisation's spreadsheets expect: French Excel splits on semicolons, English Excel on commas; both need the BOM
to read UTF-8. A person's attributes are columns, the most common first, and each row stops after its last value:
fifty people with ten thousand attributes do not give everyone else ten thousand empty cells.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from bulletin.errors import BulletinError
from bulletin.files import atomic_write
from bulletin.i18n import Message
from bulletin.states import SubscriberStatus
from bulletin.store.csvfile import neutralise
from bulletin.store.models import MailingList, Subscriber, Subscription

COLUMNS = ["email", "name", "language", "status", "subscriber_status"]
FETCH = 2000
#: The delimiters an export may use (the importer recognises each).
DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class CsvFormat:
    """How an export is written: its delimiter, and whether it starts with a UTF-8 BOM."""

    delimiter: str = ","
    bom: bool = True


#: Per organisation language: what its spreadsheets open with a double-click.
FORMATS = {"fr": CsvFormat(";"), "en": CsvFormat(",")}


def csv_format(language: str, delimiter: str | None = None) -> CsvFormat:
    """The format for an organisation speaking `language`, with `delimiter` instead of its own when given."""
    base = FORMATS.get(language.split("-")[0].lower(), CsvFormat())
    if delimiter is None:
        return base
    if delimiter not in DELIMITERS:
        raise BulletinError(Message("export.delimiter", value=repr(delimiter),
                                    known=", ".join(repr(d) for d in DELIMITERS)), where="--delimiter")
    return CsvFormat(delimiter, base.bom)


def _rows(session: Session, ml: MailingList, *columns):
    query = (
        select(*columns)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        # An erased person has no address left to export: their row stays only for the counts.
        .where(Subscription.list_id == ml.id, Subscriber.status != SubscriberStatus.ERASED)
        .order_by(Subscriber.email_key)
        .execution_options(yield_per=FETCH)
    )
    return session.execute(query)


def attribute_columns(session: Session, ml: MailingList) -> list[str]:
    """The attributes that some exported row has, the most common first (then by name)."""
    counts: Counter[str] = Counter()
    for (attributes,) in _rows(session, ml, Subscriber.attributes):
        if attributes:
            counts.update(attributes.keys())
    for name in COLUMNS:
        counts.pop(name, None)
    return sorted(counts, key=lambda k: (-counts[k], k))


def export_subscribers(
    session: Session,
    ml: MailingList,
    out: BinaryIO,
    *,
    fmt: CsvFormat = CsvFormat(),
    raw: bool = False,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every subscription of `ml` to `out` (bytes: UTF-8, with a BOM if the format says so); returns the
    number of rows, in the format `fmt`. Formulas are neutralised unless `raw`. `progress(rows written)` every few thousand rows."""
    extra = attribute_columns(session, ml)
    position = {name: i for i, name in enumerate(extra)}
    cell = (lambda v: v) if raw else neutralise
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=fmt.delimiter, lineterminator="\r\n")
    if fmt.bom:
        out.write(b"\xef\xbb\xbf")
    writer.writerow([cell(c) for c in COLUMNS + extra])
    n = 0
    for r in _rows(session, ml, Subscriber.email, Subscriber.name, Subscriber.language, Subscription.status,
                   Subscriber.status.label("subscriber_status"), Subscriber.attributes):
        values = [r.email, r.name, r.language, r.status, r.subscriber_status]
        # The row's own attributes at their columns, and no cell after its last value: the cost is the row's.
        placed = [(position[k], str(v)) for k, v in (r.attributes or {}).items() if k in position and v != ""]
        if placed:
            cells = [""] * (max(i for i, _ in placed) + 1)
            for i, v in placed:
                cells[i] = v
            values += cells
        writer.writerow([cell(v or "") for v in values])
        n += 1
        if n % FETCH == 0:
            out.write(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()
            if progress:
                progress(n)
    out.write(buffer.getvalue().encode("utf-8"))
    return n


def export_to_file(session: Session, ml: MailingList, path: str | Path, **options) -> int:
    """`export_subscribers` into the file `path`, which appears only once complete (an existing one is replaced
    in one step; an error or a kill leaves it as it was, and nothing else behind)."""
    path = Path(path)
    if path.is_dir():
        raise BulletinError(Message("export.is_folder"), where=path)
    try:
        with atomic_write(path) as out:
            return export_subscribers(session, ml, out, **options)
    except FileNotFoundError:
        raise BulletinError(Message("export.no_folder"), where=path) from None
    except IsADirectoryError:
        raise BulletinError(Message("export.is_folder"), where=path) from None
    except OSError as e:
        raise BulletinError(Message("export.cannot_write", reason=e.strerror), where=path) from None
