"""The migrations build exactly the models' schema, on SQLite and PostgreSQL, and run down and up again."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from bulletin.store import db
from bulletin.store.models import Base


def _diff(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(ctx, Base.metadata)


def test_migrations_match_the_models(db_url):
    engine = db.engine_for(db_url)
    assert _diff(engine) == []
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == db.head_revision()


def test_downgrade_to_nothing_then_upgrade_again(db_url):
    engine = db.engine_for(db_url)
    command.downgrade(db.alembic_config(engine), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    db.upgrade(engine)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    assert _diff(engine) == []


def test_first_use_migrates_once(db_url):
    """A second engine on a database already at head changes nothing and does not fail."""
    first = db.engine_for(db_url)
    db.dispose_all()
    second = db.engine_for(db_url)
    assert second is not first
    assert _diff(second) == []
