"""Each outcome written to this worker's log the moment the server has answered: one `write()` to a file opened
for appending, which a killed process cannot lose (the system holds the bytes), so that a kill repeats at most
the message on the wire of each connection. The database is updated from the same outcomes in groups; a worker
that starts replays the logs of the dead workers of its machine into it before their rows are given back.

A log per worker and send, in the spool folder (`[delivery].spool`); it is removed once everything in it is in the
database. Lines are JSON: the first names the worker, then one outcome a line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from bulletin.deliver import claims
from bulletin.deliver.claims import DeliveryStore, Outcome
from bulletin.states import DeliveryStatus


def spool_folder(cfg) -> Path:
    """`[delivery].spool`, else beside a SQLite database (`bulletin.db.spool/`), else `spool/` beside the
    configuration file."""
    if cfg.delivery.spool:
        return cfg.resolve_path(cfg.delivery.spool)
    database = cfg.sqlite_file
    if database is not None:
        return database.with_name(database.name + ".spool")
    return cfg.resolve_path("spool")


class OutcomeLog:
    def __init__(self, folder: Path, worker_id: str, send_id: int):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{send_id}-{worker_id.rsplit(':', 2)[-2]}-{worker_id.rsplit(':', 1)[-1]}.log"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(self._fd, (json.dumps({"worker": worker_id, "send": send_id}) + "\n").encode())

    def append(self, outcome: Outcome) -> None:
        """One outcome, in one write (appends of a few hundred bytes are not interleaved)."""
        at = outcome.next_attempt_at.isoformat() if outcome.next_attempt_at else None
        os.write(self._fd, (json.dumps([outcome.delivery_id, outcome.status.value, outcome.error, at]) + "\n")
                 .encode())

    def close(self, *, keep: bool) -> None:
        """Keep it when the database lacks some of it (the next worker replays it), else remove it."""
        os.close(self._fd)
        if not keep:
            self.path.unlink(missing_ok=True)


def _read(path: Path) -> tuple[str, list[Outcome]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    worker = json.loads(lines[0])["worker"]
    outcomes = []
    for line in lines[1:]:
        try:
            delivery_id, status, error, at = json.loads(line)
        except ValueError:
            continue  # a line cut short by a full disk: its message goes again
        outcomes.append(Outcome(delivery_id, DeliveryStatus(status), error,
                                dt.datetime.fromisoformat(at) if at else None))
    return worker, outcomes


def replay(folder: Path, store: DeliveryStore, send_id: int, now: dt.datetime) -> int:
    """Record the outcomes that dead workers of this machine logged for this send and the database lacks;
    returns how many. Harmless to run twice (the same mark again)."""
    if not folder.is_dir():
        return 0
    count = 0
    for path in sorted(folder.glob(f"{send_id}-*.log")):
        try:
            worker, outcomes = _read(path)
        except (OSError, ValueError, IndexError, KeyError):
            continue
        if not claims.is_dead(worker):
            continue
        if outcomes:
            recorder = store.recorder(worker)
            try:
                recorder.record(outcomes, [], now=now)
            finally:
                recorder.close()
        path.unlink(missing_ok=True)
        count += len(outcomes)
    return count
