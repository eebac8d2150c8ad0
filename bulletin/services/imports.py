"""Subscriber files in and out: an import (all or nothing, with its report, or a dry run) and an export that
an import reads back to the same state; and the workspace's import jobs.

A job is a file uploaded in the workspace. It waits in a private folder (`[web].uploads_dir`, readable by the
owner only) while a background thread checks it (a dry run: the same report as the command line, writing
nothing), then the admin confirms (the import, in one transaction, in the background too) or abandons it; the
file is deleted either way, and when the check fails. Its state and progress are in the database (`import_jobs`),
so any page, any process, and a plain reload see them. A job whose runner stopped (the server restarted) is seen
by its silence: no progress for `STALLED` means interrupted, and it may be checked again or abandoned.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bulletin.errors import BulletinError, NotFoundError
from bulletin.i18n import Message
from bulletin.services import audit, consent, forgotten
from bulletin.services.audit import Action, Actor
from bulletin.services.background import Background
from bulletin.services.errors import InputRefused
from bulletin.services.lists import takes_subscriptions
from bulletin.services.store import Store, UnitOfWork
from bulletin.states import ImportState
from bulletin.store import import_jobs as rows
from bulletin.store import queries
from bulletin.store.exporter import CsvFormat, csv_format, export_subscribers, export_to_file
from bulletin.store.importer import BATCH, ImportReport, RowNote, import_subscribers
from bulletin.store.models import FILE_NAME_MAX, utcnow

log = logging.getLogger(__name__)

#: A running job that wrote no progress for this long stopped with its runner (the server restarted).
STALLED = dt.timedelta(minutes=15)
#: Progress is written at most this often (a write per batch of 1,000 rows would cost the import).
PROGRESS_EVERY = 0.5
#: The report's sections of notes, in the order an admin reads them.
SECTIONS = ("rejected", "not_resubscribed", "duplicates", "warnings")


def import_file(uow: UnitOfWork, cfg, path: str | Path, list_slug: str, *, dry_run: bool = False,
                progress: Callable[[int, int], None] | None = None, batch_size: int = BATCH,
                name: str | None = None) -> ImportReport:
    """Import a CSV file into the list, applying the consent rules row by row; never stores an erased address
    again, never adds to an archived list. A dry run reports the same and writes nothing; a file that cannot be
    read raises and writes nothing. `name`: the file's name in the report (default: the path's)."""
    ml = queries.get_list(uow.session, list_slug)
    if not dry_run:
        takes_subscriptions(ml)
    digest = forgotten.hasher(cfg)
    report = import_subscribers(uow.session, path, ml, languages=cfg.organisation.languages,
                                default_language=cfg.organisation.language, rules=consent, progress=progress,
                                batch_size=batch_size, apply=not dry_run,
                                erased=lambda keys: forgotten.erased_among(uow, digest, keys), name=name)
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


# -- the report as data: kept with the job, shown in the reader's language -----------------------------------------

def _why(value: Message | str) -> dict:
    if isinstance(value, Message):
        return {"key": value.key, "values": {k: _why(v) if isinstance(v, Message) else v
                                             for k, v in value.values.items()}}
    return {"text": str(value)}


def why(data: dict) -> Message | str:
    """A reason kept by `report_data`, back as a Message (or text)."""
    if "key" in data:
        return Message(data["key"], **{k: why(v) if isinstance(v, dict) else v for k, v in data["values"].items()})
    return data.get("text", "")


def report_data(report: ImportReport) -> dict:
    """The report as JSON data: its counts and every note, reasons as catalogue keys and values."""
    data = {f.name: getattr(report, f.name) for f in dataclasses.fields(report)
            if isinstance(getattr(report, f.name), (int, str, bool))}
    for section in SECTIONS:
        data[section] = [[n.line, n.email, _why(n.why)] for n in getattr(report, section)]
    return data


def report_from(data: dict) -> ImportReport:
    fields = {f.name for f in dataclasses.fields(ImportReport)}
    report = ImportReport(**{k: v for k, v in data.items() if k in fields and k not in SECTIONS})
    for section in SECTIONS:
        setattr(report, section, [RowNote(line, email, why(reason)) for line, email, reason in data.get(section, [])])
    return report


# -- jobs -----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    id: int
    list_slug: str
    file_name: str
    size: int
    state: ImportState
    bytes_done: int
    actor: str
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    report: ImportReport | None
    error: Message | str | None
    #: running, but silent for longer than STALLED: its runner is gone
    stalled: bool

    @property
    def running(self) -> bool:
        return self.state in (ImportState.CHECKING, ImportState.IMPORTING) and not self.stalled

    @property
    def percent(self) -> int:
        return min(100, int(100 * self.bytes_done / self.size)) if self.size else 0

    @property
    def may_confirm(self) -> bool:
        return self.state == ImportState.CHECKED

    @property
    def may_check_again(self) -> bool:
        """A failed job, or one whose runner stopped (checking, or importing: its transaction was rolled back)."""
        return self.state == ImportState.FAILED or self.stalled

    @property
    def may_abandon(self) -> bool:
        return self.state in (ImportState.CHECKED, ImportState.FAILED) or self.stalled


def _job(row, slug: str, now: dt.datetime) -> Job:
    running = row.state in (ImportState.CHECKING, ImportState.IMPORTING)
    return Job(row.id, slug, row.file_name, row.size, ImportState(row.state), row.bytes_done, row.actor,
               row.created_at, row.updated_at, row.finished_at,
               report_from(row.report) if row.report else None, why(row.error) if row.error else None,
               running and now - row.updated_at > STALLED)


def uploads_folder(cfg) -> Path:
    """The private folder of uploaded files (made readable by the owner only)."""
    folder = cfg.resolve_path(cfg.web.uploads_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    return folder


def save_upload(cfg, source: BinaryIO, *, max_bytes: int) -> tuple[str, int]:
    """Copy an uploaded file into the private folder under a random name: (that name, its size). A file larger
    than `max_bytes` or empty is refused (and nothing is left behind)."""
    name = secrets.token_hex(16)
    path = uploads_folder(cfg) / name
    size = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(1 << 20):
                size += len(chunk)
                if size > max_bytes:
                    raise InputRefused(Message("import.upload.too_large", max=max_bytes // 1_000_000), field="file")
                out.write(chunk)
        if size == 0:
            raise InputRefused(Message("import.upload.empty"), field="file")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return name, size


def _forget_file(cfg, stored_name: str) -> None:
    if stored_name:
        (uploads_folder(cfg) / stored_name).unlink(missing_ok=True)


def start(uow: UnitOfWork, cfg, *, list_slug: str, file_name: str, stored_name: str, size: int, actor: Actor,
          now: dt.datetime) -> Job:
    """Record an uploaded file as a job to check (the caller then hands it to the runner)."""
    ml = queries.find_list_by_slug(uow.session, list_slug)
    if ml is None:
        raise InputRefused(Message("list.unknown", slug=list_slug), field="list")
    takes_subscriptions(ml)
    shown = Path(file_name.replace("\\", "/")).name.strip()[:FILE_NAME_MAX] or "import.csv"
    row = rows.create(uow.session, list_id=ml.id, user_id=actor.user_id, actor=actor.email, file_name=shown,
                      stored_name=stored_name, size=size, now=now)
    audit.record(uow, actor, Action.IMPORT_UPLOAD, object_type="import", object_id=row.id,
                 detail=f"{shown} -> {ml.slug} ({size} bytes)", now=now)
    return _job(row, ml.slug, now)


def get_job(uow: UnitOfWork, job_id: int, *, now: dt.datetime) -> Job:
    found = rows.get(uow.session, job_id)
    if found is None:
        raise NotFoundError("no such import", where=str(job_id))
    return _job(found[0], found[1], now)


def recent_jobs(uow: UnitOfWork, *, now: dt.datetime, limit: int = 20) -> list[Job]:
    return [_job(row, slug, now) for row, slug in rows.recent(uow.session, limit)]


def check_again(uow: UnitOfWork, job_id: int, *, now: dt.datetime) -> Job:
    """A failed or interrupted check, to run again (the caller hands it to the runner)."""
    job = get_job(uow, job_id, now=now)
    if not job.may_check_again or not rows.move(uow.session, job_id, (job.state,), ImportState.CHECKING, now=now,
                                                bytes_done=0, error=None):
        raise InputRefused(Message("import.state.refused", state=Message(f"import.state.{job.state}")))
    return get_job(uow, job_id, now=now)


def ask_confirm(uow: UnitOfWork, job_id: int, *, now: dt.datetime) -> Job:
    """The admin confirms a checked file: it is now to be imported (the caller hands it to the runner, which
    writes the audit entry with the import itself). Confirming twice imports once."""
    job = get_job(uow, job_id, now=now)
    if not rows.move(uow.session, job_id, (ImportState.CHECKED,), ImportState.IMPORTING, now=now, bytes_done=0):
        raise InputRefused(Message("import.state.refused", state=Message(f"import.state.{job.state}")))
    return get_job(uow, job_id, now=now)


def abandon(uow: UnitOfWork, cfg, job_id: int, *, actor: Actor, now: dt.datetime) -> Job:
    """Abandon a checked, failed or interrupted file: nothing is imported and the file is deleted."""
    job = get_job(uow, job_id, now=now)
    stored_name = rows.get(uow.session, job_id, lock=True)[0].stored_name
    if not job.may_abandon or not rows.move(uow.session, job_id, (job.state,), ImportState.ABANDONED, now=now,
                                            finished_at=now, stored_name=""):
        raise InputRefused(Message("import.state.refused", state=Message(f"import.state.{job.state}")))
    audit.record(uow, actor, Action.IMPORT_ABANDON, object_type="import", object_id=job_id, detail=job.file_name,
                 now=now)
    _forget_file(cfg, stored_name)
    return get_job(uow, job_id, now=now)


class ImportRunner:
    """The thread that checks and imports uploaded files, one at a time, beside the pages (one per `bulletin
    serve` process). `pause`, for tests: called after each batch with the job id, it may block to hold a job
    mid-way while the test looks at its progress."""

    def __init__(self, store: Store, cfg, *, clock: Callable[[], dt.datetime] = utcnow,
                 pause: Callable[[int], None] | None = None):
        self.store = store
        self.cfg = cfg
        self.clock = clock
        self.pause = pause
        #: (job id, whether to import, who asked), one at a time
        self._background: Background[tuple[int, bool, Actor | None]] = Background(
            "bulletin-imports", lambda item: self._pass(item[0], apply=item[1], actor=item[2]))

    def check(self, job_id: int) -> None:
        self._background.submit((job_id, False, None))

    def run_import(self, job_id: int, actor: Actor) -> None:
        self._background.submit((job_id, True, actor))

    def drain(self) -> None:
        """Wait until every job handed over so far is done (tests)."""
        self._background.drain()

    def close(self) -> None:
        self._background.close()

    def _progress(self, job_id: int, writing: bool) -> Callable[[int, int], None]:
        # While the import writes on SQLite, another connection's write would wait for it: the progress is then
        # written when it ends (a check writes nothing, so its progress always shows).
        show = not writing or self.store.writes_alongside()
        last = [0.0]

        def progress(done: int, _size: int) -> None:
            if show and time.monotonic() - last[0] >= PROGRESS_EVERY:
                last[0] = time.monotonic()
                with self.store.unit_of_work() as uow:
                    rows.progress(uow.session, job_id, done, now=self.clock())
            if self.pause is not None:
                self.pause(job_id)

        return progress

    def _pass(self, job_id: int, *, apply: bool, actor: Actor | None) -> None:
        with self.store.unit_of_work() as uow:
            found = rows.get(uow.session, job_id)
        if found is None:
            return
        row, slug = found
        expected = ImportState.IMPORTING if apply else ImportState.CHECKING
        if row.state != expected:
            return  # abandoned meanwhile
        path = uploads_folder(self.cfg) / row.stored_name
        try:
            with self.store.unit_of_work() as uow:
                report = import_file(uow, self.cfg, path, slug, dry_run=not apply, name=row.file_name,
                                     progress=self._progress(job_id, apply))
                if apply:
                    now = self.clock()
                    done = rows.move(uow.session, job_id, (ImportState.IMPORTING,), ImportState.DONE, now=now,
                                     report=report_data(report), bytes_done=row.size, finished_at=now,
                                     stored_name="")
                    if not done:
                        uow.rollback()
                        return
                    audit.record(uow, actor or Actor.cli(), Action.IMPORT_CONFIRM, object_type="import",
                                 object_id=job_id, detail=_counts(report), now=now)
            if apply:
                _forget_file(self.cfg, row.stored_name)
                return
            with self.store.unit_of_work() as uow:
                rows.move(uow.session, job_id, (ImportState.CHECKING,), ImportState.CHECKED, now=self.clock(),
                          report=report_data(report), bytes_done=row.size)
        except BulletinError as e:
            message = getattr(e, "message", None)
            self._failed(job_id, expected, message if isinstance(message, Message) else
                         e.what if isinstance(e.what, Message) else str(e.what))
        except Exception:
            log.exception("import job %s failed", job_id)
            self._failed(job_id, expected, Message("import.failed.internal"))

    def _failed(self, job_id: int, state: ImportState, why: Message | str) -> None:
        with self.store.unit_of_work() as uow:
            now = self.clock()
            rows.move(uow.session, job_id, (state,), ImportState.FAILED, now=now, error=_why(why), finished_at=now)


def _counts(report: ImportReport) -> str:
    return (f"{report.path} -> {report.list_slug}: {report.rows} rows, added {report.added}, updated "
            f"{report.updated}, unchanged {report.unchanged}, duplicates {len(report.duplicates)}, not re-subscribed "
            f"{len(report.not_resubscribed)}, rejected {len(report.rejected)}")
