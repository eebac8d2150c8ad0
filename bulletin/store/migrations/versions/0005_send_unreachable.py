"""sends: why a running send waits for its mail server (unreachable_server, unreachable_error, unreachable_since,
next_try_at)

Revision ID: 0005_send_unreachable
Revises: 0004_lists_and_people
Create Date: 2026-12-01 23:40:00

While no connection can reach the mail server, a send waits as a whole and tries again later; these columns say
which server, its last error, since when and the next try, for `bulletin status` and the workspace.
"""

from alembic import op
import sqlalchemy as sa

revision = "0005_send_unreachable"
down_revision = "0004_lists_and_people"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unreachable_server", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("unreachable_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("unreachable_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.drop_column("next_try_at")
        batch_op.drop_column("unreachable_since")
        batch_op.drop_column("unreachable_error")
        batch_op.drop_column("unreachable_server")
