"""Lists: create one, and each with its subscriptions counted by status."""

from __future__ import annotations

from dataclasses import dataclass

from bulletin.errors import BulletinError
from bulletin.services.store import UnitOfWork
from bulletin.store import queries


@dataclass(frozen=True)
class ListSummary:
    slug: str
    name: str
    #: subscriptions by status (subscribed, unconfirmed, unsubscribed, bounced)
    counts: dict[str, int]


def create_list(uow: UnitOfWork, slug: str, name: str) -> ListSummary:
    name = name.strip()
    if not name:
        raise BulletinError("a list needs a name", where="--name")
    ml = queries.create_list(uow.session, slug, name)
    return ListSummary(ml.slug, ml.name, {})


def list_summaries(uow: UnitOfWork) -> list[ListSummary]:
    return [ListSummary(ml.slug, ml.name, counts) for ml, counts in queries.list_counts(uow.session)]
