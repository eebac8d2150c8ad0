"""The migrations build exactly the models' schema, on SQLite and PostgreSQL, and run down and up again."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

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


def _rows(engine, table, columns: list[str] | None = None):
    """Every row of `table` (its `columns`, else all of them)."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"SELECT {', '.join(columns or ['*'])} FROM {table} ORDER BY 1"))]


def _columns(engine, table) -> list[str]:
    return [c["name"] for c in inspect(engine).get_columns(table)]


def test_a_database_made_before_the_state_checks_upgrades_with_its_rows(db_url):
    """A database at revision 0001 (as main made it before the states became enums) keeps every row through
    the upgrade, and then refuses a status that is not one."""
    engine = db.create(db_url)
    command.upgrade(db.alembic_config(engine), "0001")
    now = "2026-11-30 10:00:00+00:00"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO lists (id, slug, name, created_at) VALUES (1, 'news', 'News', :now)"),
                     {"now": now})
        conn.execute(text(
            "INSERT INTO subscribers (id, email, email_key, name, language, status, attributes, created_at, "
            "updated_at) VALUES (1, 'A@example.org', 'a@example.org', 'Awa', 'fr', 'bounced', '{}', :now, :now)"
        ), {"now": now})
        conn.execute(text(
            "INSERT INTO subscriptions (subscriber_id, list_id, status, source, created_at, updated_at) "
            "VALUES (1, 1, 'unsubscribed', 'web', :now, :now)"
        ), {"now": now})
        conn.execute(text(
            "INSERT INTO events (id, subscriber_id, list_id, kind, at, detail, source) "
            "VALUES (1, 1, 1, 'unsubscribe', :now, '', 'one-click')"
        ), {"now": now})
    tables = ("lists", "subscribers", "subscriptions", "events")
    columns = {t: _columns(engine, t) for t in tables}
    before = {t: _rows(engine, t) for t in tables}
    db.upgrade(engine)
    assert {t: _rows(engine, t, columns[t]) for t in tables} == before
    assert _diff(engine) == []
    # The columns added since: a list's description empty, the name as searched filled in, no IP address known.
    assert _rows(engine, "lists", ["description", "archived_at"]) == [("", None)]
    assert _rows(engine, "subscribers", ["name_key"]) == [("awa",)]
    assert _rows(engine, "events", ["ip"]) == [("",)]
    assert _rows(engine, "subscriptions", ["added_by"]) == [("web",)]
    checks = {c["name"] for c in inspect(engine).get_check_constraints("subscriptions")}
    assert "ck_subscriptions_status" in checks
    with pytest.raises(IntegrityError):
        with engine.begin() as conn:
            conn.execute(text("UPDATE subscriptions SET status = 'subscribd'"))
    assert _rows(engine, "subscriptions", columns["subscriptions"]) == before["subscriptions"]
    engine.dispose()


@pytest.mark.parametrize("table, column", [
    ("subscribers", "status"), ("subscriptions", "status"), ("events", "kind"), ("sends", "state"),
    ("deliveries", "status"), ("sends", "waiting"), ("schedule_log", "step"), ("users", "role"),
    ("users", "status"),
])
def test_every_state_column_has_its_check_constraint(db_url, table, column):
    engine = db.engine_for(db_url)
    names = {c["name"] for c in inspect(engine).get_check_constraints(table)}
    assert f"ck_{table}_{column}" in names


def test_sends_made_before_approvals_keep_their_rows_and_wait_for_nothing(db_url):
    """A database at 0003_accounts with a scheduled send and its edition: after the upgrade the send is the same, with no
    fingerprint (it is sent from its stored edition, as before) and not waiting; a wrong reason is refused."""
    engine = db.create(db_url)
    command.upgrade(db.alembic_config(engine), "0003_accounts")
    now = "2026-11-30 10:00:00+00:00"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO lists (id, slug, name, created_at) VALUES (1, 'news', 'News', :now)"),
                     {"now": now})
        conn.execute(text(
            "INSERT INTO sends (id, issue_slug, issue_dir, language, list_id, state, scheduled_at, created_at, total) "
            "VALUES (1, '2026-11', '/srv/issues/2026-11', 'fr', 1, 'scheduled', :now, :now, 0)"), {"now": now})
        conn.execute(text(
            "INSERT INTO send_editions (send_id, language, subject, preheader, html, text) "
            "VALUES (1, 'fr', 'Novembre', '', '<p>x</p>', 'x')"))
    before = {t: _rows(engine, t) for t in ("lists", "sends", "send_editions")}
    db.upgrade(engine)
    assert _rows(engine, "send_editions") == before["send_editions"]
    assert [r[:len(before["sends"][0])] for r in _rows(engine, "sends")] == before["sends"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT fingerprint, waiting, waiting_since FROM sends")).one() == (None, None, None)
    assert _diff(engine) == []
    with pytest.raises(IntegrityError):
        with engine.begin() as conn:
            conn.execute(text("UPDATE sends SET waiting = 'bored'"))
    engine.dispose()
