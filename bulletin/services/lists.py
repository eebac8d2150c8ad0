"""Lists: create, rename and describe one, archive one (it takes no new subscriptions and leaves the public
form; its history stays) or bring it back, and each with its subscriptions counted by status and language.

Changes made from the workspace (an `actor` given) are written to the audit log in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from bulletin import i18n
from bulletin.services import audit
from bulletin.services.audit import Action, Actor
from bulletin.services.errors import InputRefused
from bulletin.services.store import UnitOfWork
from bulletin.store import queries
from bulletin.store.models import LIST_SLUG_MAX, NAME_MAX, MailingList, utcnow

#: The longest description a list may have (a few sentences: where it is offered, who is on it).
DESCRIPTION_MAX = 2000
#: The longest short name of a list (its slug, in links and commands).
SLUG_MAX = LIST_SLUG_MAX


@dataclass(frozen=True)
class ListSummary:
    slug: str
    name: str
    #: subscriptions by status (subscribed, unconfirmed, unsubscribed, bounced)
    counts: dict[str, int]
    id: int = 0
    description: str = ""
    archived_at: dt.datetime | None = None
    #: the people a send goes to (subscribed, not stopped) by language
    languages: dict[str, int] = field(default_factory=dict)

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


def _summary(ml: MailingList, counts: dict[str, int] | None = None, languages: dict[str, int] | None = None):
    return ListSummary(ml.slug, ml.name, counts or {}, ml.id, ml.description, ml.archived_at, languages or {})


def _name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InputRefused(i18n.Message("list.name.required"), field="name", where="--name")
    if len(name) > NAME_MAX:
        raise InputRefused(i18n.Message("list.name.long", max=NAME_MAX), field="name", where="--name")
    return name


def _description(text: str) -> str:
    text = text.strip().replace("\r\n", "\n")
    if len(text) > DESCRIPTION_MAX:
        raise InputRefused(i18n.Message("list.description.long", max=DESCRIPTION_MAX), field="description")
    return text


def create_list(uow: UnitOfWork, slug: str, name: str, description: str = "", *, actor: Actor | None = None,
                now: dt.datetime | None = None) -> ListSummary:
    slug = slug.strip()
    if not queries.SLUG.match(slug):
        raise InputRefused(i18n.Message("list.slug.invalid", slug=slug, max=LIST_SLUG_MAX), field="slug",
                           where=slug or "SLUG")
    name, description = _name(name), _description(description)
    if queries.list_exists(uow.session, slug):
        raise InputRefused(i18n.Message("list.exists", slug=slug), field="slug", where=slug)
    ml = queries.create_list(uow.session, slug, name, description)
    if actor is not None:
        audit.record(uow, actor, Action.LIST_ADD, object_type="list", object_id=slug, detail=name,
                     now=now or utcnow())
    return _summary(ml)


def update_list(uow: UnitOfWork, slug: str, name: str, description: str, *, actor: Actor,
                now: dt.datetime) -> ListSummary:
    """Rename and describe a list (its slug, in commands and links, stays)."""
    ml = queries.lock_list(uow.session, slug)
    name, description = _name(name), _description(description)
    changes = []
    if name != ml.name:
        changes.append(f"name: {ml.name} -> {name}")
    if description != ml.description:
        changes.append("description")
    ml.name, ml.description = name, description
    if changes:
        audit.record(uow, actor, Action.LIST_EDIT, object_type="list", object_id=slug, detail="; ".join(changes),
                     now=now)
    return _summary(ml)


def archive_list(uow: UnitOfWork, slug: str, *, actor: Actor, now: dt.datetime) -> ListSummary:
    """Archive a list: no new subscriptions (form, imports, admins), not offered on the public form; the people
    on it, its sends and its history stay. Archiving an archived list changes nothing."""
    ml = queries.lock_list(uow.session, slug)
    if ml.archived_at is None:
        ml.archived_at = now
        audit.record(uow, actor, Action.LIST_ARCHIVE, object_type="list", object_id=slug, now=now)
    return _summary(ml)


def restore_list(uow: UnitOfWork, slug: str, *, actor: Actor, now: dt.datetime) -> ListSummary:
    """Bring an archived list back: it takes subscriptions again."""
    ml = queries.lock_list(uow.session, slug)
    if ml.archived_at is not None:
        ml.archived_at = None
        audit.record(uow, actor, Action.LIST_RESTORE, object_type="list", object_id=slug, now=now)
    return _summary(ml)


def exported(uow: UnitOfWork, slug: str, rows: int, *, actor: Actor, now: dt.datetime) -> None:
    """Record that an admin downloaded the list (its people's addresses left the server)."""
    audit.record(uow, actor, Action.LIST_EXPORT, object_type="list", object_id=slug, detail=f"{rows} rows", now=now)


def list_summaries(uow: UnitOfWork, *, languages: bool = False, slug: str | None = None) -> list[ListSummary]:
    """Every list (or the one named `slug`) with its counts by status (and by language, `languages`), by slug."""
    rows = [(ml, counts) for ml, counts in queries.list_counts(uow.session) if slug is None or ml.slug == slug]
    by_language = queries.list_languages(uow.session, [ml.id for ml, _ in rows]) if languages else {}
    return [_summary(ml, counts, by_language.get(ml.id)) for ml, counts in rows]


def all_lists(uow: UnitOfWork) -> list[ListSummary]:
    """Every list by name, without counts (for menus: cheap whatever the number of people)."""
    return [_summary(ml) for ml in queries.lists(uow.session)]


def get_list(uow: UnitOfWork, slug: str) -> ListSummary:
    """The list named `slug` (NotFoundError otherwise), without counts."""
    return _summary(queries.get_list(uow.session, slug))


def require_list(uow: UnitOfWork, slug: str, *, open_only: bool = False) -> ListSummary:
    """The list named `slug` (without counts), or a refusal that names the form field; `open_only`: an archived
    list is refused."""
    ml = queries.find_list_by_slug(uow.session, slug)
    if ml is None:
        raise InputRefused(i18n.Message("list.unknown", slug=slug), field="list")
    if open_only:
        takes_subscriptions(ml)
    return _summary(ml)


def takes_subscriptions(ml: MailingList) -> None:
    """Refuse a new subscription to an archived list (InputRefused naming the list field)."""
    if ml.archived_at is not None:
        raise InputRefused(i18n.Message("list.archived", slug=ml.slug), field="list", where="--list")
