"""What delivery needs of the store, declared here and implemented by `bulletin.store.deliveries`.

One delivery row per recipient per send: claimed in batches, then marked sent, deferred or failed as soon as the
server answered, or given back untouched. Never a "last id" checkpoint: a row is marked only after the transport
accepted its message, so a worker killed at any moment loses nobody and repeats at most the messages whose
outcome was not yet recorded. Workers on several machines share a send (on PostgreSQL, claims skip rows that
others hold); a worker of this machine that died is seen at once, one elsewhere after `claim_timeout_seconds`.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from typing import Protocol

# The values exchanged live beside the store that makes them (as listmonk's models); the contract is declared here.
from bulletin.store.delivery_types import Claimed, Edition, Outcome, Outstanding, SendMaterial

__all__ = ["Claimed", "DeliveryStore", "Edition", "LeavingCheck", "Outcome", "Outstanding", "Recorder",
           "SendMaterial", "new_worker_id", "release_dead_claims"]

HOST = socket.gethostname()


def new_worker_id() -> str:
    """`host:pid:nonce`: the host and pid let a worker on the same machine see that a claimant has died."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Recorder(Protocol):
    def record(self, outcomes: Sequence[Outcome], give_back: Sequence[int], *, now: dt.datetime) -> None:
        """Mark what happened to rows this worker holds, and give rows back untouched (pending again, the
        attempt not counted), in one transaction."""

    def close(self) -> None: ...


class LeavingCheck(Protocol):
    def has_left(self, email: str) -> bool:
        """The address asked to leave the list (the unsubscribe journal) though its row was claimed."""

    def close(self) -> None: ...


class DeliveryStore(Protocol):
    """Every method is its own transaction. A database that cannot take it (locked, read-only, gone) raises
    `bulletin.errors.DatabaseUnavailable` and changes nothing."""

    def material(self, send_id: int) -> SendMaterial:
        """Raises NotFoundError for an unknown send."""

    def claim(self, send_id: int, list_id: int, worker_id: str, limit: int, *, now: dt.datetime,
              stale_before: dt.datetime) -> list[Claimed]:
        """Up to `limit` rows that are due (never tried, deferred until now or before, or claimed before
        `stale_before` by a worker that never answered), marked claimed by `worker_id` with one more attempt.
        Rows whose subscriber no longer receives the list's sends are marked skipped instead."""

    def recorder(self, worker_id: str) -> Recorder:
        """What records this worker's outcomes, one short transaction each, on a connection kept for it: a
        transaction a message must cost next to nothing."""

    def claimants(self, send_id: int | None) -> set[str]:
        """The workers holding claimed rows (of one send, or of all)."""

    def release_claims_of(self, workers: Iterable[str], send_id: int | None) -> int:
        """Give back every row these workers hold (they died before marking them)."""

    def outstanding(self, send_id: int) -> Outstanding: ...

    def finish_if_done(self, send_id: int, *, now: dt.datetime) -> bool:
        """Mark the send done when no row is left to deliver; harmless when several workers try at once."""

    def set_unreachable(self, send_id: int, *, server: str, error: str, since: dt.datetime,
                        next_try: dt.datetime) -> None:
        """Say on the send why it waits: its server is unreachable since `since` (the earliest one kept)."""

    def clear_unreachable(self, send_id: int) -> None: ...

    def leaving(self, list_id: int, since: dt.datetime) -> LeavingCheck:
        """Who left the list by the unsubscribe journal: entries not applied yet, and those written since
        `since` (the send's start), read again whenever the journal changes."""

    def running_sends(self) -> list[int]: ...

    def due_scheduled(self, now: dt.datetime) -> list[int]:
        """Scheduled sends whose time has come."""

    def has_pending(self) -> bool:
        """Some running send has rows never tried and not claimed."""


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie is dead, just not reaped
    except (OSError, IndexError):
        return False


def is_dead(worker_id: str) -> bool:
    """A worker of this machine that no longer runs (killed, crashed); workers elsewhere cannot be seen."""
    host, _, rest = (worker_id or "").partition(":")
    pid = rest.partition(":")[0]
    return host == HOST and pid.isdigit() and int(pid) != os.getpid() and _process_gone(int(pid))


def release_dead_claims(store: DeliveryStore, send_id: int | None = None) -> int:
    """Give back at once the rows claimed by workers of this machine that no longer run. Workers elsewhere are
    given back after `[delivery].claim_timeout_seconds` by the claim itself."""
    dead = [w for w in store.claimants(send_id) if is_dead(w)]
    return store.release_claims_of(dead, send_id) if dead else 0
