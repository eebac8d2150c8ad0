"""The workspace in headless Chromium, in French, against a live `bulletin serve` with a worker and a real
SMTP server (aiosmtpd): sign in, the dashboard, schedule a send, watch it run, read its report; an editor
refused the admin pages; signing out. On every page: no serious or critical axe-core violation, no sideways
scrolling at 375 px, screenshots at 375 and 1280 px under test-artifacts/. Pages work without JavaScript too."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from bulletin.services import sends
from bulletin.store import db
from bulletin.store.models import Subscriber, Subscription
from admin_support import PASSWORD, live_workspace, seed_workspace
from deliver_support import Recorder, SmtpServer

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
#: axe-core, installed by .ci/run with npm (or named by $BULLETIN_AXE_JS).
AXE = Path(os.environ.get("BULLETIN_AXE_JS", REPO / "tests/.node/node_modules/axe-core/axe.min.js"))
PHONE, DESKTOP = {"width": 375, "height": 740}, {"width": 1280, "height": 900}
ZONE = ZoneInfo("Africa/Bamako")
#: The pages a later part adds are checked the same way: add them to the walk in test_every_page_...
PAGES_TO_CHECK = ("login", "dashboard", "sends", "send", "send-cancel", "users", "user-disable", "audit",
                  "forbidden")


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: .ci/run must install it")
        pytest.skip("no Debian chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"axe-core is not installed at {AXE}: .ci/run installs it with npm")
        pytest.skip("no axe-core (npm install --prefix tests/.node axe-core@4)")
    return AXE.read_text(encoding="utf-8")


class GatedRecorder(Recorder):
    """An SMTP server that holds every message until the test opens the gate: the send stays running."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        await asyncio.get_running_loop().run_in_executor(None, self.gate.wait, 60)
        return await super().handle_DATA(server, session, envelope)


def check(page, name: str, axe_source: str, checked: set[str]) -> None:
    """axe-core finds no serious or critical violation; screenshots at 375 and 1280 px; nothing wider than a phone."""
    page.evaluate(axe_source)  # through the DevTools protocol: the page's CSP forbids inline scripts, rightly
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}));
    }""")
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{name}: {bad}"
    ARTIFACTS.mkdir(exist_ok=True)
    size = page.viewport_size
    page.set_viewport_size(PHONE)
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > 376).slice(0, 5).map(e => e.tagName + '.' + e.className)""")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], f"{name} scrolls sideways: {wide}"
    page.screenshot(path=str(ARTIFACTS / f"admin-{name}-375.png"), full_page=True)
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(ARTIFACTS / f"admin-{name}-1280.png"), full_page=True)
    page.set_viewport_size(size)
    checked.add(name)


def sign_in(page, url: str, email: str) -> None:
    page.goto(f"{url}/admin/")
    assert page.url.startswith(f"{url}/admin/login")
    page.get_by_label("Adresse électronique").fill(email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{url}/admin/")


@contextmanager
def mailing_workspace(make_config, db_url: str, tmp_path, recorder, readers: list[tuple[str, str]]):
    """The seeded workspace with the two sample issues, its mail sent over SMTP to `recorder` in this process,
    and more French readers on the first list (`readers`: address and name)."""
    issues = tmp_path / "issues"
    for slug in ("2023-07", "2022-08"):
        shutil.copytree(REPO / "issues" / slug, issues / slug)
    with SmtpServer(recorder) as smtp:
        with live_workspace(make_config, db_url, tmp_path, extra=f'issues_dir = "{issues}"',
                            delivery='transport = "smtp"',
                            sections=f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\ntimeout = 30.0\n') as ws:
            ws.params = seed_workspace(ws)
            with db.session_scope(ws.site.engine) as s:
                for email, name in readers:
                    p = Subscriber(email=email, email_key=email, name=name, language="fr")
                    s.add(p)
                    s.flush()
                    s.add(Subscription(subscriber_id=p.id, list_id=1, status="subscribed"))
            ws.issues = issues
            ws.recorder = recorder
            yield ws


@pytest.fixture
def workspace(make_config, pg_or_sqlite, tmp_path):
    recorder = GatedRecorder()
    readers = [(f"lecteur{i}@example.org", f"Lecteur {i}") for i in range(4)]
    with mailing_workspace(make_config, pg_or_sqlite, tmp_path, recorder, readers) as ws:
        ws.site.app.state.workspace.refresh_seconds = 1
        try:
            yield ws
        finally:
            recorder.gate.set()


@pytest.fixture
def pg_or_sqlite(request, tmp_path):
    """PostgreSQL where there is one (as in CI), else SQLite: the browser walk is long enough to run once."""
    from conftest import PG_URL, reset_pg

    if PG_URL:
        reset_pg(PG_URL)
        return PG_URL
    return f"sqlite:///{tmp_path / 'bulletin.db'}"


def test_sign_in_schedule_watch_the_send_and_read_its_report(browser, axe_source, workspace):
    ws = workspace
    url = ws.url
    # The workspace's clock stands two days back, so the time typed in the form (yesterday, for the worker's
    # real clock) is in the future for the form and due at once for the worker: nobody waits for a clock.
    real = dt.datetime.now(dt.timezone.utc)
    ws.clock.now = real - dt.timedelta(days=2)
    at = (real - dt.timedelta(days=1)).astimezone(ZONE)
    checked: set[str] = set()
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{url}/admin/")
    expect(page.locator("h1")).to_have_text("Connexion")
    check(page, "login", axe_source, checked)
    sign_in(page, url, "admin@imrap-mali.org")
    expect(page.locator("h1")).to_have_text("Tableau de bord")
    expect(page.get_by_text("Aucun envoi en cours.")).to_be_visible()
    check(page, "dashboard", axe_source, checked)

    page.get_by_role("link", name="Envois").click()
    expect(page.locator("h1")).to_have_text("Envois")
    expect(page.get_by_text("Heure de l'organisation\u00a0: Africa/Bamako.")).to_be_visible()
    check(page, "sends", axe_source, checked)
    page.get_by_label("Numéro").select_option("2023-07")
    page.get_by_label("Liste").select_option("actualites")
    page.get_by_label("Date").fill(f"{at:%Y-%m-%d}")
    page.get_by_label("Heure", exact=True).fill(f"{at:%H:%M}")
    page.get_by_role("button", name="Programmer").click()
    page.wait_for_url(re.compile(r".*/admin/sends/\d+\?done=scheduled"))
    send_id = int(re.search(r"/admin/sends/(\d+)", page.url).group(1))
    expect(page.locator("#state")).to_have_text("programmé")
    assert "Le worker (bulletin worker) le lancera" in page.locator(".notice").inner_text()

    stop = threading.Event()
    worker = threading.Thread(target=sends.work, args=(ws.store, ws.site.cfg),
                              kwargs={"drain": False, "stop": stop}, daemon=True)
    worker.start()
    try:
        page.get_by_role("link", name="Tableau de bord").click()
        card = page.locator(f'#live li[data-send="{send_id}"]')
        card.wait_for(timeout=30_000)  # the worker started it; htmx brought it in
        assert "0 envoyés sur 6" in card.inner_text()
        assert page.locator("progress").count() == 1
        ws.recorder.gate.set()
        page.get_by_text("Aucun envoi en cours.").wait_for(timeout=30_000)  # htmx again: it finished
    finally:
        ws.recorder.gate.set()
        stop.set()
        worker.join(timeout=30)
    assert len(ws.recorder.received) == 6

    page.goto(f"{url}/admin/sends/{send_id}")
    expect(page.locator("#state")).to_have_text("terminé")
    figures = {c.get_attribute("data-key"): int(c.get_attribute("data-value"))
               for c in page.locator("#figures td[data-key]").all()}
    assert (figures["total"], figures["sent"], figures["failed"], figures["pending"]) == (6, 6, 0, 0)
    assert page.locator("svg.chart rect").count() == 24
    check(page, "send", axe_source, checked)

    # A second issue for later, then cancelled behind its confirmation page.
    page.goto(f"{url}/admin/sends")
    page.get_by_label("Numéro").select_option("2022-08")
    page.get_by_label("Date").fill(f"{real + dt.timedelta(days=30):%Y-%m-%d}")
    page.get_by_label("Heure", exact=True).fill("08:00")
    page.get_by_role("button", name="Programmer").click()
    page.wait_for_url(re.compile(r".*/admin/sends/\d+\?done=scheduled"))
    page.get_by_role("link", name="Annuler cet envoi").click()
    expect(page.locator("h1")).to_have_text(re.compile("^" + re.escape("Annuler l'envoi")))
    check(page, "send-cancel", axe_source, checked)
    page.get_by_role("button", name="Oui, annuler l'envoi").click()
    expect(page.locator("#state")).to_have_text("annulé")

    page.get_by_role("link", name="Comptes").click()
    check(page, "users", axe_source, checked)
    page.locator('tr[data-email="redaction@imrap-mali.org"]').get_by_role("link", name="Désactiver").click()
    check(page, "user-disable", axe_source, checked)
    page.get_by_role("link", name="Retour").click()

    page.get_by_role("link", name="Journal").click()
    actions = page.locator("#audit tr[data-action]").evaluate_all("rs => rs.map(r => r.dataset.action)")
    assert actions[:4] == ["send.cancel", "send.schedule", "send.schedule", "sign_in"]
    check(page, "audit", axe_source, checked)
    page.get_by_label("Action").select_option("send.schedule")
    page.get_by_role("button", name="Filtrer").click()
    assert page.locator("#audit tr[data-action]").count() == 2

    page.get_by_role("button", name="English").click()
    expect(page.locator("h1")).to_have_text("Audit log")
    page.get_by_role("button", name="Français").click()

    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_text("Vous êtes déconnecté.")).to_be_visible()
    page.goto(f"{url}/admin/sends")
    assert page.url.startswith(f"{url}/admin/login")
    assert errors == [], "no script errors (nothing refused by the Content-Security-Policy)"

    editor = browser.new_context(viewport=DESKTOP, locale="fr-FR").new_page()
    sign_in(editor, url, "redaction@imrap-mali.org")
    assert editor.get_by_role("link", name="Envois").count() == 0, "no link to pages the editor cannot open"
    for path in ("/admin/sends", f"/admin/sends/{send_id}", "/admin/users", "/admin/audit"):
        response = editor.goto(f"{url}{path}")
        assert response.status == 403 and editor.locator("h1").inner_text() == "Accès refusé", path
    check(editor, "forbidden", axe_source, checked)
    assert checked == set(PAGES_TO_CHECK)
    context.close()


def test_the_workspace_works_without_javascript(browser, workspace):
    ws = workspace
    page = browser.new_context(viewport=PHONE, locale="fr-FR", java_script_enabled=False).new_page()
    sign_in(page, ws.url, "admin@imrap-mali.org")
    expect(page.get_by_role("link", name="Actualiser")).to_be_visible()
    page.get_by_role("link", name="Actualiser").click()
    expect(page.locator("h1")).to_have_text("Tableau de bord")
    page.goto(f"{ws.url}/admin/sends")
    page.get_by_label("Numéro").select_option("2023-07")
    page.get_by_label("Date").fill("2000-01-01")  # in the past: refused, next to the field
    page.get_by_label("Heure", exact=True).fill("08:00")
    page.get_by_role("button", name="Programmer").click()
    expect(page.locator("#schedule-error")).to_contain_text("est déjà passé")
    assert page.get_by_label("Date").get_attribute("aria-invalid") == "true"
    page.get_by_role("button", name="English").click()
    expect(page.locator("h1")).to_have_text("Sends")
