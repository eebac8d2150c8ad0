"""One CSV row as a subscriber: which values it holds, whether they are acceptable, how duplicates merge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bulletin.errors import BulletinError
from bulletin.i18n import Message
from bulletin.store.addresses import InvalidAddress, normalise_email, normalise_language, plain
from bulletin.store.csvfile import Columns, unneutralise

NAME_MAX = 200

SUBSCRIPTION_STATUSES = {
    "subscribed": "subscribed", "abonne": "subscribed", "inscrit": "subscribed", "actif": "subscribed",
    "active": "subscribed", "unconfirmed": "unconfirmed", "non confirme": "unconfirmed", "en attente": "unconfirmed",
    "unsubscribed": "unsubscribed", "desabonne": "unsubscribed", "desinscrit": "unsubscribed",
    "bounced": "bounced",
}
SUBSCRIBER_STATUSES = {"active": "active", "actif": "active", "bounced": "bounced", "complained": "complained"}
#: States in which nobody is mailed; an import may move someone into them, never out of them.
STOPPED = {"unsubscribed", "bounced"}
STOPPED_SUBSCRIBER = {"bounced", "complained"}
#: The event an import records when a row stops mail to someone.
STOP_EVENTS = {"unsubscribed": "unsubscribe", "bounced": "bounce_hard", "complained": "complaint"}


class RowRejected(BulletinError, ValueError):
    """A row that cannot be imported; `what` says why (the import reports it with the row's line)."""


@dataclass
class Row:
    """A valid row, or the merge of every row of the file for one address."""

    line: int
    email: str
    key: str
    name: str | None
    language: str | None
    status: str | None
    subscriber_status: str | None
    attributes: dict[str, str]
    #: something the admin should know about a row that was taken anyway (an unknown language replaced)
    warning: Message | None = None

    def merge(self, later: Row) -> None:
        """A later row for the same address: its non-empty values win; a status that stops mail always wins."""
        self.name = later.name or self.name
        self.language = later.language or self.language
        if later.status and not (self.status in STOPPED and later.status not in STOPPED):
            self.status = later.status
        if later.subscriber_status and not (
            self.subscriber_status in STOPPED_SUBSCRIBER and later.subscriber_status not in STOPPED_SUBSCRIBER
        ):
            self.subscriber_status = later.subscriber_status
        self.attributes.update(later.attributes)


def cell(values: list[str], index: int | None) -> str:
    """The value in column `index`, trimmed and without the apostrophe that kept a formula from running; ""
    where the file has no such column or the row is short."""
    if index is None or index >= len(values):
        return ""
    return unneutralise(values[index].strip())


def parse_row(line: int, values: list[str], cols: Columns, languages: Sequence[str], default_language: str) -> Row:
    """The row's values as a Row; raises RowRejected saying what is wrong with it."""
    raw_email = cell(values, cols.email)
    if len(values) > cols.width and any(v.strip() for v in values[cols.width:]):
        raise RowRejected(Message("import.row.too_many_values", values=len(values), columns=cols.width))
    if any("\x00" in v for v in values):
        # Possible in UTF-16 text; PostgreSQL cannot store it, and no name or address holds one.
        raise RowRejected(Message("import.row.nul"))
    try:
        email = normalise_email(raw_email)
    except InvalidAddress as e:
        raise RowRejected(e.what) from None
    name = cell(values, cols.name)
    if not name:
        name = " ".join(p for p in (cell(values, cols.first_name), cell(values, cols.last_name)) if p)
    name = " ".join(name.split())
    if len(name) > NAME_MAX:
        raise RowRejected(Message("import.row.name_long", max=NAME_MAX))
    status = subscriber_status = None
    raw_status = cell(values, cols.status)
    if raw_status:
        status = SUBSCRIPTION_STATUSES.get(plain(raw_status))
        if status is None:
            raise RowRejected(Message("import.row.status", value=repr(raw_status)))
    raw_sstatus = cell(values, cols.subscriber_status)
    if raw_sstatus:
        subscriber_status = SUBSCRIBER_STATUSES.get(plain(raw_sstatus))
        if subscriber_status is None:
            raise RowRejected(Message("import.row.subscriber_status", value=repr(raw_sstatus)))
    language = warning = None
    raw_language = cell(values, cols.language)
    if raw_language:
        language = normalise_language(raw_language, languages)
        if language is None:
            # A good address is worth more than its language column: keep the row, in the default language.
            language = default_language
            warning = Message("import.row.language", value=repr(raw_language), default=repr(default_language),
                              known=", ".join(languages))
    attributes = {name_: v for i, name_ in cols.extra if (v := cell(values, i))}
    return Row(line, email, email.lower(), name or None, language, status, subscriber_status, attributes, warning)


