"""End to end with delivery: `bulletin send` through a real SMTP server, the List-Unsubscribe URL of a received
message POSTed one-click to the live web service, then the next send to that list does not reach that person."""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import socket
import threading
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from bulletin.cli import main
from bulletin.store.models import Send
from bulletin.store import db
from web_support import events, live_site, seed, status

ISSUES = Path(__file__).resolve().parent.parent / "issues"


class Inbox:
    """An aiosmtpd handler keeping each accepted message with its recipient."""

    def __init__(self):
        self.messages: list[tuple[str, email.message.EmailMessage]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.messages.extend((rcpt, message) for rcpt in envelope.rcpt_tos)
        return "250 2.0.0 accepted"

    def take(self) -> dict[str, email.message.EmailMessage]:
        with self.lock:
            taken, self.messages = self.messages, []
        return {rcpt.lower(): message for rcpt, message in taken}


@pytest.fixture
def smtp():
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd checks readiness by connecting to the port it was given
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def send(cfg, issue: str, list_slug: str, tmp_path: Path) -> None:
    folder = tmp_path / "issues" / issue
    if not folder.exists():
        shutil.copytree(ISSUES / issue, folder)
    assert main(["--config", str(cfg.path), "send", str(folder), "--list", list_slug]) == 0


def test_one_click_from_a_received_message_stops_the_next_send(make_config, db_url, tmp_path, smtp):
    inbox, port = smtp
    smtp_section = f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\ntimeout = 10.0\n'
    with live_site(make_config, db_url, tmp_path, delivery='transport = "smtp"', sections=smtp_section) as site:
        sample = seed(site.engine)
        send(site.cfg, "2023-07", "actualites", tmp_path)
        first = inbox.take()
        assert set(first) == {"awa.traore@example.org", "john@example.com"}

        message = first["awa.traore@example.org"]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        url = re.fullmatch(r"<([^>]+)>", message["List-Unsubscribe"].strip()).group(1)
        assert url.startswith(f"{site.url}/unsubscribe/")
        html = message.get_body(("html",)).get_content()
        assert url in html, "the footer shows the same link"

        # What a mailbox provider does for RFC 8058: POST the URL with this one body, no cookies, no redirects.
        r = httpx.post(url, data={"List-Unsubscribe": "One-Click"}, follow_redirects=False)
        assert r.status_code == 200
        assert status(site.engine, sample.awa, sample.actualites) == "unsubscribed"
        assert status(site.engine, sample.awa, sample.partenaires) == "subscribed"
        with db.session_scope(site.engine) as s:
            first_send = s.query(Send).filter_by(issue_slug="2023-07", list_id=sample.actualites).one().id
        [ev] = [e for e in events(site.engine) if e.kind == "unsubscribe"]
        assert (ev.subscriber_id, ev.list_id, ev.send_id) == (sample.awa, sample.actualites, first_send)

        send(site.cfg, "2022-08", "actualites", tmp_path)
        assert set(inbox.take()) == {"john@example.com"}
        send(site.cfg, "2022-08", "partenaires", tmp_path)
        assert set(inbox.take()) == {"awa.traore@example.org"}, "only that list"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_sent_issue_is_in_the_archive_with_its_images(make_config, db_url, tmp_path, smtp):
    inbox, port = smtp
    smtp_section = f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\ntimeout = 10.0\n'
    with live_site(make_config, db_url, tmp_path, delivery='transport = "smtp"', sections=smtp_section) as site:
        seed(site.engine)
        send(site.cfg, "2023-07", "actualites", tmp_path)
        received = inbox.take()["awa.traore@example.org"].get_body(("html",)).get_content()
        images = sorted(set(re.findall(rf'{re.escape(site.url)}/media/[0-9a-f]{{64}}\.(?:jpg|png)', received)))
        assert len(images) == 2, "the sample issue's two images, published"

        index = httpx.get(f"{site.url}/archive", headers={"Accept-Language": "fr"})
        assert f'href="{site.url}/archive/2023-07?lang=fr"' in index.text
        page = httpx.get(f"{site.url}/archive/2023-07", headers={"Accept-Language": "fr"})
        assert page.status_code == 200 and "%%" not in page.text and "/unsubscribe/" not in page.text
        assert "awa" not in page.text.lower()
        for url in images:
            assert url.replace("&amp;", "&") in page.text.replace("&amp;", "&")
            r = httpx.get(url.replace("&amp;", "&"))
            assert r.status_code == 200 and r.headers["content-type"].startswith("image/"), url
        en = httpx.get(f"{site.url}/archive/2023-07?lang=en")
        assert en.headers["content-language"] == "en" and en.text != page.text
