"""SQLAlchemy tables: subscribers, lists, subscriptions, events, sends, one delivery row per recipient, and the
accounts, sessions and audit log of the web workspace.

The schema is created and upgraded by the Alembic migrations in `store/migrations`; a model change goes with a
migration (tests/test_migrations.py fails when they disagree).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Enum,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Unicode,
    UniqueConstraint,
)
from sqlalchemy.sql import text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates
from sqlalchemy.types import TypeDecorator

from bulletin.states import (
    AccountStatus,
    DeliveryStatus,
    EventKind,
    ImportState,
    Role,
    ScheduleStep,
    SendState,
    SubscriberStatus,
    SubscriptionStatus,
    WaitReason,
)
from bulletin.store.addresses import search_key

#: Column lengths, named once: code that checks a value before storing it uses these.
EMAIL_MAX = 320
NAME_MAX = 200
#: a name as searched (store/addresses.search_key): folding can lengthen it (ligatures), so more room
NAME_KEY_MAX = 3 * NAME_MAX
LANGUAGE_MAX = 16
LIST_SLUG_MAX = 64
#: where a subscription or event came from ("import:FILE", "web", "unsubscribe:SEND"), a worker id, an issue slug
SOURCE_MAX = 200
STATE_MAX = 16
#: a SHA-256 in hex: published files and issue fingerprints
DIGEST_MAX = 64
#: a mail server as host:port (a DNS name is at most 253 characters)
SERVER_MAX = 300
MEDIA_TYPE_MAX = 64
#: "2026-12"
MONTH_MAX = 7
#: an audit entry's action ("send.schedule") and its object's kind ("send") and id
ACTION_MAX = 64
OBJECT_MAX = 200
#: an IPv6 address in text, with room for a zone
IP_MAX = 64
#: a file name as the admin's computer gave it
FILE_NAME_MAX = 255


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def enum_column(enum: type, column: str = "status", length: int = STATE_MAX) -> Enum:
    """A StrEnum stored as its value in a VARCHAR, with a CHECK constraint listing the values (named
    ck_TABLE_COLUMN), so that a typo is refused by the database instead of matching nothing."""
    return Enum(enum, native_enum=False, create_constraint=True, length=length, validate_strings=True,
                values_callable=lambda e: [m.value for m in e], name=column)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values and gives them back naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON}


class Subscriber(Base):
    """A person. `email_key` (the address lower-cased) makes addresses unique case-insensitively; `name_key`
    is the name as searched (lower-case, accents folded), written with the name here and by store/bulk.py."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    email_key: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    name_key: Mapped[str] = mapped_column(String(NAME_KEY_MAX), default="", server_default=text("''"))
    language: Mapped[str] = mapped_column(String(LANGUAGE_MAX))
    #: a bounced, complained or erased subscriber gets nothing from any list.
    status: Mapped[SubscriberStatus] = mapped_column(enum_column(SubscriberStatus), default=SubscriberStatus.ACTIVE)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    subscriptions: Mapped[list[Subscription]] = relationship(back_populates="subscriber")

    __table_args__ = (
        # People by status (the search's status filter) and language (a list's readers by language).
        Index("ix_subscribers_status_language", "status", "language"),
        # The search reading people in address order: everything it tests is in the index, so no row is read
        # until a page is found (a query in no address or name reads 100,000 entries in ~15 ms on SQLite).
        Index("ix_subscribers_search", "email_key", "name_key", "language", "status"),
    )

    @validates("name")
    def _keep_name_key(self, _key: str, name: str | None) -> str | None:
        self.name_key = name_key(name or "")
        return name


def name_key(name: str) -> str:
    return search_key(name)[:NAME_KEY_MAX]


class MailingList(Base):
    """A list. An archived one (`archived_at` set) takes no new subscriptions and is not offered on the public
    form; its subscriptions, sends and history stay."""

    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(LIST_SLUG_MAX), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    description: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    archived_at: Mapped[dt.datetime | None]

    subscriptions: Mapped[list[Subscription]] = relationship(back_populates="mailing_list")


class Subscription(Base):
    """A subscriber on a list. Never deleted: an unsubscribed row is what keeps someone from being mailed again."""

    __tablename__ = "subscriptions"

    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[SubscriptionStatus] = mapped_column(enum_column(SubscriptionStatus),
                                                      default=SubscriptionStatus.SUBSCRIBED)
    #: where the subscription came from or was last changed: "import:FILE", "cli", "web", "unsubscribe:SEND"
    source: Mapped[str] = mapped_column(String(SOURCE_MAX), default="")
    #: where it came from, kept when later changes rewrite `source`: how the person was added to the list
    added_by: Mapped[str] = mapped_column(String(SOURCE_MAX), default="", server_default=text("''"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    subscriber: Mapped[Subscriber] = relationship(back_populates="subscriptions")
    mailing_list: Mapped[MailingList] = relationship(back_populates="subscriptions")

    __table_args__ = (
        # A list's people by status, with their ids: sends snapshot their recipients, the lists page counts them
        # and the search filters them from this index alone.
        Index("ix_subscriptions_list_status_subscriber", "list_id", "status", "subscriber_id"),
        # The dashboard's chart reads only the rows that changed within its weeks, from these alone (covering
        # indexes: no row is looked up), see store/dashboard.subscribed_at.
        Index("ix_subscriptions_status_created", "status", "created_at"),
        Index("ix_subscriptions_status_updated", "status", "updated_at", "created_at"),
    )


class Event(Base):
    """What happened to a subscriber: subscribe, confirm, unsubscribe, bounce_hard, bounce_soft, complaint."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id", ondelete="SET NULL"))
    send_id: Mapped[int | None] = mapped_column(ForeignKey("sends.id", ondelete="SET NULL"), index=True)
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind, "kind", 32))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: the raw reason: an SMTP reply, a DSN status and diagnostic, the web request's origin
    detail: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(SOURCE_MAX), default="")
    #: the address of the web request that did it (a confirmation, an unsubscribe), "" for the others
    ip: Mapped[str] = mapped_column(String(IP_MAX), default="", server_default=text("''"))


class Send(Base):
    """An issue sent to a list. Its rendered editions are stored with it, so a resumed send mails the same bytes."""

    __tablename__ = "sends"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_slug: Mapped[str] = mapped_column(String(SOURCE_MAX))
    issue_dir: Mapped[str] = mapped_column(Text)
    #: the issue's primary language: subscribers whose language has no edition get this one
    language: Mapped[str] = mapped_column(String(LANGUAGE_MAX), default="")
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id"))
    state: Mapped[SendState] = mapped_column(enum_column(SendState, "state"), default=SendState.SCHEDULED)
    scheduled_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    total: Mapped[int] = mapped_column(default=0)
    #: the fingerprint of the issue folder it was scheduled with (content/fingerprint.py); when it fires, the
    #: folder must still have it, or have been approved again as it is. None: a send that was not scheduled
    #: from a folder checked this way (sent at once, or made before fingerprints existed)
    fingerprint: Mapped[str | None] = mapped_column(String(DIGEST_MAX))
    #: why a due send has not started (None: it is not waiting), and since when
    waiting: Mapped[WaitReason | None] = mapped_column(enum_column(WaitReason, "waiting"))
    waiting_since: Mapped[dt.datetime | None]
    #: while a running send's mail server cannot be reached: which one (host:port), its last error, since when,
    #: and the next try. The send waits as a whole (nobody's attempt counted) and goes on by itself.
    unreachable_server: Mapped[str | None] = mapped_column(String(SERVER_MAX))
    unreachable_error: Mapped[str | None] = mapped_column(Text)
    unreachable_since: Mapped[dt.datetime | None]
    next_try_at: Mapped[dt.datetime | None]

    mailing_list: Mapped[MailingList] = relationship()
    editions: Mapped[list[SendEdition]] = relationship(back_populates="send", cascade="all, delete-orphan")


class SendEdition(Base):
    """One language edition of a send, rendered once with per-recipient placeholders left in."""

    __tablename__ = "send_editions"

    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True)
    language: Mapped[str] = mapped_column(String(LANGUAGE_MAX), primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    preheader: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)

    send: Mapped[Send] = relationship(back_populates="editions")


class Delivery(Base):
    """One recipient of one send: claimed, sent, then marked. Never a single checkpoint for a whole send."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    language: Mapped[str] = mapped_column(String(LANGUAGE_MAX))
    status: Mapped[DeliveryStatus] = mapped_column(enum_column(DeliveryStatus), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(SOURCE_MAX))
    claimed_at: Mapped[dt.datetime | None]
    next_attempt_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("send_id", "subscriber_id"),
        Index("ix_deliveries_send_status", "send_id", "status"),
        # A person's page: every send that was for them.
        Index("ix_deliveries_subscriber_id", "subscriber_id"),
    )


class PublishedFile(Base):
    """An image or icon as it is mailed, stored under the SHA-256 of its bytes. A message refers to it by that
    hash (`/media/HASH.jpg` under [web].base_url), so what a delivered message shows never changes or breaks,
    whatever becomes of the issue folder or the templates. Never deleted, never rewritten."""

    __tablename__ = "published_files"

    digest: Mapped[str] = mapped_column(String(DIGEST_MAX), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(MEDIA_TYPE_MAX))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Approval(Base):
    """Someone said this version of an issue may be sent: its fingerprint, who and when. The latest approval of
    an issue is the one that counts; the older ones are its history."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_slug: Mapped[str] = mapped_column(String(SOURCE_MAX), index=True)
    issue_dir: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(DIGEST_MAX))
    #: how many files the fingerprint covers
    files: Mapped[int] = mapped_column(Integer)
    #: the user of the command line, or the account of the web workspace
    approved_by: Mapped[str] = mapped_column(String(NAME_MAX))
    #: "cli" or "web"
    source: Mapped[str] = mapped_column(String(SOURCE_MAX))
    approved_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ScheduleEntry(Base):
    """One step of the monthly schedule for one month and list (a reminder, an alert, the send), recorded once:
    the unique key is what keeps two workers from mailing the same reminder or making the same send twice."""

    __tablename__ = "schedule_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(MONTH_MAX))
    list_slug: Mapped[str] = mapped_column(String(LIST_SLUG_MAX))
    step: Mapped[ScheduleStep] = mapped_column(enum_column(ScheduleStep, "step"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: why (an ApprovalState or a WaitReason), and to whom the mail went
    detail: Mapped[str] = mapped_column(Text, default="")
    send_id: Mapped[int | None] = mapped_column(ForeignKey("sends.id", ondelete="SET NULL"))

    __table_args__ = (UniqueConstraint("month", "list_slug", "step"),)
class User(Base):
    """An account of the web workspace (`bulletin users add`). Never deleted: the audit log names it for ever."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    #: the address lower-cased: one account per address whatever its case
    email_key: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    status: Mapped[AccountStatus] = mapped_column(enum_column(AccountStatus), default=AccountStatus.ACTIVE)
    #: an Argon2id hash in PHC format ($argon2id$v=19$m=...,t=...,p=...$salt$hash), never the password
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[dt.datetime | None]


class AdminSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so a copy of the
    database opens no session. Signing out or disabling the account deletes the row."""

    __tablename__ = "admin_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: the token every state-changing request of this session must carry (synchroniser token pattern)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: the last request the person made (automatic refreshes do not count): the idle timeout runs from here
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ip: Mapped[str] = mapped_column(String(IP_MAX), default="")


class AuditEntry(Base):
    """Who did what, when, to which object, from where: every change made in the workspace and every sign-in,
    failed ones included (the sign-in throttle counts those)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: the account's address, the address typed at a failed sign-in, or "cli" for the command line
    actor: Mapped[str] = mapped_column(String(EMAIL_MAX), default="")
    #: what was done, e.g. "sign_in", "sign_in.failed", "send.schedule", "user.disable" (services/audit.py)
    action: Mapped[str] = mapped_column(String(ACTION_MAX))
    object_type: Mapped[str] = mapped_column(String(ACTION_MAX), default="")
    object_id: Mapped[str] = mapped_column(String(OBJECT_MAX), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str] = mapped_column(String(IP_MAX), default="")

    __table_args__ = (
        # The sign-in throttle: recent failures of one address, and of one IP address.
        Index("ix_audit_log_action_actor_at", "action", "actor", "at"),
        Index("ix_audit_log_action_ip_at", "action", "ip", "at"),
        Index("ix_audit_log_object", "object_type", "object_id"),
    )


class ErasedAddress(Base):
    """An address whose owner asked to be erased, kept only as a keyed hash (HMAC-SHA256 of the lower-cased
    address with a key derived from the signing secret): imports and the public form recognise it and never
    bring the person back, and the address itself is nowhere in the database."""

    __tablename__ = "erased_addresses"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    erased_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ImportJob(Base):
    """A subscriber file uploaded in the workspace: checked (a dry run) in the background, then imported or
    abandoned. The file waits in a private folder under `stored_name` until then; `report` is the import's
    report as JSON (reasons as catalogue keys, shown in the reader's language)."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: who uploaded it (the account's address when it was uploaded)
    actor: Mapped[str] = mapped_column(String(EMAIL_MAX), default="")
    file_name: Mapped[str] = mapped_column(String(FILE_NAME_MAX))
    #: the file's name in the private folder ("" once it is deleted)
    stored_name: Mapped[str] = mapped_column(String(64), default="")
    size: Mapped[int] = mapped_column(default=0)
    state: Mapped[ImportState] = mapped_column(enum_column(ImportState, "state"))
    #: how far the current pass has read the file, in bytes
    bytes_done: Mapped[int] = mapped_column(default=0)
    report: Mapped[dict[str, Any] | None]
    #: why it failed: a catalogue message as JSON ({"key": ..., "values": {...}})
    error: Mapped[dict[str, Any] | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: the last sign of life of the pass running it (a job whose runner died is seen by its silence)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]

    __table_args__ = (Index("ix_import_jobs_state", "state"),)


#: APScheduler 3's job store table (scheduled sends), exactly as its SQLAlchemyJobStore defines it. It is created
#: by our migration rather than by APScheduler on start-up: two workers starting at once on a fresh PostgreSQL
#: database would otherwise race to create it, and one would die of the duplicate.
apscheduler_jobs = Table(
    "apscheduler_jobs",
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)


class LeavingEntry(Base):
    """One unsubscribe as it was asked for, written before the lists are changed (store/journal.py): kept where no
    other writer can hold it up, applied to the subscription as soon as the database allows.

    On PostgreSQL this table is the journal (an insert waits for no row lock); SQLite locks the whole file for
    one writer, so there the journal is this table in a file of its own beside the database."""

    __tablename__ = "unsubscribe_journal"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: who leaves: the address as the lists know it (lower-case), and the subscriber when the link named one
    email_key: Mapped[str] = mapped_column(String(EMAIL_MAX), index=True)
    subscriber_id: Mapped[int | None]
    #: the list they leave; None: every list
    list_id: Mapped[int | None]
    send_id: Mapped[int | None]
    source: Mapped[str] = mapped_column(String(SOURCE_MAX), default="")
    ip: Mapped[str] = mapped_column(String(IP_MAX), default="")
    #: when it was applied to the subscription (or found to be superseded); None: not yet
    applied_at: Mapped[dt.datetime | None] = mapped_column(index=True)
