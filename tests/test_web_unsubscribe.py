"""Unsubscribe links against a live server: GET/HEAD change nothing, POST one-click unsubscribes exactly one
subscription, repeats are harmless, and bad tokens change nothing — on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from bulletin.tokens import Tokens
from web_support import events, live_site, seed, snapshot, status


@pytest.fixture
def site(make_config, db_url, tmp_path):
    with live_site(make_config, db_url, tmp_path) as s:
        yield s


@pytest.fixture
def sample(site):
    return seed(site.engine)


def post(url: str, **kw) -> httpx.Response:
    r = httpx.post(url, follow_redirects=False, **kw)
    assert not r.is_redirect, r.headers.get("location")
    return r


def test_get_and_head_show_a_button_and_change_nothing(site, sample):
    token = site.tokens.unsubscribe(sample.awa, sample.actualites, sample.send)
    before = snapshot(site.engine)
    r = httpx.get(f"{site.url}/unsubscribe/{token}", follow_redirects=False)
    assert r.status_code == 200
    assert "Voulez-vous vous désinscrire" in r.text and "Actualités de l&#39;IMRAP" in r.text
    assert f'action="{site.url}/unsubscribe/{token}"' in r.text and "<button" in r.text
    assert r.headers["cache-control"] == "no-store" and "set-cookie" not in r.headers
    assert "default-src 'none'" in r.headers["content-security-policy"]
    h = httpx.head(f"{site.url}/unsubscribe/{token}")
    assert h.status_code == 200 and h.content == b""
    assert snapshot(site.engine) == before


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_unsubscribes_exactly_that_subscriber_from_that_list(site, sample, encoding):
    token = site.tokens.unsubscribe(sample.awa, sample.actualites, sample.send)
    if encoding == "urlencoded":
        r = post(f"{site.url}/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
        assert r.request.headers["content-type"] == "application/x-www-form-urlencoded"
    else:
        r = post(f"{site.url}/unsubscribe/{token}", files={"List-Unsubscribe": (None, "One-Click")})
        assert r.request.headers["content-type"].startswith("multipart/form-data")
    assert r.status_code == 200 and "Vous êtes désinscrit" in r.text
    assert "set-cookie" not in r.headers
    assert status(site.engine, sample.awa, sample.actualites) == "unsubscribed"
    assert status(site.engine, sample.awa, sample.partenaires) == "subscribed"
    assert status(site.engine, sample.john, sample.actualites) == "subscribed"
    [ev] = events(site.engine)
    assert (ev.subscriber_id, ev.list_id, ev.send_id, ev.kind, ev.source) == (
        sample.awa, sample.actualites, sample.send, "unsubscribe", "one-click")
    assert ev.at is not None

    again = post(f"{site.url}/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200
    assert len(events(site.engine)) == 1, "a repeated POST records nothing more"


def test_button_post_with_empty_body_and_undo(site, sample):
    token = site.tokens.unsubscribe(sample.john, sample.actualites)
    r = post(f"{site.url}/unsubscribe/{token}")
    assert r.status_code == 200 and "You are unsubscribed" in r.text  # John reads English
    assert f'action="{site.url}/unsubscribe/{token}/undo"' in r.text
    assert status(site.engine, sample.john, sample.actualites) == "unsubscribed"

    undo = post(f"{site.url}/unsubscribe/{token}/undo")
    assert undo.status_code == 200 and "subscribed again" in undo.text
    assert status(site.engine, sample.john, sample.actualites) == "subscribed"
    assert [(e.kind, e.source, e.send_id) for e in events(site.engine)] == [
        ("unsubscribe", "web", None), ("resubscribe", "web:undo", None)]


def test_undo_does_not_revive_a_bounced_subscription(site, sample):
    from bulletin.store import db
    from bulletin.store.models import Subscription

    with db.session_scope(site.engine) as s:
        s.get(Subscription, (sample.john, sample.actualites)).status = "bounced"
    token = site.tokens.unsubscribe(sample.john, sample.actualites)
    before = snapshot(site.engine)
    assert post(f"{site.url}/unsubscribe/{token}").status_code == 200
    assert post(f"{site.url}/unsubscribe/{token}/undo").status_code == 200
    assert snapshot(site.engine) == before


def _tampered(site, sample) -> dict[str, str]:
    good = site.tokens.unsubscribe(sample.awa, sample.actualites, sample.send)
    payload, _, sig = good.rpartition(".")
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    return {
        "forged with another secret": Tokens(b"not-the-secret").unsubscribe(sample.awa, sample.actualites),
        "truncated": good[:-5],
        "altered signature": f"{payload}.{flipped}",
        "altered payload": Tokens(b"x").unsubscribe(sample.john, sample.actualites).rpartition(".")[0] + "." + sig,
        "other list (never subscribed)": site.tokens.unsubscribe(sample.john, sample.partenaires),
        "list that does not exist": site.tokens.unsubscribe(sample.awa, 9999),
        "a confirmation token": site.tokens.confirm("awa.traore@example.org", sample.actualites, "fr"),
        "garbage": "not-a-token",
    }


def test_bad_tokens_are_refused_and_change_nothing(site, sample):
    before = snapshot(site.engine)
    for what, token in _tampered(site, sample).items():
        for method, path in (("GET", ""), ("POST", ""), ("POST", "/undo")):
            r = httpx.request(method, f"{site.url}/unsubscribe/{token}{path}", data={"List-Unsubscribe": "One-Click"},
                              follow_redirects=False)
            assert r.status_code == 400, (what, method, r.status_code)
            assert "awa" not in r.text.lower() and "john" not in r.text.lower(), what
            assert "Traceback" not in r.text
    assert snapshot(site.engine) == before


def test_a_body_that_is_not_a_form_still_unsubscribes(site, sample):
    token = site.tokens.unsubscribe(sample.john, sample.actualites)
    r = post(f"{site.url}/unsubscribe/{token}", content=b"\x00garbage",
             headers={"Content-Type": "multipart/form-data"})  # no boundary: unparseable
    assert r.status_code == 200
    assert status(site.engine, sample.john, sample.actualites) == "unsubscribed"
    assert [e.source for e in events(site.engine)] == ["web"]
