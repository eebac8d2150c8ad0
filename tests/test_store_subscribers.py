"""Adding and unsubscribing one address: the rules an admin cannot get around."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bulletin.errors import BulletinError, NotFoundError
from bulletin.store import db, queries
from bulletin.store.addresses import InvalidAddress
from bulletin.store.models import Event, Subscription
from bulletin.store.subscribers import add_subscriber, unsubscribe_address

LANGS = dict(languages=["fr", "en"], default_language="fr")


def test_unconfirmed_is_confirmed_by_an_admin(db_url):
    with db.session_scope(db.engine_for(db_url)) as s:
        ml = queries.create_list(s, "imrap", "IMRAP")
        first = add_subscriber(s, ml, "Awa@Example.org", name="Awa", language=None, **LANGS)
        assert (first.outcome, first.subscriber.email, first.subscriber.language) == ("added", "Awa@example.org", "fr")
        s.get(Subscription, (first.subscriber.id, ml.id)).status = "unconfirmed"
        again = add_subscriber(s, ml, "awa@example.org", name=None, language="anglais", **LANGS)
        assert again.outcome == "confirmed" and again.subscriber.language == "en"
        assert s.get(Subscription, (first.subscriber.id, ml.id)).status == "subscribed"
        assert sorted(s.scalars(select(Event.kind))) == ["confirm", "subscribe"]


@pytest.mark.parametrize("status", ["bounced", "complained"])
def test_a_bounced_or_complained_address_is_not_added_back(db_url, status):
    with db.session_scope(db.engine_for(db_url)) as s:
        ml = queries.create_list(s, "imrap", "IMRAP")
        other = queries.create_list(s, "other", "Other")
        person = add_subscriber(s, ml, "awa@example.org", name=None, language=None, **LANGS).subscriber
        person.status = status
        with pytest.raises(BulletinError, match=f"this address {status} before"):
            add_subscriber(s, other, "awa@example.org", name=None, language=None, **LANGS)
        assert s.get(Subscription, (person.id, other.id)) is None


def test_bad_input(sqlite_url):
    with db.session_scope(db.engine_for(sqlite_url)) as s:
        ml = queries.create_list(s, "imrap", "IMRAP")
        with pytest.raises(InvalidAddress):
            add_subscriber(s, ml, "awa at example.org", name=None, language=None, **LANGS)
        with pytest.raises(BulletinError, match="at most 200"):
            add_subscriber(s, ml, "awa@example.org", name="x" * 201, language=None, **LANGS)
        with pytest.raises(NotFoundError):
            unsubscribe_address(s, "nobody@example.org", None)
        with pytest.raises(NotFoundError, match="no list named 'nope'"):
            add_subscriber(s, ml, "awa@example.org", name=None, language=None, **LANGS)
            unsubscribe_address(s, "awa@example.org", "nope")
