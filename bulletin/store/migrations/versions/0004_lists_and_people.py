"""lists and people in the workspace: list descriptions and archiving, searching people, how each person was
added to a list, erased addresses, the IP address of web confirmations and unsubscribes, import jobs, and the
indexes of the subscriber chart

Revision ID: 0004_lists_and_people
Revises: 0004_approvals
Create Date: 2026-12-02 09:00:00

Columns are added with a server default (no table is rebuilt). `subscribers.name_key` is the name as searched
(lower-case, accents folded), filled here for existing rows with the function below (frozen: the store's own may
change later, with its own revision). ix_subscribers_search holds what the subscriber search tests (address, name,
language, status), so that a search reads that index alone (store/people.py).
"""

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0004_lists_and_people"
down_revision = "0004_approvals"
branch_labels = None
depends_on = None

NAME_KEY_MAX = 600
IMPORT_STATES = ["checking", "checked", "importing", "done", "abandoned", "failed"]


def _name_key(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())[:NAME_KEY_MAX]


def upgrade() -> None:
    conn = op.get_bind()
    op.add_column("lists", sa.Column("description", sa.Text(), server_default=sa.text("''"), nullable=False))
    op.add_column("lists", sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("events", sa.Column("ip", sa.String(length=64), server_default=sa.text("''"), nullable=False))
    op.add_column("subscriptions", sa.Column("added_by", sa.String(length=200), server_default=sa.text("''"),
                                             nullable=False))
    # The best knowledge of how each was added: where it last changed, which for most is where it came from.
    conn.execute(sa.text("UPDATE subscriptions SET added_by = source"))
    op.add_column("subscribers", sa.Column("name_key", sa.String(length=NAME_KEY_MAX), server_default=sa.text("''"),
                                           nullable=False))
    subscribers = sa.table("subscribers", sa.column("id", sa.Integer), sa.column("name", sa.String),
                           sa.column("name_key", sa.String))
    last = 0
    while True:
        rows = conn.execute(sa.select(subscribers.c.id, subscribers.c.name)
                            .where(subscribers.c.id > last, subscribers.c.name != "")
                            .order_by(subscribers.c.id).limit(5000)).all()
        if not rows:
            break
        conn.execute(subscribers.update().where(subscribers.c.id == sa.bindparam("i"))
                     .values(name_key=sa.bindparam("k")), [{"i": i, "k": _name_key(n)} for i, n in rows])
        last = rows[-1][0]
    op.create_index("ix_subscribers_status_language", "subscribers", ["status", "language"], unique=False)
    op.create_index("ix_subscribers_search", "subscribers", ["email_key", "name_key", "language", "status"],
                    unique=False)
    op.create_index("ix_deliveries_subscriber_id", "deliveries", ["subscriber_id"], unique=False)
    # The same as ix_subscriptions_list_status, with the person's id: it answers its queries alone.
    op.create_index("ix_subscriptions_list_status_subscriber", "subscriptions", ["list_id", "status", "subscriber_id"],
                    unique=False)
    op.drop_index("ix_subscriptions_list_status", table_name="subscriptions")
    op.create_index("ix_subscriptions_status_created", "subscriptions", ["status", "created_at"], unique=False)
    op.create_index("ix_subscriptions_status_updated", "subscriptions", ["status", "updated_at", "created_at"],
                    unique=False)
    op.create_table(
        "erased_addresses",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_erased_addresses")),
    )
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("stored_name", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("bytes_done", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"state IN ({', '.join(repr(s) for s in IMPORT_STATES)})", name=op.f("ck_import_jobs_state")),
        sa.ForeignKeyConstraint(["list_id"], ["lists.id"], name=op.f("fk_import_jobs_list_id_lists"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_import_jobs_user_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_jobs")),
    )
    op.create_index("ix_import_jobs_state", "import_jobs", ["state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_import_jobs_state", table_name="import_jobs")
    op.drop_table("import_jobs")
    op.drop_table("erased_addresses")
    op.create_index("ix_subscriptions_list_status", "subscriptions", ["list_id", "status"], unique=False)
    op.drop_index("ix_subscriptions_list_status_subscriber", table_name="subscriptions")
    op.drop_index("ix_deliveries_subscriber_id", table_name="deliveries")
    op.drop_index("ix_subscribers_search", table_name="subscribers")
    op.drop_index("ix_subscribers_status_language", table_name="subscribers")
    op.drop_index("ix_subscriptions_status_updated", table_name="subscriptions")
    op.drop_index("ix_subscriptions_status_created", table_name="subscriptions")
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("name_key")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("added_by")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("ip")
    with op.batch_alter_table("lists") as batch:
        batch.drop_column("archived_at")
        batch.drop_column("description")
