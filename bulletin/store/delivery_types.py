"""The values delivery and the store exchange: a claimed recipient, an outcome, what is left of a send, what a
worker needs to know of a send. Plain data: the contract that uses them is declared by delivery
(`bulletin.deliver.claims.DeliveryStore`), the store implements it (`store/deliveries.py`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bulletin.states import DeliveryStatus, SendState


@dataclass(frozen=True)
class Claimed:
    id: int
    subscriber_id: int
    email: str
    language: str
    name: str
    attempts: int


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    status: DeliveryStatus  # SENT, DEFERRED or FAILED
    error: str | None = None
    next_attempt_at: dt.datetime | None = None


@dataclass(frozen=True)
class Outstanding:
    pending: int
    claimed: int
    deferred: int
    next_retry_at: dt.datetime | None

    @property
    def total(self) -> int:
        return self.pending + self.claimed + self.deferred


@dataclass(frozen=True)
class Edition:
    """One stored language edition of a send, placeholders left in."""

    language: str
    subject: str
    preheader: str
    html: str
    text: str


@dataclass(frozen=True)
class SendMaterial:
    """What a worker needs to know of a send before delivering it."""

    send_id: int
    state: SendState
    list_id: int
    list_slug: str
    list_name: str
    issue_slug: str
    language: str
    started_at: dt.datetime | None
    editions: tuple[Edition, ...]
