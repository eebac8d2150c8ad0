"""Batched writes for imports, one statement per batch on each backend.

SQLite takes executemany at C speed. On PostgreSQL, executemany and multi-row VALUES both send or parse one
placeholder per value (about 100 µs a row through psycopg); `unnest()` of one array per column sends a batch as a
few parameters of one short statement, which PostgreSQL plans once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, any_, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Integer, String

from bulletin.store.models import Subscriber, Subscription

S = Subscriber.__table__
SUB = Subscription.__table__


def _pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


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
    """Insert new subscribers (email, email_key, name, language, status, attributes); returns (id, email_key)."""
    if not rows:
        return []
    if _pg(conn):
        return [tuple(r) for r in conn.execute(
            text(
                "INSERT INTO subscribers (email, email_key, name, language, status, attributes, created_at, updated_at)"
                " SELECT e, k, n, l, s, a::json, :now, :now"
                " FROM unnest(CAST(:e AS text[]), CAST(:k AS text[]), CAST(:n AS text[]), CAST(:l AS text[]),"
                " CAST(:s AS text[]), CAST(:a AS text[])) AS t(e, k, n, l, s, a)"
                " RETURNING id, email_key"
            ),
            {"now": now, "e": [r["email"] for r in rows], "k": [r["email_key"] for r in rows],
             "n": [r["name"] for r in rows], "l": [r["language"] for r in rows], "s": [r["status"] for r in rows],
             "a": [json.dumps(r["attributes"]) for r in rows]},
        )]
    stamped = [{**r, "created_at": now, "updated_at": now} for r in rows]
    return [tuple(r) for r in conn.execute(insert(S).returning(S.c.id, S.c.email_key), stamped)]


def update_subscribers(conn: Connection, rows: list[dict[str, Any]], now: dt.datetime) -> None:
    """Set name, language, status and attributes of existing subscribers (rows carry their `id`)."""
    if not rows:
        return
    if _pg(conn):
        conn.execute(
            text(
                "UPDATE subscribers SET name = u.n, language = u.l, status = u.s, attributes = u.a::json,"
                " updated_at = :now"
                " FROM unnest(CAST(:i AS integer[]), CAST(:n AS text[]), CAST(:l AS text[]), CAST(:s AS text[]),"
                " CAST(:a AS text[])) AS u(i, n, l, s, a) WHERE subscribers.id = u.i"
            ),
            {"now": now, "i": [r["id"] for r in rows], "n": [r["name"] for r in rows],
             "l": [r["language"] for r in rows], "s": [r["status"] for r in rows],
             "a": [json.dumps(r["attributes"]) for r in rows]},
        )
        return
    conn.execute(
        update(S).where(S.c.id == bindparam("b_id")).values(
            name=bindparam("b_name"), language=bindparam("b_language"), status=bindparam("b_status"),
            attributes=bindparam("b_attributes"), updated_at=now,
        ),
        [{f"b_{k}": v for k, v in r.items()} for r in rows],
    )


def insert_subscriptions(conn: Connection, list_id: int, rows: list[tuple[int, str]], source: str,
                         now: dt.datetime) -> None:
    """Subscribe (subscriber id, status) pairs to the list."""
    if not rows:
        return
    if _pg(conn):
        conn.execute(
            text(
                "INSERT INTO subscriptions (subscriber_id, list_id, status, source, created_at, updated_at)"
                " SELECT i, :list_id, s, :source, :now, :now"
                " FROM unnest(CAST(:i AS integer[]), CAST(:s AS text[])) AS t(i, s)"
            ),
            {"list_id": list_id, "source": source, "now": now, "i": [i for i, _ in rows], "s": [s for _, s in rows]},
        )
        return
    conn.execute(
        insert(SUB),
        [{"subscriber_id": i, "list_id": list_id, "status": s, "source": source, "created_at": now,
          "updated_at": now} for i, s in rows],
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
    conn.execute(
        update(SUB)
        .where(and_(SUB.c.subscriber_id == bindparam("b_id"), SUB.c.list_id == list_id))
        .values(status=bindparam("b_status"), source=source, updated_at=now),
        [{"b_id": i, "b_status": s} for i, s in rows],
    )
