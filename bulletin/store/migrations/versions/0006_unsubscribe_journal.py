"""the unsubscribe journal: unsubscribes written before the lists are changed, applied when the database allows

Revision ID: 0006_unsubscribe_journal
Revises: 0005_send_unreachable
Create Date: 2026-12-02 00:30:00

On PostgreSQL this table is the journal; on SQLite the journal is the same table in a file of its own beside the
database (SQLite's one writer would hold it up), and this one stays empty.
"""

from alembic import op
import sqlalchemy as sa

revision = "0006_unsubscribe_journal"
down_revision = "0005_send_unreachable"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unsubscribe_journal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("list_id", sa.Integer(), nullable=True),
        sa.Column("send_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unsubscribe_journal")),
    )
    op.create_index(op.f("ix_unsubscribe_journal_email_key"), "unsubscribe_journal", ["email_key"], unique=False)
    op.create_index(op.f("ix_unsubscribe_journal_applied_at"), "unsubscribe_journal", ["applied_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_unsubscribe_journal_applied_at"), table_name="unsubscribe_journal")
    op.drop_index(op.f("ix_unsubscribe_journal_email_key"), table_name="unsubscribe_journal")
    op.drop_table("unsubscribe_journal")
