"""Batched writes for imports, one statement per batch on each backend.

On SQLite, executemany runs at C speed once SQLAlchemy's per-row parameter processing is out of the way: the
constant timestamp is converted once, and the rows go to the driver as tuples. On PostgreSQL, executemany and
multi-row VALUES both send or parse one placeholder per value (about 100 µs a row through psycopg); `unnest()` of one array per column sends a batch as a
few parameters of one short statement, which PostgreSQL plans once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Connection, MetaData, Table, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Integer, String

from bulletin.store.models import Subscriber, Subscription, name_key

S = Subscriber.__table__
SUB = Subscription.__table__

#: The addresses an import has met so far, with their first line: kept by the database, so that the importer's
#: memory does not grow with the file. Temporary: private to the connection, gone with the transaction.
SEEN = Table(
    "import_seen",
    MetaData(),
    Column("email_key", String(320), primary_key=True),
    Column("line", Integer, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


def _pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _stamp(conn: Connection, now: dt.datetime) -> Any:
    """`now` as the driver stores it in a timestamp column (converted once for a whole batch)."""
    process = S.c.created_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return process(now) if process else now


def _json(conn: Connection):
    process = S.c.attributes.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return process or (lambda v: v)


def find_subscribers(conn: Connection, keys: Sequence[str]):
    """The existing subscribers among these addresses (by email_key): rows of id, email_key, name, language,
    status, attributes."""
    cols = (S.c.id, S.c.email_key, S.c.name, S.c.language, S.c.status, S.c.attributes)
    if _pg(conn):
        where = S.c.email_key == any_(bindparam("keys", list(keys), type_=ARRAY(String)))
    else:
        where = S.c.email_key.in_(list(keys))
    return conn.execute(select(*cols).where(where)).all()


def find_subscriptions(conn: Connection, list_id: int, subscriber_ids: Sequence[int]) -> dict[int, str]:
    """subscriber id -> subscription status on this list, for those of `subscriber_ids` that have one."""
    if not subscriber_ids:
        return {}
    if _pg(conn):
        ids = SUB.c.subscriber_id == any_(bindparam("ids", list(subscriber_ids), type_=ARRAY(Integer)))
    else:
        ids = SUB.c.subscriber_id.in_(list(subscriber_ids))
    return dict(conn.execute(select(SUB.c.subscriber_id, SUB.c.status).where(SUB.c.list_id == list_id, ids)).all())


def insert_subscribers(conn: Connection, rows: list[dict[str, Any]], now: dt.datetime) -> list[tuple[int, str]]:
    """Insert new subscribers (email, email_key, name, language, status, attributes); returns (id, email_key).
    The name as searched (name_key) is written with the name."""
    if not rows:
        return []
    if _pg(conn):
        return [tuple(r) for r in conn.execute(
            text(
                "INSERT INTO subscribers (email, email_key, name, name_key, language, status, attributes,"
                " created_at, updated_at)"
                " SELECT e, k, n, nk, l, s, a::json, :now, :now"
                " FROM unnest(CAST(:e AS text[]), CAST(:k AS text[]), CAST(:n AS text[]), CAST(:nk AS text[]),"
                " CAST(:l AS text[]), CAST(:s AS text[]), CAST(:a AS text[])) AS t(e, k, n, nk, l, s, a)"
                " RETURNING id, email_key"
            ),
            {"now": now, "e": [r["email"] for r in rows], "k": [r["email_key"] for r in rows],
             "n": [r["name"] for r in rows], "nk": [name_key(r["name"]) for r in rows],
             "l": [r["language"] for r in rows], "s": [r["status"] for r in rows],
             "a": [json.dumps(r["attributes"]) for r in rows]},
        )]
    stamp, as_json = _stamp(conn, now), _json(conn)
    conn.exec_driver_sql(
        "INSERT INTO subscribers (email, email_key, name, name_key, language, status, attributes, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(r["email"], r["email_key"], r["name"], name_key(r["name"]), r["language"], r["status"],
          as_json(r["attributes"]), stamp, stamp) for r in rows],
    )
    # sqlite3's executemany returns no rows: read the new ids back by address (unique, indexed).
    return [tuple(r) for r in conn.execute(
        select(S.c.id, S.c.email_key).where(S.c.email_key.in_([r["email_key"] for r in rows]))
    )]


def update_subscribers(conn: Connection, rows: list[dict[str, Any]], now: dt.datetime) -> None:
    """Set name, language, status and attributes of existing subscribers (rows carry their `id`)."""
    if not rows:
        return
    if _pg(conn):
        conn.execute(
            text(
                "UPDATE subscribers SET name = u.n, name_key = u.nk, language = u.l, status = u.s,"
                " attributes = u.a::json, updated_at = :now"
                " FROM unnest(CAST(:i AS integer[]), CAST(:n AS text[]), CAST(:nk AS text[]), CAST(:l AS text[]),"
                " CAST(:s AS text[]), CAST(:a AS text[])) AS u(i, n, nk, l, s, a) WHERE subscribers.id = u.i"
            ),
            {"now": now, "i": [r["id"] for r in rows], "n": [r["name"] for r in rows],
             "nk": [name_key(r["name"]) for r in rows],
             "l": [r["language"] for r in rows], "s": [r["status"] for r in rows],
             "a": [json.dumps(r["attributes"]) for r in rows]},
        )
        return
    stamp, as_json = _stamp(conn, now), _json(conn)
    conn.exec_driver_sql(
        "UPDATE subscribers SET name = ?, name_key = ?, language = ?, status = ?, attributes = ?, updated_at = ?"
        " WHERE id = ?",
        [(r["name"], name_key(r["name"]), r["language"], r["status"], as_json(r["attributes"]), stamp, r["id"])
         for r in rows],
    )


def insert_subscriptions(conn: Connection, list_id: int, rows: list[tuple[int, str]], source: str,
                         now: dt.datetime) -> None:
    """Subscribe (subscriber id, status) pairs to the list."""
    if not rows:
        return
    if _pg(conn):
        conn.execute(
            text(
                "INSERT INTO subscriptions (subscriber_id, list_id, status, source, added_by, created_at, updated_at)"
                " SELECT i, :list_id, s, :source, :source, :now, :now"
                " FROM unnest(CAST(:i AS integer[]), CAST(:s AS text[])) AS t(i, s)"
            ),
            {"list_id": list_id, "source": source, "now": now, "i": [i for i, _ in rows], "s": [s for _, s in rows]},
        )
        return
    stamp = _stamp(conn, now)
    conn.exec_driver_sql(
        "INSERT INTO subscriptions (subscriber_id, list_id, status, source, added_by, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(i, list_id, status, source, source, stamp, stamp) for i, status in rows],
    )


def update_subscriptions(conn: Connection, list_id: int, rows: list[tuple[int, str]], source: str,
                         now: dt.datetime) -> None:
    """Set the status of (subscriber id, status) pairs on the list."""
    if not rows:
        return
    if _pg(conn):
        conn.execute(
            text(
                "UPDATE subscriptions SET status = u.s, source = :source, updated_at = :now"
                " FROM unnest(CAST(:i AS integer[]), CAST(:s AS text[])) AS u(i, s)"
                " WHERE subscriptions.subscriber_id = u.i AND subscriptions.list_id = :list_id"
            ),
            {"list_id": list_id, "source": source, "now": now, "i": [i for i, _ in rows], "s": [s for _, s in rows]},
        )
        return
    stamp = _stamp(conn, now)
    conn.exec_driver_sql(
        "UPDATE subscriptions SET status = ?, source = ?, updated_at = ? WHERE subscriber_id = ? AND list_id = ?",
        [(status, source, stamp, i, list_id) for i, status in rows],
    )


def start_seen(conn: Connection) -> None:
    if not _pg(conn):
        # sqlite3 runs DDL outside the transaction, so a rolled-back import (a dry run) leaves the table behind.
        SEEN.drop(conn, checkfirst=True)
    SEEN.create(conn)


def end_seen(conn: Connection) -> None:
    """Drop the table on SQLite (PostgreSQL drops it at commit, and a rollback undoes its creation)."""
    if not _pg(conn):
        SEEN.drop(conn)


def seen_lines(conn: Connection, keys: Sequence[str]) -> dict[str, int]:
    """address -> first line, for those of `keys` met in earlier batches."""
    if _pg(conn):
        where = SEEN.c.email_key == any_(bindparam("keys", list(keys), type_=ARRAY(String)))
    else:
        where = SEEN.c.email_key.in_(list(keys))
    return dict(conn.execute(select(SEEN.c.email_key, SEEN.c.line).where(where)).all())


def mark_seen(conn: Connection, rows: list[tuple[str, int]]) -> None:
    """Remember (address, first line) pairs."""
    if not rows:
        return
    if _pg(conn):
        conn.execute(
            text("INSERT INTO import_seen (email_key, line)"
                 " SELECT * FROM unnest(CAST(:k AS text[]), CAST(:n AS integer[]))"),
            {"k": [k for k, _ in rows], "n": [n for _, n in rows]},
        )
        return
    conn.exec_driver_sql("INSERT INTO import_seen (email_key, line) VALUES (?, ?)", rows)
