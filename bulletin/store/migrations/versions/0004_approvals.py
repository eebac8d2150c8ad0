"""approvals, published files, the monthly schedule's log; sends keep their fingerprint and why they wait

Revision ID: 0004_approvals
Revises: 0003_accounts
Create Date: 2026-12-01 21:45:00

- `approvals`: who approved which version (fingerprint) of an issue, and when.
- `published_files`: images and icons as mailed, under the SHA-256 of their bytes (served at /media/).
- `schedule_log`: what the monthly schedule did for a month and list (reminder, alert, missed, sent), once each.
- `sends.fingerprint`, `sends.waiting`, `sends.waiting_since`: a scheduled send is sent from its folder when it
  fires, only if the folder still has the fingerprint it was scheduled (or approved) with; otherwise it waits.
Existing sends get no fingerprint and are sent as before, from the editions stored with them.
"""

from alembic import op
import sqlalchemy as sa

revision = "0004_approvals"
down_revision = "0003_accounts"
branch_labels = None
depends_on = None

#: The values as they stood when this revision was written (a later change gets its own revision).
STEPS = ["reminder", "alert", "missed", "sent"]
WAIT_REASONS = ["changed", "missing", "errors"]


def _condition(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_slug", sa.String(length=200), nullable=False),
        sa.Column("issue_dir", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
    )
    op.create_index(op.f("ix_approvals_issue_slug"), "approvals", ["issue_slug"], unique=False)
    op.create_table(
        "published_files",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_published_files")),
    )
    op.create_table(
        "schedule_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("list_slug", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(_condition("step", STEPS), name="step"),
        sa.ForeignKeyConstraint(["send_id"], ["sends.id"], name=op.f("fk_schedule_log_send_id_sends"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_log")),
        sa.UniqueConstraint("month", "list_slug", "step", name=op.f("uq_schedule_log_month")),
    )
    with op.batch_alter_table("sends") as batch:
        batch.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("waiting", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint("waiting", _condition("waiting", WAIT_REASONS))


def downgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.drop_constraint("waiting", type_="check")
        batch.drop_column("waiting_since")
        batch.drop_column("waiting")
        batch.drop_column("fingerprint")
    op.drop_table("schedule_log")
    op.drop_table("published_files")
    op.drop_index(op.f("ix_approvals_issue_slug"), table_name="approvals")
    op.drop_table("approvals")
