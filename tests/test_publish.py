"""Publishing (issue 12: a test send's images answered 404; delivered mail read its images live from the issue
folder, so moving or editing the folder changed or broke mail already delivered).

At a send and at a test send, the scaled images and the icons of each edition are stored under the SHA-256 of
their bytes and the message loads them from /media/HASH.EXT under [web].base_url, through a real SMTP server and
a live `bulletin serve`."""

from __future__ import annotations

import email
import email.policy
import hashlib
import html
import os
import re
import shutil
import socket
import threading
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from bulletin.cli import main
from bulletin.store import db
from bulletin.store.models import PublishedFile
from web_support import live_site, seed, snapshot

ISSUES = Path(__file__).resolve().parent.parent / "issues"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
SOCIAL = '[organisation.social]\nfacebook = "https://www.facebook.com/institutmalienpourlapaix"\n'
TEST_ADDRESSES = ["officer@imrap-mali.org", "director@imrap-mali.org", "Awa.Traore@example.org"]


class Inbox:
    def __init__(self):
        self.messages: list[tuple[str, email.message.EmailMessage]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.messages.extend((rcpt, message) for rcpt in envelope.rcpt_tos)
        return "250 2.0.0 accepted"


@pytest.fixture
def site(make_config, db_url, tmp_path):
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    smtp = f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\ntimeout = 10.0\n'
    try:
        with live_site(make_config, db_url, tmp_path, delivery='transport = "smtp"', sections=smtp + SOCIAL) as s:
            s.inbox = inbox
            yield s
    finally:
        controller.stop()


def _issue(tmp_path: Path, slug: str = "2023-07") -> Path:
    folder = tmp_path / "issues" / slug
    shutil.copytree(ISSUES / slug, folder)
    return folder


def _images(html: str) -> list[str]:
    return re.findall(r'<img[^>]*\ssrc="([^"]+)"', html)


def _html(message) -> str:
    return message.get_body(("html",)).get_content()


def _edition(message) -> str:
    subject = str(message["Subject"])
    assert subject.startswith("[TEST] ") or not subject.startswith("[")
    return "en" if "IMRAP Newsletter" in subject else "fr"


def test_a_test_send_to_several_addresses_shows_its_images(site, tmp_path, capsys):
    seed(site.engine)
    issue = _issue(tmp_path)
    assert main(["--config", str(site.cfg.path), "send", str(issue), "--to", TEST_ADDRESSES[0],
                 "--to", ",".join(TEST_ADDRESSES[1:]), "--list", "actualites"]) == 0
    received = site.inbox.messages
    assert sorted((rcpt.lower(), _edition(m)) for rcpt, m in received) == \
        sorted((a.lower(), lang) for a in TEST_ADDRESSES for lang in ("fr", "en"))
    sources = {src for _rcpt, m in received for src in _images(_html(m))}
    assert len(sources) == 3, "the sample's two images and the Facebook icon"
    for src in sources:
        assert re.fullmatch(rf"{re.escape(site.url)}/media/[0-9a-f]{{64}}\.(jpg|png)", src), src
        r = httpx.get(src)
        assert r.status_code == 200 and r.headers["content-type"] in ("image/jpeg", "image/png")
        assert hashlib.sha256(r.content).hexdigest() == src.rsplit("/", 1)[1].split(".")[0], "named by its bytes"
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    for _rcpt, m in received:
        assert "/archive/2023-07/images/" not in _html(m) and "/email/icons/" not in _html(m)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_test_send_s_unsubscribe_link_says_it_was_a_test_and_changes_nothing(site, tmp_path):
    sample = seed(site.engine)
    issue = _issue(tmp_path)
    before = snapshot(site.engine)
    # Awa is on the list: her test still unsubscribes nobody.
    assert main(["--config", str(site.cfg.path), "send", str(issue), "--to", "awa.traore@example.org",
                 "--list", "actualites"]) == 0
    pages = {}
    for _rcpt, m in site.inbox.messages:
        url = m["List-Unsubscribe"].strip("<>")
        assert url in _html(m) and url in m.get_body(("plain",)).get_content(), "the same link in the footer"
        language = _edition(m)
        pages[language] = httpx.get(url)
        one_click = httpx.post(url, data={"List-Unsubscribe": "One-Click"}, follow_redirects=False)
        assert one_click.status_code == 200 and one_click.text == pages[language].text
        assert httpx.post(f"{url}/undo", follow_redirects=False).status_code == 200
    assert pages["fr"].status_code == pages["en"].status_code == 200
    fr, en = (html.unescape(pages[lang].text) for lang in ("fr", "en"))
    assert "C'était un test" in fr and "Rien n'a été modifié\u00a0: personne n'a été désabonné." in fr
    assert "This was a test" in en and "Nothing was changed: nobody was unsubscribed." in en
    assert '<html lang="fr">' in fr and '<html lang="en">' in en
    assert snapshot(site.engine) == before
    assert sample.awa


def test_delivered_images_still_load_after_the_issue_folder_is_moved_away(site, tmp_path):
    seed(site.engine)
    issue = _issue(tmp_path)
    assert main(["--config", str(site.cfg.path), "send", str(issue), "--list", "actualites"]) == 0
    html = _html(dict((r.lower(), m) for r, m in site.inbox.messages)["awa.traore@example.org"])
    sources = _images(html)
    before = {src: httpx.get(src).content for src in sources}
    assert len(before) == 3 and all(before.values())

    shutil.move(str(issue), str(tmp_path / "elsewhere"))
    assert not issue.exists()
    for src, data in before.items():
        r = httpx.get(src)
        assert (r.status_code, r.content) == (200, data), src
    page = httpx.get(f"{site.url}/archive/2023-07", headers={"Accept-Language": "fr"})
    assert page.status_code == 200 and sorted(set(_images(page.text))) == sorted(set(sources)), \
        "the archive reads the same files"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_publishing_again_stores_each_file_once(site, tmp_path):
    seed(site.engine)
    issue = _issue(tmp_path)
    for args in (["--to", "officer@imrap-mali.org"], ["--list", "actualites"], ["--list", "partenaires"]):
        assert main(["--config", str(site.cfg.path), "send", str(issue), *args]) == 0
    with db.session_scope(site.engine) as s:
        assert s.scalar(select(func.count()).select_from(PublishedFile)) == 3


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_other_media_addresses_are_not_found(site, tmp_path):
    seed(site.engine)
    assert main(["--config", str(site.cfg.path), "send", str(_issue(tmp_path)), "--to", "o@imrap-mali.org"]) == 0
    src = _images(_html(site.inbox.messages[0][1]))[0]
    digest, ext = src.rsplit("/", 1)[1].split(".")
    other = "png" if ext == "jpg" else "jpg"
    for name in (f"{digest}.{other}", f"{'0' * 64}.{ext}", f"{digest[:40]}.{ext}", f"{digest}.{ext}.txt",
                 "..%2F..%2Fbulletin.toml", f"{digest.upper()}.{ext}"):
        assert httpx.get(f"{site.url}/media/{name}").status_code == 404, name
    assert httpx.get(src).status_code == 200


@pytest.mark.browser
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_test_send_renders_with_every_image_loaded_at_375_px(site, tmp_path):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: .ci/run must install it")
        pytest.skip("no Debian chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    seed(site.engine)
    assert main(["--config", str(site.cfg.path), "send", str(_issue(tmp_path)), "--to", "officer@imrap-mali.org",
                 "--to", "director@imrap-mali.org"]) == 0
    messages = {(rcpt, _edition(m)): _html(m) for rcpt, m in site.inbox.messages}
    assert len(messages) == 4
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                                    "--disable-background-networking"])
        try:
            for (rcpt, edition), body in sorted(messages.items()):
                page = browser.new_page(viewport={"width": 375, "height": 740})
                page.set_content(body, wait_until="load")
                images = page.evaluate("[...document.images].map(i => [i.src, i.complete, i.naturalWidth])")
                width = page.evaluate("document.documentElement.scrollWidth")
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / f"test-send-{edition}-375.png"), full_page=True)
                page.close()
                assert len(images) == 3 and all(src.startswith(f"{site.url}/media/") for src, _, _ in images)
                assert [src for src, complete, w in images if not complete or w == 0] == [], (rcpt, edition)
                assert width <= 375, (rcpt, edition)
        finally:
            browser.close()
