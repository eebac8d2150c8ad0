"""Double opt-in against a live server: the form mails a link, nobody is added before confirming, existing
addresses are not revealed, bad input and bad links change nothing, and the abuse limits hold."""

from __future__ import annotations

import email
import email.policy
import re
import time

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from bulletin.store import db
from bulletin.store.models import Subscriber
from web_support import events, live_site, seed, snapshot, status


def free_port_number() -> int:
    """A port nothing listens on (bound, then closed at once)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

FR = {"Accept-Language": "fr-FR,fr;q=0.9"}


@pytest.fixture
def site(make_config, db_url, tmp_path):
    with live_site(make_config, db_url, tmp_path) as s:
        yield s


@pytest.fixture
def sample(site):
    return seed(site.engine)


def mails(site) -> list[email.message.EmailMessage]:
    site.drain()
    folder = site.outbox / "new"
    files = sorted(folder.glob("*.eml")) if folder.exists() else []
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in files]


def confirm_link(message) -> str:
    body = message.get_body(("plain",)).get_content()
    return re.search(r"(http://\S+/confirm/\S+)", body).group(1)


def test_form_speaks_the_browser_language(site, sample):
    fr = httpx.get(f"{site.url}/subscribe", headers=FR)
    en = httpx.get(f"{site.url}/subscribe", headers={"Accept-Language": "en-GB,en;q=0.8,fr;q=0.5"})
    assert fr.status_code == en.status_code == 200
    assert '<html lang="fr">' in fr.text and "M&#39;abonner" in fr.text
    assert '<html lang="en">' in en.text and ">Subscribe</button>" in en.text
    assert "Lettre aux partenaires" in fr.text and "Actualités de l&#39;IMRAP" in fr.text


def test_nobody_is_added_before_confirming(site, sample):
    before = snapshot(site.engine)
    r = httpx.post(f"{site.url}/subscribe", headers=FR, follow_redirects=False,
                   data={"email": "Mariam@Example.net", "name": "Mariam", "language": "en", "list": "partenaires"})
    assert r.status_code == 200 and "Check your inbox" in r.text  # she chose English
    assert snapshot(site.engine) == before
    [mail] = mails(site)
    assert mail["To"] == "Mariam@example.net"
    assert "Lettre aux partenaires" in mail["Subject"]
    link = confirm_link(mail)
    assert link.startswith(f"{site.url}/confirm/")

    page = httpx.get(link)
    assert page.status_code == 200 and "Confirm my subscription" in page.text
    assert httpx.head(link).status_code == 200
    assert snapshot(site.engine) == before, "following the link (as a mail scanner does) changes nothing"

    done = httpx.post(link, follow_redirects=False)
    assert done.status_code == 200 and "Subscription confirmed" in done.text
    with db.session_scope(site.engine) as s:
        mariam = s.scalar(select(Subscriber).where(Subscriber.email_key == "mariam@example.net"))
        assert (mariam.email, mariam.name, mariam.language) == ("Mariam@example.net", "Mariam", "en")
        mariam_id = mariam.id
    assert status(site.engine, mariam_id, sample.partenaires) == "subscribed"
    assert [(e.kind, e.list_id) for e in events(site.engine)] == [("confirm", sample.partenaires)]

    assert httpx.post(link).status_code == 200
    assert len(events(site.engine)) == 1, "confirming twice records nothing more"


def test_an_existing_address_is_not_revealed(site, sample):
    def ask(address: str) -> httpx.Response:
        return httpx.post(f"{site.url}/subscribe", headers=FR,
                          data={"email": address, "language": "fr", "list": "actualites"})

    new, known = ask("nouveau@example.org"), ask("awa.traore@example.org")
    assert new.status_code == known.status_code == 200
    assert new.text.replace("nouveau@example.org", "X") == known.text.replace("awa.traore@example.org", "X")
    # Confirming again is harmless for the known address: still subscribed, nothing recorded.
    before = snapshot(site.engine)
    [known_mail] = [m for m in mails(site) if m["To"] == "awa.traore@example.org"]
    assert httpx.post(confirm_link(known_mail)).status_code == 200
    assert snapshot(site.engine) == before


def test_a_bounced_address_gets_the_same_page_and_no_mail(site, sample):
    with db.session_scope(site.engine) as s:
        s.get(Subscriber, sample.john).status = "bounced"
    r = httpx.post(f"{site.url}/subscribe", data={"email": "john@example.com", "list": "actualites"})
    assert r.status_code == 200 and "john@example.com" in r.text
    assert mails(site) == []


BAD_FORMS = [
    ({"email": "not an address", "list": "actualites"}, "n&#39;est pas valide"),
    ({"email": "a@", "list": "actualites"}, "n&#39;est pas valide"),
    ({"email": "", "list": "actualites"}, "n&#39;est pas valide"),
    ({"email": "x" * 400 + "@example.org", "list": "actualites"}, "n&#39;est pas valide"),
    ({"email": "ok@example.org", "list": "no-such-list"}, "Choisissez un bulletin"),
    ({"email": "ok@example.org"}, "Choisissez un bulletin"),  # two lists: one must be chosen
]


def test_bad_form_input_is_refused_with_nothing_sent(site, sample):
    before = snapshot(site.engine)
    for form, message in BAD_FORMS:
        r = httpx.post(f"{site.url}/subscribe", headers=FR, data=form)
        assert r.status_code == 400 and message in r.text, form
        assert '<form method="post"' in r.text, "the form comes back to be corrected"
    assert mails(site) == [] and snapshot(site.engine) == before


def test_honeypot_filled_by_a_bot_sends_nothing(site, sample):
    r = httpx.post(f"{site.url}/subscribe", data={"email": "bot@example.org", "list": "actualites",
                                                   "website": "http://spam.example"})
    assert r.status_code == 200 and mails(site) == []


def test_mails_per_address_are_limited_without_telling(site, sample):
    pages = [httpx.post(f"{site.url}/subscribe", data={"email": f"{case}@example.org", "list": "actualites"})
             for case in ("flood", "FLOOD", "Flood", "flood")]
    assert [p.status_code for p in pages] == [200] * 4
    assert len(mails(site)) == site.cfg.web.subscribe_limit_per_address == 3


def test_sub_addresses_count_as_the_mailbox_they_reach(site, sample):
    """`user+tag@` reaches `user@`: three tags do not buy a fourth mail."""
    for tag in ("a", "b", "c", "d"):
        assert httpx.post(f"{site.url}/subscribe",
                          data={"email": f"flood+{tag}@example.org", "list": "actualites"}).status_code == 200
    assert sorted(m["To"] for m in mails(site)) == [f"flood+{t}@example.org" for t in "abc"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_answer_is_the_same_for_every_address_even_with_the_mail_server_down(make_config, db_url, tmp_path):
    """New, subscribed and bounced addresses get the same status and page; a mail server that refuses
    connections changes neither (the mail goes from a queue after the answer)."""
    closed = free_port_number()
    with live_site(make_config, db_url, tmp_path,
                   delivery='transport = "smtp"', sections=f"[smtp]\nhost = \"127.0.0.1\"\nport = {closed}") as site:
        sample = seed(site.engine)
        with db.session_scope(site.engine) as s:
            s.get(Subscriber, sample.john).status = "bounced"

        def ask(address: str) -> httpx.Response:
            return httpx.post(f"{site.url}/subscribe", headers=FR,
                              data={"email": address, "language": "fr", "list": "actualites"})

        pages = {a: ask(a) for a in ("nouveau@example.org", "awa.traore@example.org", "john@example.com")}
        assert {a: r.status_code for a, r in pages.items()} == dict.fromkeys(pages, 200)
        assert len({r.text.replace(a, "X") for a, r in pages.items()}) == 1
        site.drain()  # the mails failed in the background, logged, and nothing else happened


def test_a_confirmation_link_replayed_after_leaving_changes_nothing(site, sample):
    """Confirmed, then unsubscribed by one-click, then the old confirmation link replayed (valid 7 days):
    the person stays unsubscribed and the page says the link is spent."""
    link = f"{site.url}/confirm/{site.tokens.confirm('replay@example.org', sample.actualites, 'fr')}"
    assert httpx.post(link, headers=FR).status_code == 200
    with db.session_scope(site.engine) as s:
        person = s.scalar(select(Subscriber).where(Subscriber.email_key == "replay@example.org"))
    one_click = site.tokens.unsubscribe(person.id, sample.actualites)
    assert httpx.post(f"{site.url}/unsubscribe/{one_click}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    before = snapshot(site.engine)
    replay = httpx.post(link, headers=FR)
    assert replay.status_code == 200
    assert "n&#39;est plus valable" in replay.text and "Lien déjà utilisé" in replay.text
    assert snapshot(site.engine) == before
    assert status(site.engine, person.id, sample.actualites) == "unsubscribed"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_requests_per_ip_are_limited(make_config, db_url, tmp_path):
    with live_site(make_config, db_url, tmp_path, extra="subscribe_limit_per_ip = 2") as site:
        seed(site.engine)
        codes = [httpx.post(f"{site.url}/subscribe", data={"email": f"p{i}@example.org", "list": "actualites"},
                            headers=FR).status_code for i in range(3)]
        assert codes == [200, 200, 429]
        assert len(mails(site)) == 2


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_subscribe_lists_limits_what_the_form_offers(make_config, db_url, tmp_path):
    with live_site(make_config, db_url, tmp_path, extra='subscribe_lists = ["actualites"]') as site:
        seed(site.engine)
        page = httpx.get(f"{site.url}/subscribe")
        assert "Lettre aux partenaires" not in page.text and 'value="actualites"' in page.text
        r = httpx.post(f"{site.url}/subscribe", data={"email": "x@example.org", "list": "partenaires"})
        assert r.status_code == 400 and mails(site) == []
        # With one list offered, the form need not name it.
        assert httpx.post(f"{site.url}/subscribe", data={"email": "x@example.org"}).status_code == 200
        assert len(mails(site)) == 1


class _EightDaysAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 8 * 24 * 3600


def test_bad_confirmation_links_change_nothing(site, sample):
    secret = site.cfg.signing_secret()
    good = site.tokens.confirm("new@example.org", sample.actualites, "fr")
    expired = URLSafeTimedSerializer(secret, salt="bulletin.confirm", signer=_EightDaysAgo).dumps(
        ["new@example.org", sample.actualites, "fr", ""])
    bad = {
        "expired": expired,
        "truncated": good[:-4],
        "altered": good.replace("new", "neu", 1) if "new" in good else "x" + good,
        "forged": URLSafeTimedSerializer(b"guess", salt="bulletin.confirm").dumps(
            ["new@example.org", sample.actualites, "fr", ""]),
        "an unsubscribe token": site.tokens.unsubscribe(sample.awa, sample.actualites),
        "a list that does not exist": site.tokens.confirm("new@example.org", 9999, "fr"),
    }
    # A link that cannot be read is 400; a good link for a list that is gone, 404.
    expected = dict.fromkeys(bad, 400) | {"a list that does not exist": 404}
    before = snapshot(site.engine)
    for what, token in bad.items():
        for method in ("GET", "POST"):
            r = httpx.request(method, f"{site.url}/confirm/{token}", headers=FR, follow_redirects=False)
            assert r.status_code == expected[what], (what, method, r.status_code)
            assert "new@example.org" not in r.text
    assert snapshot(site.engine) == before


def test_two_simultaneous_confirmations_subscribe_once(site, sample):
    from concurrent.futures import ThreadPoolExecutor

    link = f"{site.url}/confirm/{site.tokens.confirm('twice@example.org', sample.actualites, 'fr')}"
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda _: httpx.post(link).status_code, range(4)))
    assert codes == [200] * 4
    with db.session_scope(site.engine) as s:
        assert s.query(Subscriber).filter_by(email_key="twice@example.org").count() == 1
    assert [e.kind for e in events(site.engine)] == ["confirm"]
