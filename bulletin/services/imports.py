"""Subscriber files in and out: an import (all or nothing, with its report, or a dry run) and an export that
an import reads back to the same state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from bulletin.services import consent
from bulletin.services.store import UnitOfWork
from bulletin.store import queries
from bulletin.store.exporter import CsvFormat, csv_format, export_subscribers, export_to_file
from bulletin.store.importer import BATCH, ImportReport, import_subscribers


def import_file(uow: UnitOfWork, cfg, path: str | Path, list_slug: str, *, dry_run: bool = False,
                progress: Callable[[int, int], None] | None = None, batch_size: int = BATCH) -> ImportReport:
    """Import a CSV file into the list, applying the consent rules row by row. A dry run reports the same and
    writes nothing (the unit of work is rolled back); a file that cannot be read raises and writes nothing."""
    ml = queries.get_list(uow.session, list_slug)
    report = import_subscribers(uow.session, path, ml, languages=cfg.organisation.languages,
                                default_language=cfg.organisation.language, rules=consent, progress=progress,
                                batch_size=batch_size)
    if dry_run:
        report.dry_run = True
        uow.rollback()
    return report


def export_format(cfg, delimiter: str | None = None) -> CsvFormat:
    """What the organisation's spreadsheets open with a double-click (';' for French, ',' for English), with
    `delimiter` instead of its own when given."""
    return csv_format(cfg.organisation.language, delimiter)


def export_file(uow: UnitOfWork, list_slug: str, out: BinaryIO, **options) -> int:
    """Write every subscription of the list to `out` (bytes) as CSV; returns the number of rows. `options`:
    those of `bulletin.store.exporter.export_subscribers` (format, raw, progress)."""
    return export_subscribers(uow.session, queries.get_list(uow.session, list_slug), out, **options)


def export_to_path(uow: UnitOfWork, list_slug: str, path: str | Path, **options) -> int:
    """`export_file` into the file `path`, written atomically (complete or not at all, nothing left behind)."""
    return export_to_file(uow.session, queries.get_list(uow.session, list_slug), path, **options)
