"""The public pages still work under the strict Content Security Policy, in headless Chromium: their sheets apply
(allowed by hash), the forms post, the archive's copy of an issue keeps its inline styles and images, and the
browser reports no violation on any of them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from test_browser_web import browser, phone  # noqa: F401 (fixtures)
from test_web_subscribe import confirm_link, mails
from web_support import live_site, seed

pytestmark = pytest.mark.browser

#: Chromium's console words for a blocked resource or style.
VIOLATION = "Content Security Policy"
BRAND = "rgb(181, 84, 28)"  # #b5541c, the buttons of base.html's sheet


@pytest.fixture
def site(make_config, sqlite_url, tmp_path):
    with live_site(make_config, sqlite_url, tmp_path) as s:
        yield s


@pytest.fixture
def watched(phone):  # noqa: F811
    """The phone page, with every CSP violation it meets recorded (console and securitypolicyviolation events)."""
    seen: list[str] = []
    phone.on("console", lambda msg: seen.append(msg.text) if VIOLATION in msg.text else None)
    phone.add_init_script("window.__violations = [];"
                          "document.addEventListener('securitypolicyviolation', e => window.__violations.push("
                          "e.violatedDirective + ' ' + e.blockedURI));")
    phone.seen = seen
    return phone


def violations(page) -> list[str]:
    return page.seen + page.evaluate("window.__violations")


def styled(page) -> bool:
    """base.html's sheet applied: the header's border and the page background come from it."""
    return page.evaluate("getComputedStyle(document.querySelector('header')).borderBottomColor") == BRAND


def test_subscribe_confirm_and_unsubscribe_under_the_policy(site, watched):
    sample = seed(site.engine)
    page = watched
    page.goto(f"{site.url}/subscribe")
    assert styled(page)
    assert page.evaluate("getComputedStyle(document.querySelector('button')).backgroundColor") == BRAND
    # The honeypot field stays off screen: its rule is in the sheet, not in a style attribute.
    assert page.evaluate("getComputedStyle(document.querySelector('.trap')).position") == "absolute"
    page.get_by_label("Adresse électronique").fill("fatoumata.diallo@example.org")
    page.get_by_role("button", name="M'abonner").click()
    page.wait_for_load_state()
    expect(page.locator("h1")).to_have_text("Vérifiez votre boîte de réception")
    assert styled(page)

    [mail] = mails(site)
    page.goto(confirm_link(mail))
    page.get_by_role("button", name="Confirmer mon abonnement").click()
    page.wait_for_load_state()
    expect(page.locator("h1")).to_have_text("Abonnement confirmé")
    assert styled(page)

    page.goto(f"{site.url}/unsubscribe/{site.tokens.unsubscribe(sample.awa, sample.actualites, sample.send)}")
    page.get_by_role("button", name="Me désinscrire").click()
    page.wait_for_load_state()
    expect(page.locator("h1")).to_have_text("Vous êtes désinscrit")
    assert styled(page)

    page.goto(f"{site.url}/unsubscribe/forged.token")  # an error page
    assert styled(page)
    assert violations(page) == []


def test_the_archive_of_a_sent_issue_under_the_policy(site, watched, tmp_path):
    from test_web_end_to_end import send

    seed(site.engine)
    send(site.cfg, "2023-07", "actualites", tmp_path)
    page = watched
    page.goto(f"{site.url}/archive")
    assert styled(page)
    page.locator("ul.issues a").first.click()
    page.wait_for_load_state("networkidle")
    expect(page).to_have_url(re.compile(r".*/archive/2023-07"))
    broken = page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
    assert [src for src in broken if src.startswith(site.url)] == []
    # The email's inline style attributes apply (a blocked style attribute leaves the element's style empty).
    with_attribute = page.evaluate("document.querySelectorAll('[style]').length")
    applied = page.evaluate("[...document.querySelectorAll('[style]')].filter(e => e.style.length > 0).length")
    assert with_attribute > 100 and applied == with_attribute
    assert violations(page) == []
