"""The subscriber pages in headless Chromium at phone width: unsubscribe in French, and subscribe through the
confirmation mail. Screenshots at 375 px go to test-artifacts/ for a person to look at."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from bulletin.store import db
from bulletin.store.models import Subscriber
from test_web_subscribe import confirm_link, mails
from web_support import live_site, seed, status

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PHONE = {"width": 375, "height": 740}


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: .ci/run must install it")
        pytest.skip("no Debian chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )
        yield b
        b.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, locale="fr-FR", device_scale_factor=1)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def site(make_config, sqlite_url, tmp_path):
    with live_site(make_config, sqlite_url, tmp_path) as s:
        yield s


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"web-{name}.png"), full_page=True)
    # Readable at 375 px: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name


def test_unsubscribe_in_french(site, phone):
    sample = seed(site.engine)
    link = f"{site.url}/unsubscribe/{site.tokens.unsubscribe(sample.awa, sample.actualites, sample.send)}"
    phone.goto(link)
    expect(phone.locator("h1")).to_have_text("Se désinscrire")
    assert "Awa.Traore@example.org" in phone.content()
    shot(phone, "unsubscribe-question")
    assert status(site.engine, sample.awa, sample.actualites) == "subscribed", "opening the page changes nothing"

    phone.get_by_role("button", name="Me désinscrire").click()
    phone.wait_for_load_state()
    expect(phone.locator("h1")).to_have_text("Vous êtes désinscrit")
    # French typography: non-breaking spaces inside « » and before ? and :.
    expect(phone.locator("main")).to_contain_text("ne recevra plus «\u00a0Actualités de l'IMRAP\u00a0»")
    shot(phone, "unsubscribe-done")
    assert status(site.engine, sample.awa, sample.actualites) == "unsubscribed"
    assert status(site.engine, sample.awa, sample.partenaires) == "subscribed"

    phone.get_by_role("button", name="Me réinscrire").click()
    phone.wait_for_load_state()
    expect(phone.locator("h1")).to_have_text("Vous êtes de nouveau inscrit")
    assert status(site.engine, sample.awa, sample.actualites) == "subscribed"


def test_subscribe_and_confirm_from_the_mail(site, phone):
    sample = seed(site.engine)
    phone.goto(f"{site.url}/subscribe")
    expect(phone.locator("h1")).to_have_text("S'abonner")
    phone.get_by_label("Adresse électronique").fill("fatoumata.diallo@example.org")
    phone.get_by_label("Nom (facultatif)").fill("Fatoumata Diallo")
    phone.get_by_label("Bulletin").select_option("partenaires")
    shot(phone, "subscribe-form")
    phone.get_by_role("button", name="M'abonner").click()
    phone.wait_for_load_state()
    expect(phone.locator("h1")).to_have_text("Vérifiez votre boîte de réception")
    shot(phone, "subscribe-sent")

    [mail] = mails(site)
    assert mail["To"] == "fatoumata.diallo@example.org"
    phone.goto(confirm_link(mail))
    expect(phone.locator("h1")).to_have_text("Confirmer l'abonnement")
    shot(phone, "confirm-question")
    with db.session_scope(site.engine) as s:
        assert s.query(Subscriber).filter_by(email_key="fatoumata.diallo@example.org").count() == 0

    phone.get_by_role("button", name="Confirmer mon abonnement").click()
    phone.wait_for_load_state()
    expect(phone.locator("h1")).to_have_text("Abonnement confirmé")
    shot(phone, "confirm-done")
    with db.session_scope(site.engine) as s:
        fatoumata = s.query(Subscriber).filter_by(email_key="fatoumata.diallo@example.org").one()
        assert (fatoumata.name, fatoumata.language) == ("Fatoumata Diallo", "fr")
        fid = fatoumata.id
    assert status(site.engine, fid, sample.partenaires) == "subscribed"


def test_archive_of_a_sent_issue_at_phone_width(site, phone, tmp_path):
    from test_web_end_to_end import send

    seed(site.engine)
    send(site.cfg, "2023-07", "actualites", tmp_path)  # to the maildir outbox
    phone.goto(f"{site.url}/archive")
    shot(phone, "archive-index")
    phone.locator("ul.issues a").first.click()
    phone.wait_for_load_state("networkidle")
    expect(phone).to_have_url(re.compile(r".*/archive/2023-07"))
    broken = phone.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
    local = [src for src in broken if src.startswith(site.url)]
    assert local == [], "every image of the issue is served"
    shot(phone, "archive-issue")
