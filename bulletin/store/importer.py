"""Importing a subscriber CSV into a list: every good row kept, every bad row reported with its line, nobody
re-subscribed who left.

The file is streamed and written in batches (existing addresses looked up a batch at a time), inside the
caller's transaction: the caller commits the whole file or nothing. An import may stop mail to someone (a row
saying `unsubscribed`) but never starts it again for someone who unsubscribed, bounced or complained.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bulletin.errors import BulletinError
from bulletin.i18n import Message
from bulletin.store import bulk
from bulletin.store.csvfile import SubscriberFile
from bulletin.store.models import SOURCE_MAX, Event, MailingList, utcnow
from bulletin.store.rows import STOP_EVENTS, Row, RowRejected, cell, parse_row

BATCH = 1000


@dataclass
class RowNote:
    """One row worth telling the admin about: its physical line in the file, its address as written, and why
    (a catalogue message, shown in the reader's language; `reason` is it in the default language)."""

    line: int
    email: str
    why: Message | str

    @property
    def reason(self) -> str:
        return str(self.why)

    def text(self, language: str, fallback: str | None = None) -> str:
        return self.why.render(language, fallback) if isinstance(self.why, Message) else self.why


@dataclass
class ImportReport:
    """What an import did. Every data row is counted exactly once in `added`, `updated`, `unchanged`,
    `duplicates`, `not_resubscribed` or `rejected`."""

    path: str
    list_slug: str
    encoding: str = ""
    delimiter: str = ""
    dry_run: bool = False
    #: physical lines in the file: `header_lines` + `blank_lines` + the lines of the `rows`
    lines: int = 0
    #: lines above the header and the header itself
    header_lines: int = 0
    blank_lines: int = 0
    #: lines that continue a row's quoted value (a postal address over three lines takes two)
    continued_lines: int = 0
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    #: a later row for an address already in the file: merged into it, not doubled
    duplicates: list[RowNote] = field(default_factory=list)
    #: someone who unsubscribed, bounced or complained: left as they are
    not_resubscribed: list[RowNote] = field(default_factory=list)
    rejected: list[RowNote] = field(default_factory=list)
    #: rows taken with a change the admin should know of (an unknown language replaced by the default)
    warnings: list[RowNote] = field(default_factory=list)

    @property
    def lines_accounted(self) -> int:
        return self.header_lines + self.blank_lines + self.rows + self.continued_lines

    @property
    def accounted(self) -> int:
        return (self.added + self.updated + self.unchanged + len(self.duplicates) + len(self.not_resubscribed)
                + len(self.rejected))


class ImportRules(Protocol):
    """The consent decisions an import applies (services.consent implements them): the store does not decide
    who may be mailed, it applies what it is told row by row, in bulk."""

    def import_row(self, person, current, wanted, wanted_person, *, list_slug: str): ...

    def person_status(self, person, wanted): ...


class _Writer:
    """Applies batches of rows to one list, counting each in the report. With `apply` False (a dry run) it
    decides and counts the same and writes nothing but the temporary table of addresses met: a dry run on SQLite
    then holds no write lock, and other pages and the job's progress write meanwhile. `erased`: which of these
    addresses were erased at their owner's request (services.forgotten), never stored again."""

    def __init__(self, session: Session, ml: MailingList, default_language: str, source: str, report: ImportReport,
                 rules: ImportRules, *, apply: bool = True,
                 erased: Callable[[list[str]], set[str]] | None = None):
        self.rules = rules
        self.apply = apply
        self.erased = erased
        self.session = session
        self.conn = session.connection()
        self.ml = ml
        self.default_language = default_language
        self.source = source
        self.report = report

    def write(self, rows: list[Row]) -> None:
        if not rows:
            return
        merged: dict[str, Row] = {}
        later: list[Row] = []  # rows whose address came earlier in this batch
        for row in rows:
            if row.key in merged:
                merged[row.key].merge(row)
                later.append(row)
            else:
                merged[row.key] = row
        existing = {r.email_key: r for r in bulk.find_subscribers(self.conn, list(merged))}
        # Every address is looked up (not only those in the database): a dry run writes no one, and an erased
        # address is never written.
        first_line = bulk.seen_lines(self.conn, list(merged))
        first_in_file = {key: key not in first_line for key in merged}
        erased = self.erased([k for k in merged if k not in existing]) if self.erased else set()
        for key, row in merged.items():
            if first_in_file[key]:
                first_line[key] = row.line
            else:
                later.append(row)
        for row in sorted(later, key=lambda r: r.line):
            self.report.duplicates.append(
                RowNote(row.line, row.email, Message("import.duplicate", line=first_line[row.key]))
            )
        bulk.mark_seen(self.conn, [(key, first_line[key]) for key, first in first_in_file.items() if first])
        subscriptions = bulk.find_subscriptions(self.conn, self.ml.id, [r.id for r in existing.values()])
        now = utcnow()
        new_people: list[dict[str, Any]] = []
        new_people_status: dict[str, str] = {}
        people_updates: list[dict[str, Any]] = []
        new_subs: list[tuple[int, str]] = []
        sub_updates: list[tuple[int, str]] = []
        events: list[dict[str, Any]] = []

        for key, row in merged.items():
            counted = first_in_file[key]
            found = existing.get(key)
            if key in erased:
                if counted:
                    self.report.not_resubscribed.append(RowNote(row.line, row.email, Message(
                        "consent.import_cannot_readmit", how=Message("consent.person_left.erased"))))
                continue
            if found is None:
                new_people.append({
                    "email": row.email, "email_key": key, "name": row.name or "",
                    "language": row.language or self.default_language, "status": row.subscriber_status or "active",
                    "attributes": row.attributes,
                })
                new_people_status[key] = row.status or "subscribed"
                if counted:
                    self.report.added += 1
                continue
            current_sub = subscriptions.get(found.id)
            wants = row.status or "subscribed"
            decision = self.rules.import_row(found.status, current_sub, wants, row.subscriber_status,
                                          list_slug=self.ml.slug)
            if decision.refused is not None:
                if counted:
                    self.report.not_resubscribed.append(RowNote(row.line, row.email, decision.refused))
                continue
            changed = False
            person = {"name": found.name, "language": found.language, "status": found.status,
                      "attributes": dict(found.attributes or {})}
            if row.name and row.name != found.name:
                person["name"] = row.name
            if row.language and row.language != found.language:
                person["language"] = row.language
            new_status = self.rules.person_status(found.status, row.subscriber_status)
            if new_status != found.status:
                person["status"] = new_status
                if new_status in STOP_EVENTS:
                    events.append(self._event(found.id, STOP_EVENTS[new_status], now, list_id=None))
            person["attributes"].update(row.attributes)
            if person != {"name": found.name, "language": found.language, "status": found.status,
                          "attributes": found.attributes or {}}:
                people_updates.append({"id": found.id, **person})
                changed = True
            if current_sub is None:
                new_subs.append((found.id, wants))
                if counted:
                    self.report.added += 1
                continue
            target = decision.status
            if target != current_sub:
                sub_updates.append((found.id, target))
                if target in STOP_EVENTS:
                    events.append(self._event(found.id, STOP_EVENTS[target], now, list_id=self.ml.id))
                changed = True
            if counted:
                if changed:
                    self.report.updated += 1
                else:
                    self.report.unchanged += 1

        if not self.apply:
            return
        for sid, key in bulk.insert_subscribers(self.conn, new_people, now):
            new_subs.append((sid, new_people_status[key]))
            if new_people_status[key] in STOP_EVENTS:
                events.append(self._event(sid, STOP_EVENTS[new_people_status[key]], now, list_id=self.ml.id))
        bulk.update_subscribers(self.conn, people_updates, now)
        bulk.insert_subscriptions(self.conn, self.ml.id, new_subs, self.source, now)
        bulk.update_subscriptions(self.conn, self.ml.id, sub_updates, self.source, now)
        if events:
            self.conn.execute(insert(Event.__table__), events)

    def _event(self, subscriber_id: int, kind: str, now, list_id: int | None) -> dict[str, Any]:
        return {"subscriber_id": subscriber_id, "list_id": list_id, "send_id": None, "kind": kind, "at": now,
                "detail": "status given in an imported file", "source": self.source}


def import_subscribers(
    session: Session,
    path: str | Path,
    ml: MailingList,
    *,
    languages: Sequence[str],
    default_language: str,
    rules: ImportRules,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = BATCH,
    apply: bool = True,
    erased: Callable[[list[str]], set[str]] | None = None,
    name: str | None = None,
) -> ImportReport:
    """Import a CSV file into list `ml` in the caller's transaction; raises ImportFileError when the file cannot be
    read at all (the caller then rolls back, so nothing is written). `progress(bytes_read, size)` after each batch.
    `apply` False: decide and report, write nothing (a dry run). `erased(addresses)`: those never to be stored
    again. `name`: the file's name in the report and in the subscriptions' source (default: the path's).
    """
    try:
        return _import(session, path, ml, languages, default_language, rules, progress, batch_size, apply, erased,
                       name or Path(path).name)
    except IntegrityError:
        # Another writer (a web sign-up) added one of these addresses meanwhile; the caller rolls back the lot.
        raise BulletinError(Message("import.concurrent"), where=path) from None


def _import(session, path, ml, languages, default_language, rules, progress, batch_size, apply, erased,
            name) -> ImportReport:
    with SubscriberFile(path) as f:
        shown = str(path) if name == Path(path).name else name
        report = ImportReport(path=shown, list_slug=ml.slug, encoding=f.encoding, delimiter=f.delimiter)
        writer = _Writer(session, ml, default_language, f"import:{name}"[:SOURCE_MAX], report, rules, apply=apply,
                         erased=erased)
        bulk.start_seen(writer.conn)
        batch: list[Row] = []
        for record in f.rows():
            line, values = record.line, record.values
            report.rows += 1
            report.continued_lines += record.lines - 1
            if record.problem:
                report.rejected.append(RowNote(line, record.address, record.problem))
                continue
            try:
                row = parse_row(line, values, f.columns, languages, default_language)
            except RowRejected as e:
                report.rejected.append(RowNote(line, cell(values, f.columns.email), e.what))
                continue
            if row.warning:
                report.warnings.append(RowNote(line, cell(values, f.columns.email), row.warning))
            batch.append(row)
            if len(batch) >= batch_size:
                writer.write(batch)
                batch = []
                if progress:
                    progress(f.bytes_read(), f.size)
        writer.write(batch)
        bulk.end_seen(writer.conn)
        report.encoding = f.encoding_read
        report.header_lines, report.blank_lines = f.header_lines, f.blank_lines
        report.lines = f.lines_read
        if progress:
            progress(f.size, f.size)
    return report
