"""sends: why a send waits for its mail server (waiting_server, waiting_error, waiting_since, next_try_at)

Revision ID: 0002_send_waiting
Revises: 0001
Create Date: 2026-12-01 22:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002_send_waiting'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sends', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waiting_server', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('waiting_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('waiting_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('next_try_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sends', schema=None) as batch_op:
        batch_op.drop_column('next_try_at')
        batch_op.drop_column('waiting_since')
        batch_op.drop_column('waiting_error')
        batch_op.drop_column('waiting_server')
