"""The consent rules on their own: every state, every actor (no database)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from bulletin.services import consent
from bulletin.services.consent import Actor
from bulletin.states import SubscriberStatus as P
from bulletin.states import SubscriptionStatus as S

PEOPLE = [None, *P]
SUBSCRIPTIONS = [None, *S]
T0 = dt.datetime(2026, 12, 1, 8, tzinfo=dt.timezone.utc)
LATER = T0 + dt.timedelta(minutes=1)


def _left(person, current):
    return person in (P.BOUNCED, P.COMPLAINED, P.ERASED) or current in (S.UNSUBSCRIBED, S.BOUNCED)


@pytest.mark.parametrize("person, current", list(itertools.product(PEOPLE, SUBSCRIPTIONS)))
def test_admins_and_imports_never_readmit_anyone_who_left(person, current):
    for actor in (Actor.ADMIN, Actor.IMPORT):
        d = consent.join(person, current, actor, list_slug="imrap")
        if _left(person, current):
            assert not d.allowed and d.status == current and not d.changed
            assert d.refused.key == f"consent.{actor}_cannot_readmit"
            how = d.refused.values["how"]
            if person in (P.BOUNCED, P.COMPLAINED, P.ERASED):
                assert how.key == f"consent.person_left.{person}"
            else:
                assert (how.key, how.values) == (f"consent.list_left.{current}", {"list": "imrap"})
        else:
            assert d.allowed and d.status == S.SUBSCRIBED and d.changed == (current != S.SUBSCRIBED)


@pytest.mark.parametrize("person, current", list(itertools.product(PEOPLE, SUBSCRIPTIONS)))
def test_the_person_comes_back_only_with_a_consent_given_after_leaving(person, current):
    stale = consent.join(person, current, Actor.PERSON, consent_at=T0, left_at=LATER)
    fresh = consent.join(person, current, Actor.PERSON, consent_at=LATER, left_at=T0)
    if not _left(person, current):
        assert stale == fresh and fresh.allowed and fresh.status == S.SUBSCRIBED
        return
    assert not stale.allowed and stale.status == current
    if person == P.ERASED:
        assert not fresh.allowed and fresh.refused.key == "consent.erased"
    else:
        assert fresh.allowed and fresh.status == S.SUBSCRIBED
        assert fresh.person == (P.ACTIVE if person in (P.BOUNCED, P.COMPLAINED) else None)


@pytest.mark.parametrize("current", SUBSCRIPTIONS)
def test_leaving_is_never_refused_and_repeating_it_changes_nothing(current):
    d = consent.leave(current)
    assert d.allowed
    if current in (S.SUBSCRIBED, S.UNCONFIRMED):
        assert (d.status, d.changed) == (S.UNSUBSCRIBED, True)
    else:
        assert (d.status, d.changed) == (current, False)


@pytest.mark.parametrize("person, current", list(itertools.product(PEOPLE, SUBSCRIPTIONS)))
def test_undo_revives_only_an_unsubscribed_row_of_an_active_person(person, current):
    d = consent.undo_leave(person, current)
    revived = current == S.UNSUBSCRIBED and person in (None, P.ACTIVE)
    assert (d.status, d.changed) == ((S.SUBSCRIBED, True) if revived else (current, False))


@pytest.mark.parametrize("person, wanted", list(itertools.product(list(P), [None, *P])))
def test_stopping_a_person_always_wins_and_erasure_is_final(person, wanted):
    after = consent.person_status(person, wanted)
    if person == P.ERASED:
        assert after == P.ERASED
    elif wanted in (None, P.ACTIVE):
        assert after == person
    else:
        assert after == wanted


@pytest.mark.parametrize("person, current, wanted", list(itertools.product(PEOPLE, SUBSCRIPTIONS, list(S))))
def test_an_import_takes_every_stop_and_no_start_for_who_left(person, current, wanted):
    d = consent.import_row(person, current, wanted, None, list_slug="imrap")
    if wanted in (S.UNSUBSCRIBED, S.BOUNCED):
        assert d.allowed and d.status == wanted
    elif _left(person, current):
        assert not d.allowed and d.status == current
    elif current == S.SUBSCRIBED:
        assert d.allowed and d.status == S.SUBSCRIBED
    else:
        assert d.allowed and d.status == wanted


def test_the_public_form_never_mails_an_address_that_bounced_but_an_admin_may_invite_it():
    assert consent.may_be_invited(None, Actor.PERSON) and consent.may_be_invited(P.ACTIVE, Actor.PERSON)
    for stopped in (P.BOUNCED, P.COMPLAINED):
        assert not consent.may_be_invited(stopped, Actor.PERSON)
        assert consent.may_be_invited(stopped, Actor.ADMIN)
    assert not consent.may_be_invited(P.ERASED, Actor.ADMIN)
