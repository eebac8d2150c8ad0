"""Adding, unsubscribing, confirming and inviting one person through the service layer, on both databases:
the rules an admin cannot get around, and the spent confirmation link."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bulletin.errors import BulletinError, NotFoundError
from bulletin.services import subscriptions
from bulletin.services.store import Store
from bulletin.services.subscriptions import ConsentRefused
from bulletin.store import queries
from bulletin.errors import InvalidAddress
from bulletin.store.models import Event, Subscriber, Subscription
from bulletin.tokens import ConfirmToken, UnsubscribeToken


@pytest.fixture
def setup(make_config, db_url):
    cfg = make_config(db_url=db_url)
    store = Store.open(cfg)
    with store.unit_of_work() as uow:
        queries.create_list(uow.session, "imrap", "IMRAP")
        queries.create_list(uow.session, "other", "Other")
    return cfg, store


def _sub(store, email, slug):
    with store.unit_of_work() as uow:
        person = queries.find_subscriber(uow.session, email)
        ml = queries.get_list(uow.session, slug)
        sub = queries.subscription(uow.session, person.id, ml.id)
        return sub.status if sub else None


def _events(store):
    with store.unit_of_work() as uow:
        return sorted(str(k) for k in uow.session.scalars(select(Event.kind)))


def test_unconfirmed_is_confirmed_by_an_admin(setup):
    cfg, store = setup
    with store.unit_of_work() as uow:
        first = subscriptions.add_by_admin(uow, cfg, "imrap", "Awa@Example.org", name="Awa")
        assert (first.outcome, first.membership.email, first.membership.language) == ("added", "Awa@example.org", "fr")
        uow.session.get(Subscription, (first.membership.subscriber_id, first.membership.list_id)).status = "unconfirmed"
    with store.unit_of_work() as uow:
        again = subscriptions.add_by_admin(uow, cfg, "imrap", "awa@example.org", language="anglais")
        assert again.outcome == "confirmed" and again.membership.language == "en"
    assert _sub(store, "awa@example.org", "imrap") == "subscribed"
    assert _events(store) == ["confirm", "subscribe"]


@pytest.mark.parametrize("status", ["bounced", "complained"])
def test_a_bounced_or_complained_address_is_not_added_back(setup, status):
    cfg, store = setup
    with store.unit_of_work() as uow:
        person = subscriptions.add_by_admin(uow, cfg, "imrap", "awa@example.org").membership
        uow.session.get(Subscriber, person.subscriber_id).status = status
    with store.unit_of_work() as uow, pytest.raises(ConsentRefused, match=f"this address {status} before"):
        subscriptions.add_by_admin(uow, cfg, "other", "awa@example.org")
    assert _sub(store, "awa@example.org", "other") is None


def test_an_admin_cannot_readmit_someone_who_unsubscribed(setup):
    cfg, store = setup
    with store.unit_of_work() as uow:
        subscriptions.add_by_admin(uow, cfg, "imrap", "awa@example.org")
        assert subscriptions.unsubscribe_address(uow, "awa@example.org", "imrap") == ["imrap"]
    with store.unit_of_work() as uow, pytest.raises(
        ConsentRefused, match=r"unsubscribed from 'imrap' before: only they can subscribe again"
    ):
        subscriptions.add_by_admin(uow, cfg, "imrap", "awa@example.org")
    assert _sub(store, "awa@example.org", "imrap") == "unsubscribed"


def test_bad_input(setup):
    cfg, store = setup
    with store.unit_of_work() as uow:
        with pytest.raises(InvalidAddress):
            subscriptions.add_by_admin(uow, cfg, "imrap", "awa at example.org")
        with pytest.raises(BulletinError, match="at most 200"):
            subscriptions.add_by_admin(uow, cfg, "imrap", "awa@example.org", name="x" * 201)
        with pytest.raises(BulletinError, match="unknown language 'klingon'"):
            subscriptions.add_by_admin(uow, cfg, "imrap", "awa@example.org", language="klingon")
        with pytest.raises(NotFoundError):
            subscriptions.unsubscribe_address(uow, "nobody@example.org", None)
        subscriptions.add_by_admin(uow, cfg, "imrap", "awa@example.org")
        with pytest.raises(NotFoundError, match="no list named 'nope'"):
            subscriptions.unsubscribe_address(uow, "awa@example.org", "nope")
        with pytest.raises(NotFoundError, match="not on the list 'other'"):
            subscriptions.unsubscribe_address(uow, "awa@example.org", "other")


def _confirm_token(store, email, slug, issued_at):
    with store.unit_of_work() as uow:
        ml = queries.get_list(uow.session, slug)
    return ConfirmToken(email, ml.id, "fr", "Awa", issued_at)


def test_a_confirmation_link_is_spent_once_the_person_left(setup):
    """Confirmed, then unsubscribed by one-click, then the old confirmation link replayed: nothing changes
    and the answer says why (it resubscribed them before)."""
    cfg, store = setup
    asked = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    token = _confirm_token(store, "awa@example.org", "imrap", asked)
    with store.unit_of_work() as uow:
        first = subscriptions.confirm(uow, cfg, token)
    assert first.changed and first.refused is None and first.membership.status == "subscribed"
    with store.unit_of_work() as uow:
        again = subscriptions.confirm(uow, cfg, token)
    assert not again.changed and again.refused is None, "a second click while subscribed is harmless"
    m = first.membership
    with store.unit_of_work() as uow:
        assert subscriptions.unsubscribe(uow, UnsubscribeToken(m.subscriber_id, m.list_id), source="one-click").changed
    with store.unit_of_work() as uow:
        replay = subscriptions.confirm(uow, cfg, token)
    assert not replay.changed and replay.membership.status == "unsubscribed"
    assert replay.refused is not None and replay.refused.key == "consent.link_spent"
    assert "sent before you left" in replay.refused.render("en")
    assert _sub(store, "awa@example.org", "imrap") == "unsubscribed"
    assert _events(store) == ["confirm", "unsubscribe"]
    # A link asked for after leaving is a fresh consent.
    fresh = _confirm_token(store, "awa@example.org", "imrap", dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1))
    with store.unit_of_work() as uow:
        back = subscriptions.confirm(uow, cfg, fresh)
    assert back.changed and back.membership.status == "subscribed"


@pytest.mark.parametrize("status", ["bounced", "complained"])
def test_a_person_stopped_by_the_mail_system_comes_back_only_with_a_fresh_consent(setup, status):
    cfg, store = setup
    old = _confirm_token(store, "awa@example.org", "imrap", dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))
    with store.unit_of_work() as uow:
        m = subscriptions.confirm(uow, cfg, old).membership
    with store.unit_of_work() as uow:
        uow.session.get(Subscriber, m.subscriber_id).status = status
        queries.record_event(uow.session, m.subscriber_id, "bounce_hard" if status == "bounced" else "complaint")
    with store.unit_of_work() as uow:
        assert subscriptions.confirm(uow, cfg, old).refused is not None
    with store.unit_of_work() as uow:
        # the public form sends no mail to such an address; an admin's invitation does
        assert subscriptions.request_subscription(uow, cfg, "awa@example.org", m.list_id, "fr", "") is None
        invitation = subscriptions.invite_by_admin(uow, cfg, "imrap", "awa@example.org")
    assert invitation.email == "awa@example.org"
    fresh = _confirm_token(store, "awa@example.org", "imrap", dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1))
    with store.unit_of_work() as uow:
        back = subscriptions.confirm(uow, cfg, fresh)
    assert back.changed and back.membership.status == "subscribed"
    with store.unit_of_work() as uow:
        assert uow.session.get(Subscriber, m.subscriber_id).status == "active"
