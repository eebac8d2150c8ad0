"""People and lists through the service layer, on SQLite and PostgreSQL: the search (any part of an address or a
name, accents and case ignored, filters, pages) against the same search done in Python; a person's history;
erasure, after which no import, form or admin brings the address back; archived lists; the rules of list names."""

from __future__ import annotations

import datetime as dt
import random
import unicodedata

import pytest
from sqlalchemy import func, insert, select

from bulletin.errors import NotFoundError
from bulletin.services import imports, lists, people, subscriptions
from bulletin.services.audit import Actor
from bulletin.services.errors import InputRefused
from bulletin.services.store import Store
from bulletin.services.subscriptions import ConsentRefused
from bulletin.states import SubscriberStatus
from bulletin.store import people as people_rows
from bulletin.store import queries
from bulletin.store.models import (AuditEntry, Delivery, ErasedAddress, Event, Send, Subscriber, Subscription,
                                   name_key)
from bulletin.tokens import ConfirmToken, UnsubscribeToken

ADMIN = Actor(None, "admin@imrap-mali.org", "192.0.2.7")
NOW = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.timezone.utc)
FIRST = ["Awa", "Moussa", "Fanta", "Bakary", "Mariam", "Oumar", "Aïssata", "Hélène", "N'Golo", "Zoë"]
LAST = ["Traoré", "Koné", "Diarra", "Coulibaly", "Dembélé", "Sangaré", "Maïga", "Touré", "Cissé", "Keïta"]


@pytest.fixture
def setup(make_config, db_url):
    cfg = make_config(db_url=db_url)
    store = Store.open(cfg)
    with store.unit_of_work() as uow:
        lists.create_list(uow, "imrap", "Actualités de l'IMRAP")
        lists.create_list(uow, "atelier", "Atelier de Ségou")
    return cfg, store


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


# -- the search -----------------------------------------------------------------------------------------------------

def _people(store, n: int, seed: int = 5) -> list[dict]:
    """n people with names and addresses like a real list's, some on each list, in several statuses, written
    with plain INSERTs (as a bulk writer would)."""
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        local = f"{_fold(first).replace(chr(39), '')}.{_fold(last)}{i}"
        email = f"{local}@{rnd.choice(['example.org', 'mail.example.com', 'ong_mali.example'])}"
        if i % 97 == 0:
            email = email.replace(".", "_", 1)  # an underscore: not a LIKE wildcard here
        rows.append({"email": email, "email_key": email.lower(), "name": f"{first} {last}",
                     "name_key": name_key(f"{first} {last}"), "language": rnd.choice(["fr", "en"]),
                     "status": rnd.choice(["active"] * 8 + ["bounced", "complained"]), "attributes": {},
                     "created_at": NOW, "updated_at": NOW})
    with store.unit_of_work() as uow:
        uow.session.execute(insert(Subscriber), rows)
        ids = dict(uow.session.execute(select(Subscriber.email_key, Subscriber.id)).all())
        imrap, atelier = queries.get_list(uow.session, "imrap").id, queries.get_list(uow.session, "atelier").id
        subs = []
        for r in rows:
            r["id"] = ids[r["email_key"]]
            r["lists"] = {}
            for list_id, slug in ((imrap, "imrap"), (atelier, "atelier")):
                if rnd.random() < 0.6:
                    status = rnd.choice(["subscribed"] * 5 + ["unconfirmed", "unsubscribed", "bounced"])
                    subs.append({"subscriber_id": r["id"], "list_id": list_id, "status": status, "source": "test",
                                 "added_by": "test", "created_at": NOW, "updated_at": NOW})
                    r["lists"][slug] = status
        uow.session.execute(insert(Subscription), subs)
    return rows


def _expected(rows, query="", list_slug="", status="", language=""):
    q = _fold(query)
    out = []
    for r in rows:
        if q and q not in r["email_key"] and q not in r["name_key"]:
            continue
        if language and r["language"] != language:
            continue
        on = r["lists"]
        if status in ("subscribed", "unconfirmed", "unsubscribed"):
            ok = on.get(list_slug) == status if list_slug else status in on.values()
        elif status == "bounced":
            ok = (on.get(list_slug) == "bounced" if list_slug else "bounced" in on.values()) or \
                 (r["status"] == "bounced" and (not list_slug or list_slug in on))
        elif status in ("complained", "erased"):
            ok = r["status"] == status and (not list_slug or list_slug in on)
        else:
            ok = not list_slug or list_slug in on
        if ok:
            out.append(r["email"])
    return sorted(out, key=str.lower)


def _all_pages(store, **kw) -> list[str]:
    found, after = [], ""
    for _ in range(1000):
        with store.unit_of_work() as uow:
            page = people.search(uow, after=after, limit=40, **kw)
        found += [p.email for p in page.rows]
        if page.next_after is None:
            return found
        after = page.next_after
    raise AssertionError("the pages never end")


@pytest.mark.parametrize("dense", [2000, 25], ids=["few", "many"])
def test_the_search_finds_what_a_reading_of_every_row_finds(setup, monkeypatch, dense):
    cfg, store = setup
    monkeypatch.setattr(people_rows, "DENSE", dense)  # 25: the filters' people are read in address order
    rows = _people(store, 600)
    cases = [dict(query="traore"), dict(query="TRAORÉ"), dict(query="aïs"), dict(query="ngolo"),
             dict(query="n'golo"), dict(query="a"), dict(query="ko"), dict(query="e.org"), dict(query="ong_mali"),
             dict(query="_"), dict(query="%"), dict(query="mariam.dembele1"), dict(query="zoë keïta"),
             dict(query="@mail.example.com"), dict(query="nobody-at-all"),
             dict(list_slug="atelier", status="subscribed"), dict(status="bounced"),
             dict(list_slug="imrap", status="bounced"), dict(status="complained", language="en"),
             dict(query="diarra", list_slug="imrap", status="unconfirmed"), dict(language="fr", query="cisse"),
             dict(list_slug="atelier")]
    for case in cases:
        assert _all_pages(store, **case) == _expected(rows, **case), case
    assert len(_expected(rows, query="traore")) > 20


def test_a_rename_is_searched_at_once(setup):
    cfg, store = setup
    _people(store, 50)
    with store.unit_of_work() as uow:
        person = uow.session.scalar(select(Subscriber).where(Subscriber.name_key.like("%coulibaly%")).limit(1))
        old = person.name_key
        assert person.email in [p.email for p in people.search(uow, query=old).rows]
        person.name = "Kadiatou Sidibé"
    with store.unit_of_work() as uow:
        assert [p.email for p in people.search(uow, query="sidibe").rows] == [person.email]
        assert person.email not in [p.email for p in people.search(uow, query=old).rows]


def test_an_unknown_list_in_the_search_is_said_an_unknown_status_filters_nothing(setup):
    cfg, store = setup
    with store.unit_of_work() as uow:
        with pytest.raises(InputRefused) as e:
            people.search(uow, list_slug="nulle-part")
        assert e.value.field == "list" and e.value.message.render("fr") == "Aucune liste «\u00a0nulle-part\u00a0»."
        people.add(uow, cfg, "awa@example.org", "imrap", actor=ADMIN, now=NOW)
        assert [p.email for p in people.search(uow, status="nonsense").rows] == ["awa@example.org"]


# -- one person -----------------------------------------------------------------------------------------------------

def _confirm(store, cfg, email, slug, *, ip="198.51.100.4", issued=None):
    with store.unit_of_work() as uow:
        list_id = queries.get_list(uow.session, slug).id
    token = ConfirmToken(email, list_id, "fr", "Awa Traoré", issued or dt.datetime.now(dt.timezone.utc))
    return store.run(subscriptions.confirm, cfg, token, ip=ip)


def test_a_persons_history_says_how_when_and_from_where(setup):
    cfg, store = setup
    outcome = _confirm(store, cfg, "awa@example.org", "imrap")
    pid = outcome.membership.subscriber_id
    with store.unit_of_work() as uow:
        list_id = queries.get_list(uow.session, "imrap").id
        send = Send(issue_slug="2026-11", issue_dir="/x", list_id=list_id, state="done", started_at=NOW)
        uow.session.add(send)
        uow.session.flush()
        uow.session.add(Delivery(send_id=send.id, subscriber_id=pid, email="awa@example.org", language="fr",
                                 status="sent", attempts=1, sent_at=NOW))
        queries.record_event(uow.session, pid, "bounce_soft", send_id=send.id, source="bounce:<x@mx>",
                             detail="452 4.2.2 mailbox full")
        send_id = send.id
    with store.unit_of_work() as uow:
        subscriptions.unsubscribe(uow, UnsubscribeToken(pid, list_id, send_id), source="one-click", ip="203.0.113.9")
    with store.unit_of_work() as uow:
        people.add(uow, cfg, "awa@example.org", "atelier", actor=ADMIN, now=NOW)
        p = people.person(uow, pid)
    kinds = [(e.kind, e.list_slug, e.send_id, e.ip, e.source) for e in p.events]
    assert ("confirm", "imrap", None, "198.51.100.4", "web") in kinds
    assert ("unsubscribe", "imrap", send_id, "203.0.113.9", "one-click") in kinds
    assert ("subscribe", "atelier", None, "", "admin:admin@imrap-mali.org") in kinds
    bounce = next(e for e in p.events if e.kind == "bounce_soft")
    assert bounce.detail == "452 4.2.2 mailbox full" and bounce.issue == "2026-11"
    assert [(d.send_id, d.issue, d.status) for d in p.deliveries] == [(send_id, "2026-11", "sent")]
    assert {m.slug: (m.status, m.added_by) for m in p.memberships} == {
        "imrap": ("unsubscribed", "web"), "atelier": ("subscribed", "admin:admin@imrap-mali.org")}


def test_name_and_language_are_changed_with_an_event_and_an_audit_entry(setup):
    cfg, store = setup
    with store.unit_of_work() as uow:
        pid = people.add(uow, cfg, "moussa@example.org", "imrap", name="Moussa", actor=ADMIN, now=NOW) \
            .membership.subscriber_id
    with store.unit_of_work() as uow:
        for name, language, field in (("x" * 201, "fr", "name"), ("Moussa Koné", "bambara", "language")):
            with pytest.raises(InputRefused) as e:
                people.update(uow, cfg, pid, name=name, language=language, actor=ADMIN, now=NOW)
            assert e.value.field == field
        assert people.update(uow, cfg, pid, name="  Moussa   Koné ", language="English", actor=ADMIN, now=NOW)
        assert not people.update(uow, cfg, pid, name="Moussa Koné", language="en", actor=ADMIN, now=NOW)
    with store.unit_of_work() as uow:
        p = people.person(uow, pid)
        entries = uow.session.execute(select(AuditEntry.action, AuditEntry.object_id, AuditEntry.detail, AuditEntry.ip)
                                      .where(AuditEntry.action == "subscriber.edit")).all()
        found = [x.id for x in people.search(uow, query="kone").rows]
    assert (p.name, p.language) == ("Moussa Koné", "en") and found == [pid]
    assert [e.detail for e in p.events if e.kind == "update"] == ["name; language: fr -> en"]
    assert entries == [("subscriber.edit", str(pid), "name; language: fr -> en", "192.0.2.7")]


def test_unsubscribing_one_list_or_all_and_refusing_a_list_they_are_not_on(setup):
    cfg, store = setup
    with store.unit_of_work() as uow:
        pid = people.add(uow, cfg, "fanta@example.org", "imrap", actor=ADMIN, now=NOW).membership.subscriber_id
        people.add(uow, cfg, "fanta@example.org", "atelier", actor=ADMIN, now=NOW)
    with store.unit_of_work() as uow:
        assert people.unsubscribe(uow, pid, "imrap", actor=ADMIN, now=NOW) == ["imrap"]
        assert people.unsubscribe(uow, pid, "imrap", actor=ADMIN, now=NOW) == []
        assert people.unsubscribe(uow, pid, None, actor=ADMIN, now=NOW) == ["atelier"]
    with store.unit_of_work() as uow:
        uow.session.execute(insert(Subscriber).values(email="x@example.org", email_key="x@example.org", name="",
                                                       language="fr", status="active", attributes={}))
        other = uow.session.scalar(select(Subscriber.id).where(Subscriber.email_key == "x@example.org"))
        with pytest.raises(InputRefused):
            people.unsubscribe(uow, other, "imrap", actor=ADMIN, now=NOW)
        with pytest.raises(NotFoundError):
            people.person(uow, 10**6)
        # Who left can only be invited back, never added back by an admin.
        with pytest.raises(ConsentRefused):
            people.add(uow, cfg, "fanta@example.org", "imrap", actor=ADMIN, now=NOW)
        invitation = people.invitation(uow, cfg, pid, "imrap")
    assert (invitation.email, invitation.list_name) == ("fanta@example.org", "Actualités de l'IMRAP")


# -- erasure ----------------------------------------------------------------------------------------------------------

def test_erasure_keeps_an_anonymous_row_and_the_address_never_comes_back(setup, tmp_path):
    cfg, store = setup
    issued_before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    outcome = _confirm(store, cfg, "Awa.Traore@example.org", "imrap")
    pid = outcome.membership.subscriber_id
    with store.unit_of_work() as uow:
        people.add(uow, cfg, "awa.traore@example.org", "atelier", name="Awa Traoré", actor=ADMIN, now=NOW)
        list_id = queries.get_list(uow.session, "imrap").id
        send = Send(issue_slug="2026-11", issue_dir="/x", list_id=list_id, state="done", started_at=NOW)
        uow.session.add(send)
        uow.session.flush()
        uow.session.add(Delivery(send_id=send.id, subscriber_id=pid, email="Awa.Traore@example.org",
                                 language="fr", status="failed", last_error="550 <Awa.Traore@example.org> unknown"))
        queries.record_event(uow.session, pid, "bounce_hard", send_id=send.id, detail="550 <Awa.Traore@example.org>")
        exported = people.export(uow, pid, actor=ADMIN, now=NOW)
    assert exported["subscriber"]["email"] == "Awa.Traore@example.org"
    assert {e["kind"] for e in exported["events"]} == {"confirm", "subscribe", "bounce_hard"}
    with store.unit_of_work() as uow:
        people.erase(uow, cfg, pid, actor=ADMIN, now=NOW)
    with store.unit_of_work() as uow:
        s = uow.session
        p = s.get(Subscriber, pid)
        assert (p.email, p.name, p.attributes, p.status) == (f"erased-{pid}@erased.invalid", "", {}, "erased")
        assert {sub.status for sub in s.scalars(select(Subscription).where(Subscription.subscriber_id == pid))} \
            == {"unsubscribed"}
        assert all(e.detail == "" and e.ip == "" for e in s.scalars(select(Event).where(Event.subscriber_id == pid)))
        d = s.scalar(select(Delivery).where(Delivery.subscriber_id == pid))
        assert (d.email, d.last_error) == (f"erased-{pid}@erased.invalid", None)
        assert s.scalar(select(func.count()).select_from(ErasedAddress)) == 1
        dump = " ".join(str(v) for row in s.execute(select(ErasedAddress.digest, Event.detail, Event.source)
                                                    .join(Event, Event.subscriber_id == pid)) for v in row)
        assert "traore" not in dump.lower()
        assert people.search(uow, query="traore").rows == []
        with pytest.raises(InputRefused):
            people.erase(uow, cfg, pid, actor=ADMIN, now=NOW)
        counts = dict((ml.slug, c) for ml, c in queries.list_counts(s))
    assert counts["imrap"] == {"unsubscribed": 1} and counts["atelier"] == {"unsubscribed": 1}

    # Nobody brings the address back, whatever its case: an admin, an invitation, the form, its old link, a file.
    with store.unit_of_work() as uow:
        for call in (lambda: people.add(uow, cfg, "AWA.TRAORE@example.org", "imrap", actor=ADMIN, now=NOW),
                     lambda: subscriptions.invite_by_admin(uow, cfg, "imrap", "awa.traore@example.org")):
            with pytest.raises(ConsentRefused) as e:
                call()
            assert e.value.message.key == "consent.erased"
        assert subscriptions.request_subscription(uow, cfg, "awa.traore@example.org", list_id, "fr", "") is None
    refused = _confirm(store, cfg, "awa.traore@example.org", "imrap", issued=issued_before)
    assert refused.refused.key == "consent.erased" and not refused.changed
    csv = tmp_path / "retour.csv"
    csv.write_text("email;nom\nAWA.traore@example.org;Awa\nnouveau@example.org;Nouveau\n", encoding="utf-8")
    with store.unit_of_work() as uow:
        report = imports.import_file(uow, cfg, csv, "imrap")
    assert report.added == 1 and [(n.line, n.reason) for n in report.not_resubscribed] == [
        (2, "this address was erased at its owner's request: not re-subscribed by an import")]
    assert report.not_resubscribed[0].text("fr") == \
        "cette adresse a été effacée à la demande de son titulaire\u00a0: pas réabonné par un import"
    with store.unit_of_work() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Subscriber)) == 2
        assert queries.find_subscriber(uow.session, "awa.traore@example.org") is None


# -- lists --------------------------------------------------------------------------------------------------------------

def test_an_archived_list_takes_no_new_subscriptions_and_leaves_the_form(setup, tmp_path):
    cfg, store = setup
    with store.unit_of_work() as uow:
        pid = people.add(uow, cfg, "awa@example.org", "atelier", actor=ADMIN, now=NOW).membership.subscriber_id
    with store.unit_of_work() as uow:
        lists.archive_list(uow, "atelier", actor=ADMIN, now=NOW)
        lists.archive_list(uow, "atelier", actor=ADMIN, now=NOW)  # twice: one audit entry
    csv = tmp_path / "a.csv"
    csv.write_text("email\nnew@example.org\n", encoding="utf-8")
    with store.unit_of_work() as uow:
        assert [ml.slug for ml in subscriptions.subscribable_lists(uow, cfg)] == ["imrap"]
        for call in (lambda: people.add(uow, cfg, "moussa@example.org", "atelier", actor=ADMIN, now=NOW),
                     lambda: subscriptions.invite_by_admin(uow, cfg, "atelier", "moussa@example.org"),
                     lambda: imports.import_file(uow, cfg, csv, "atelier")):
            with pytest.raises(InputRefused) as e:
                call()
            assert e.value.message.key == "list.archived"
        summary = next(s for s in lists.list_summaries(uow, languages=True) if s.slug == "atelier")
        assert summary.archived and summary.counts == {"subscribed": 1} and summary.languages == {"fr": 1}
        assert people.unsubscribe(uow, pid, "atelier", actor=ADMIN, now=NOW) == ["atelier"]
        archived = uow.session.scalar(select(func.count()).select_from(AuditEntry)
                                      .where(AuditEntry.action == "list.archive"))
    assert archived == 1
    with pytest.raises(NotFoundError):
        _confirm(store, cfg, "moussa@example.org", "atelier")
    with store.unit_of_work() as uow:
        lists.restore_list(uow, "atelier", actor=ADMIN, now=NOW)
    assert _confirm(store, cfg, "moussa@example.org", "atelier").changed


@pytest.mark.parametrize("slug, name, description, field, key", [
    ("Bad Slug", "Nom", "", "slug", "list.slug.invalid"),
    ("imrap", "Nom", "", "slug", "list.exists"),
    ("neuve", "   ", "", "name", "list.name.required"),
    ("neuve", "n" * 201, "", "name", "list.name.long"),
    ("neuve", "Nom", "d" * 2001, "description", "list.description.long"),
])
def test_a_list_refuses_a_bad_slug_name_or_description_next_to_the_field(setup, slug, name, description, field, key):
    cfg, store = setup
    with store.unit_of_work() as uow:
        with pytest.raises(InputRefused) as e:
            lists.create_list(uow, slug, name, description, actor=ADMIN, now=NOW)
        assert (e.value.field, e.value.message.key) == (field, key)
        assert e.value.message.render("fr") and e.value.message.render("en") != e.value.message.render("fr")
        assert len(lists.list_summaries(uow)) == 2


def test_a_list_is_renamed_and_described_with_an_audit_entry(setup):
    cfg, store = setup
    with store.unit_of_work() as uow:
        lists.update_list(uow, "atelier", "Atelier de Ségou (mars)", "  Les inscrits.\r\nÀ relancer. ",
                          actor=ADMIN, now=NOW)
        lists.update_list(uow, "atelier", "Atelier de Ségou (mars)", "Les inscrits.\nÀ relancer.",
                          actor=ADMIN, now=NOW)
    with store.unit_of_work() as uow:
        found = lists.get_list(uow, "atelier")
        log = uow.session.execute(select(AuditEntry.action, AuditEntry.detail)
                                  .where(AuditEntry.object_type == "list")).all()
    assert (found.name, found.description) == ("Atelier de Ségou (mars)", "Les inscrits.\nÀ relancer.")
    assert log == [("list.edit", "name: Atelier de Ségou -> Atelier de Ségou (mars); description")]


def test_erasing_a_person_is_final_for_the_consent_rules_too(setup):
    cfg, store = setup
    with store.unit_of_work() as uow:
        pid = people.add(uow, cfg, "zoe@example.org", "imrap", actor=ADMIN, now=NOW).membership.subscriber_id
        people.erase(uow, cfg, pid, actor=ADMIN, now=NOW)
    with store.unit_of_work() as uow:
        assert people.person(uow, pid).status == SubscriberStatus.ERASED
        with pytest.raises(InputRefused):
            people.update(uow, cfg, pid, name="Zoë", language="fr", actor=ADMIN, now=NOW)
        with pytest.raises(InputRefused):
            people.invitation(uow, cfg, pid, "imrap")
        assert people.lists_to_offer(people.person(uow, pid), lists.list_summaries(uow)) == ([], [])
