"""lists and people in the workspace: list descriptions and archiving, searching people, how each person was
added to a list, erased addresses, the IP address of web confirmations and unsubscribes, import jobs, and the
indexes of the subscriber chart

Revision ID: 0004_lists_and_people
Revises: 0004_approvals
Create Date: 2026-12-02 09:00:00

Columns are added with a server default (no table is rebuilt). `subscribers.name_key` is the name as searched
(lower-case, accents folded), filled here for existing rows with the function below (frozen: the store's own may
change later, with its own revision).

The search index is what each database offers:
- SQLite: an FTS5 table with the trigram tokenizer (SQLite 3.34 and later) over `email_key` and `name_key`, kept
  in step with `subscribers` by three triggers and a table of rows waiting to be indexed. A later revision that rebuilds `subscribers` (batch mode) drops
  the triggers with the old table and must create them again (`create_sqlite_search` below).
- PostgreSQL: GIN trigram indexes (pg_trgm) on both columns. Creating the extension needs the right to (a
  superuser, or the database's owner since PostgreSQL 13, pg_trgm being trusted).
Where neither can be made, nothing is created and searches read the table (store/people.py says how).
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


#: On SQLite, FTS5 indexes a row inserted by a trigger about four times slower than one inserted by a plain
#: INSERT ... SELECT (40 µs against 10 µs a row: an import of 100,000 people took twice as long). So the insert
#: trigger only notes the new row in `subscriber_search_pending`, and the store moves pending rows into the index
#: in bulk (after each batch of an import, after adding one person); searches read pending rows directly, so a
#: row inserted by any other writer is found all the same. Updates and deletes, rare, go to the index at once.
SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE subscriber_search USING fts5(email_key, name_key, content='subscribers', "
    "content_rowid='id', tokenize='trigram')",
    "CREATE TABLE subscriber_search_pending (id INTEGER PRIMARY KEY)",
    "CREATE TRIGGER subscriber_search_insert AFTER INSERT ON subscribers BEGIN "
    "INSERT OR IGNORE INTO subscriber_search_pending (id) VALUES (new.id); END",
    "CREATE TRIGGER subscriber_search_update AFTER UPDATE OF email_key, name_key ON subscribers "
    "WHEN (old.email_key IS NOT new.email_key OR old.name_key IS NOT new.name_key) "
    "AND NOT EXISTS (SELECT 1 FROM subscriber_search_pending WHERE id = old.id) BEGIN "
    "INSERT INTO subscriber_search(subscriber_search, rowid, email_key, name_key) "
    "VALUES ('delete', old.id, old.email_key, old.name_key); "
    "INSERT INTO subscriber_search(rowid, email_key, name_key) VALUES (new.id, new.email_key, new.name_key); END",
    "CREATE TRIGGER subscriber_search_delete AFTER DELETE ON subscribers BEGIN "
    "INSERT INTO subscriber_search(subscriber_search, rowid, email_key, name_key) "
    "SELECT 'delete', old.id, old.email_key, old.name_key "
    "WHERE NOT EXISTS (SELECT 1 FROM subscriber_search_pending WHERE id = old.id); "
    "DELETE FROM subscriber_search_pending WHERE id = old.id; END",
    "INSERT INTO subscriber_search(subscriber_search) VALUES ('rebuild')",
]


def create_sqlite_search(conn) -> bool:
    """The FTS5 trigram table and its triggers, where this SQLite has them; False where it has not."""
    try:
        conn.exec_driver_sql("CREATE VIRTUAL TABLE temp.bulletin_probe USING fts5(x, tokenize='trigram')")
        conn.exec_driver_sql("DROP TABLE temp.bulletin_probe")
    except sa.exc.OperationalError:
        return False
    for statement in SQLITE_SEARCH:
        conn.exec_driver_sql(statement)
    return True


def create_pg_search(conn) -> bool:
    """pg_trgm's GIN indexes, where the extension can be created; False where it cannot."""
    savepoint = conn.begin_nested()
    try:
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        savepoint.commit()
    except sa.exc.DBAPIError:
        savepoint.rollback()
        return False
    conn.exec_driver_sql("CREATE INDEX ix_subscribers_email_key_trgm ON subscribers USING gin (email_key gin_trgm_ops)")
    conn.exec_driver_sql("CREATE INDEX ix_subscribers_name_key_trgm ON subscribers USING gin (name_key gin_trgm_ops)")
    return True


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
    if conn.dialect.name == "sqlite":
        create_sqlite_search(conn)
    elif conn.dialect.name == "postgresql":
        create_pg_search(conn)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS subscriber_search_{trigger}")
        conn.exec_driver_sql("DROP TABLE IF EXISTS subscriber_search")
        conn.exec_driver_sql("DROP TABLE IF EXISTS subscriber_search_pending")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql("DROP INDEX IF EXISTS ix_subscribers_email_key_trgm")
        conn.exec_driver_sql("DROP INDEX IF EXISTS ix_subscribers_name_key_trgm")
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
