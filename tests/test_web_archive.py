"""The public archive on a live server: only issues whose send started, web copies without personal links,
the editions in the reader's language, and the issue's images scaled for phones — nothing else."""

from __future__ import annotations

import datetime as dt
import io

import httpx
import pytest
from PIL import Image

from bulletin.store import db
from bulletin.store.models import MailingList, Send, SendEdition
from web_support import live_site

EMAIL_HTML = ('<html><body><h1>{title}</h1><img src="{{base}}/archive/2023-07/images/photo.png">'
              '<p>Bonjour %%name%% (%%email%%)</p><a href="%%archive_url%%">web</a>'
              '<a href="%%unsubscribe_url%%">unsubscribe</a></body></html>')


@pytest.fixture
def site(make_config, db_url, tmp_path):
    with live_site(make_config, db_url, tmp_path) as s:
        yield s


def add_send(session, ml, slug, state, started, issue_dir="/nonexistent", editions=("fr",)):
    send = Send(issue_slug=slug, issue_dir=str(issue_dir), list_id=ml.id, state=state, language=editions[-1],
                started_at=started and dt.datetime(*started, tzinfo=dt.timezone.utc))
    subjects = {"fr": f"Bulletin {slug}", "en": f"Newsletter {slug}"}
    send.editions = [SendEdition(language=lang, subject=subjects[lang], html=EMAIL_HTML.format(title=subjects[lang]),
                                 text="x") for lang in editions]
    session.add(send)
    return send


@pytest.fixture
def issues(site, tmp_path):
    issue_dir = tmp_path / "2023-07"
    (issue_dir / "images").mkdir(parents=True)
    Image.new("RGB", (2400, 1600), (180, 84, 28)).save(issue_dir / "images" / "photo.png")
    (issue_dir / "secret.txt").write_text("not published")
    with db.session_scope(site.engine) as s:
        ml = MailingList(slug="actualites", name="Actualités")
        other = MailingList(slug="partenaires", name="Partenaires")
        s.add_all([ml, other])
        s.flush()
        add_send(s, ml, "2023-07", "done", (2023, 7, 15), issue_dir, editions=("en", "fr"))
        add_send(s, other, "2023-07", "done", (2023, 7, 16), issue_dir, editions=("en", "fr"))  # same issue again
        add_send(s, ml, "2023-08", "running", (2023, 8, 14), editions=("fr",))
        add_send(s, ml, "2023-09", "scheduled", None, issue_dir)
        add_send(s, ml, "2023-10", "cancelled", None)
    return issue_dir


def test_archive_lists_only_started_sends_once_each(site, issues):
    fr = httpx.get(f"{site.url}/archive", headers={"Accept-Language": "fr"})
    assert fr.status_code == 200
    assert fr.text.count("Bulletin 2023-07") == 1 and "Bulletin 2023-08" in fr.text
    assert "2023-09" not in fr.text and "2023-10" not in fr.text
    assert fr.text.index("2023-08") < fr.text.index("2023-07"), "newest first"
    assert "16 juillet 2023" in fr.text and "15 juillet 2023" not in fr.text, "the date of the latest send"
    en = httpx.get(f"{site.url}/archive", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "Newsletter 2023-07" in en.text
    # 2023-08 has no English edition: the one it was sent in.
    assert "Bulletin 2023-08" in en.text


def test_issue_page_has_no_personal_links(site, issues):
    r = httpx.get(f"{site.url}/archive/2023-07", headers={"Accept-Language": "fr"})
    assert r.status_code == 200 and r.headers["content-language"] == "fr"
    assert "<h1>Bulletin 2023-07</h1>" in r.text
    assert "%%" not in r.text
    assert f'href="{site.url}/archive/2023-07"' in r.text and f'href="{site.url}/subscribe"' in r.text
    assert "/unsubscribe/" not in r.text and "Bonjour  ()" in r.text


def test_issue_page_in_the_readers_language(site, issues):
    assert "<h1>Newsletter 2023-07</h1>" in httpx.get(f"{site.url}/archive/2023-07?lang=en").text
    assert "<h1>Newsletter 2023-07</h1>" in httpx.get(f"{site.url}/archive/2023-07",
                                                     headers={"Accept-Language": "en-GB, fr;q=0.3"}).text
    # No English edition: the one it was sent in.
    assert "<h1>Bulletin 2023-08</h1>" in httpx.get(f"{site.url}/archive/2023-08?lang=en").text


def test_unsent_and_unknown_issues_are_not_found(site, issues):
    for path in ("/archive/2023-09", "/archive/2023-10", "/archive/nope", "/archive/..%2F..",
                 "/archive/2023-09/images/photo.png", "/archive/nope/images/photo.png"):
        r = httpx.get(f"{site.url}{path}", headers={"Accept-Language": "fr"})
        assert r.status_code == 404 and "Page introuvable" in r.text, path
        assert "Bulletin 2023-09" not in r.text


def test_images_are_served_scaled_for_phones(site, issues):
    r = httpx.get(f"{site.url}/archive/2023-07/images/photo.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    width, height = Image.open(io.BytesIO(r.content)).size
    assert width <= 2 * 552 and width / height == pytest.approx(1.5, rel=0.01)
    again = httpx.get(f"{site.url}/archive/2023-07/images/photo.png")
    assert again.content == r.content


def test_nothing_but_the_issues_images_is_served(site, issues):
    for name in ("missing.png", "..%2Fsecret.txt", "%2E%2E", ".hidden", "secret.txt", "..%2F..%2F2023-07%2Fsecret.txt"):
        r = httpx.get(f"{site.url}/archive/2023-07/images/{name}")
        assert r.status_code == 404, name
        assert "not published" not in r.text


def test_healthz(site):
    r = httpx.get(f"{site.url}/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_pages_carry_the_organisations_name_and_logo(make_config, db_url, tmp_path):
    org = '[organisation]\nname = "Association Kènèya Bamako"\nshort_name = "Kènèya"\nlogo = "static/logo.png"\n'
    with live_site(make_config, db_url, tmp_path, sections=org) as site:
        for path in ("/archive", "/subscribe", "/unsubscribe/forged"):
            page = httpx.get(f"{site.url}{path}").text
            assert f'<img src="{site.url}/static/logo.png" alt="Kènèya">' in page, path
            assert "Association Kènèya Bamako" in page and "· Kènèya</title>" in page, path
            assert "IMRAP" not in page, path
