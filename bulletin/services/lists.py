"""Lists: create one, and each with its subscriptions counted by status."""

from __future__ import annotations

from dataclasses import dataclass

from bulletin import i18n
from bulletin.errors import BulletinError
from bulletin.services.errors import InputRefused
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


def require_list(uow: UnitOfWork, slug: str) -> ListSummary:
    """The list named `slug`, or a refusal that names the form field."""
    for found in list_summaries(uow):
        if found.slug == slug:
            return found
    raise InputRefused(i18n.Message("list.unknown", slug=slug), field="list")
