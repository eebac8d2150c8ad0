"""states as enums: CHECK constraints on every status column

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 21:30:00

The columns stay VARCHAR; each gets a CHECK constraint listing the values of its StrEnum in bulletin/states.py,
so that a typo in code or a hand-made UPDATE is refused. On SQLite the tables are rebuilt (batch mode), rows kept.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: (table, column, values) as they stood when this revision was written: a later change of an enum gets its
#: own revision, so that this one stays what it did.
CHECKS = [
    ("subscribers", "status", ["active", "bounced", "complained", "erased"]),
    ("subscriptions", "status", ["unconfirmed", "subscribed", "unsubscribed", "bounced"]),
    ("events", "kind", ["subscribe", "confirm", "unsubscribe", "resubscribe", "bounce_hard", "bounce_soft",
                        "complaint", "update", "erase"]),
    ("sends", "state", ["scheduled", "running", "done", "cancelled"]),
    ("deliveries", "status", ["pending", "claimed", "sent", "deferred", "failed", "skipped"]),
]


def _condition(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    for table, column, values in CHECKS:
        with op.batch_alter_table(table) as batch:
            batch.create_check_constraint(column, _condition(column, values))


def downgrade() -> None:
    for table, column, _values in reversed(CHECKS):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(column, type_="check")
