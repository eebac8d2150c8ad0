"""The store's shared queries on SQLite and PostgreSQL: who a send goes to, list counts, unsubscribes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, literal, select

from bulletin.errors import BulletinError, NotFoundError
from bulletin.store import db, queries
from bulletin.store.models import Delivery, Event, Send, Subscriber, Subscription


def _people(session, ml, other):
    """Five subscribers on `ml` in every state, and one on another list only."""
    rows = [
        ("awa@example.org", "fr", "active", "subscribed"),
        ("john@example.com", "en", "active", "subscribed"),
        ("moussa@example.org", "fr", "active", "unsubscribed"),
        ("fanta@example.org", "fr", "bounced", "subscribed"),
        ("ines@example.org", "fr", "complained", "subscribed"),
        ("oumar@example.org", "fr", "active", "unconfirmed"),
    ]
    for email, lang, status, sub_status in rows:
        s = Subscriber(email=email, email_key=email, language=lang, status=status, attributes={})
        session.add(s)
        session.flush()
        session.add(Subscription(subscriber_id=s.id, list_id=ml.id, status=sub_status))
    elsewhere = Subscriber(email="else@example.org", email_key="else@example.org", language="fr", attributes={})
    session.add(elsewhere)
    session.flush()
    session.add(Subscription(subscriber_id=elsewhere.id, list_id=other.id, status="subscribed"))
    session.flush()


def test_active_subscribers_are_subscribed_and_active(db_url):
    engine = db.engine_for(db_url)
    with db.session_scope(engine) as s:
        ml = queries.create_list(s, "imrap", "IMRAP")
        other = queries.create_list(s, "partners", "Partenaires")
        _people(s, ml, other)
        got = s.execute(queries.active_subscribers_select(ml.id)).all()
        assert sorted((r.email, r.language) for r in got) == [("awa@example.org", "fr"), ("john@example.com", "en")]


def test_active_subscribers_snapshot_in_one_insert_select(db_url):
    engine = db.engine_for(db_url)
    with db.session_scope(engine) as s:
        ml = queries.create_list(s, "imrap", "IMRAP")
        other = queries.create_list(s, "partners", "Partenaires")
        _people(s, ml, other)
        send = Send(issue_slug="2023-07", issue_dir="issues/2023-07", list_id=ml.id)
        s.add(send)
        s.flush()
        s.execute(
            insert(Delivery).from_select(
                ["subscriber_id", "email", "language", "send_id"],
                queries.active_subscribers_select(ml.id).add_columns(literal(send.id)),
            )
        )
        rows = s.execute(select(Delivery.email, Delivery.status, Delivery.attempts).order_by(Delivery.email)).all()
        assert [tuple(r) for r in rows] == [("awa@example.org", "pending", 0), ("john@example.com", "pending", 0)]


def test_unsubscribe_is_recorded_once(db_url):
    engine = db.engine_for(db_url)
    with db.session_scope(engine) as s:
        ml = queries.create_list(s, "imrap", "IMRAP")
        other = queries.create_list(s, "partners", "Partenaires")
        _people(s, ml, other)
        awa = queries.find_subscriber(s, "AWA@Example.org")
        assert awa is not None
        assert queries.unsubscribe(s, awa.id, ml.id, source="cli") is True
        assert queries.unsubscribe(s, awa.id, ml.id, source="cli") is False
        assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == "unsubscribe")) == 1
        assert s.scalar(select(Subscription.status).where(Subscription.subscriber_id == awa.id)) == "unsubscribed"


def test_list_counts_and_bad_slugs(db_url):
    engine = db.engine_for(db_url)
    with db.session_scope(engine) as s:
        ml = queries.create_list(s, "imrap", "IMRAP")
        other = queries.create_list(s, "partners", "Partenaires")
        _people(s, ml, other)
        counts = {m.slug: c for m, c in queries.list_counts(s)}
        assert counts["imrap"] == {"subscribed": 4, "unsubscribed": 1, "unconfirmed": 1}
        assert counts["partners"] == {"subscribed": 1}
        with pytest.raises(BulletinError, match="exists already"):
            queries.create_list(s, "imrap", "again")
        with pytest.raises(BulletinError, match="lower-case"):
            queries.create_list(s, "Bad Slug", "x")
        with pytest.raises(NotFoundError):
            queries.get_list(s, "nope")
