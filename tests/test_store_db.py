"""Opening the database: SQLite in WAL mode with foreign keys enforced, PostgreSQL through psycopg 3, bad URLs
and unreachable servers as clear errors."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bulletin.errors import ConfigError
from bulletin.store import db
from bulletin.store.models import Subscription


def test_sqlite_wal_and_foreign_keys(sqlite_url):
    engine = db.engine_for(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    with pytest.raises(IntegrityError):
        with db.session_scope(engine) as s:
            s.add(Subscription(subscriber_id=999, list_id=999, status="subscribed"))


@pytest.mark.parametrize("url", ["postgresql://u:p@localhost/bulletin", "postgres://u:p@localhost/bulletin"])
def test_postgresql_urls_use_psycopg_3(url):
    engine = db.create(url)
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_not_a_url_is_a_config_error():
    with pytest.raises(ConfigError, match="is not a database URL"):
        db.engine_for("bulletin.db")


def test_unreachable_server_is_a_config_error():
    with pytest.raises(ConfigError) as exc:
        db.engine_for("postgresql+psycopg://postgres:postgres@127.0.0.1:9/bulletin?connect_timeout=2")
    assert "cannot open the database" in exc.value.what and exc.value.where == "[database].url"


def test_workers_starting_together_on_a_fresh_database_migrate_it_once(db_url, make_config):
    """Three `bulletin worker --drain` started at the same moment on an empty database: one migrates it, the
    others wait for it, and none dies of a table created twice (the schema and APScheduler's job table)."""
    import os
    import subprocess
    import sys

    cfg = make_config(db_url=db_url)
    procs = [
        subprocess.Popen([sys.executable, "-m", "bulletin", "--config", str(cfg.path), "worker", "--drain"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ.copy(), cwd=cfg.path.parent)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    engine = db.engine_for(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM apscheduler_jobs")).scalar() == 0
