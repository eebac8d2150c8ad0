"""Lists, subscribers and imports in headless Chromium, in French, against a live `bulletin serve` with a real SMTP
server (aiosmtpd) and PostgreSQL where there is one: create a list, import a French Excel export (Windows-1252,
semicolons, a title row, bad rows) and read its rejected lines before confirming, find a person by a name typed
without its accent, open their history, unsubscribe them behind the confirmation page and invite them back (the
mail arrives); an editor is refused every one of these pages. axe-core finds no serious or critical violation on
any of them, nothing is wider than a phone, and screenshots at 375 and 1280 px go to test-artifacts/."""

from __future__ import annotations

import re
import threading

import pytest
from playwright.sync_api import expect

from admin_support import live_workspace, seed_workspace
from deliver_support import Recorder, SmtpServer
from test_admin_browser import DESKTOP, axe_source, browser, check, pg_or_sqlite, sign_in  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

PAGES_TO_CHECK = ("lists", "list", "list-archive", "imports", "import-running", "import-checked", "import-done",
                  "subscribers", "subscriber", "subscriber-unsubscribe", "subscriber-erase", "subscriber-erased",
                  "editor-refused")

#: What the last event's participants list looks like once French Excel saved it as CSV.
EXCEL_FILE = (
    "Liste des participants - atelier de Ségou 2026;;;\r\n"
    "Nom;Prénom;Adresse e-mail;Langue\r\n"
    "Traoré;Awa;awa.traore@example.org;Français\r\n"
    "Koné;Moussa;moussa.kone@example;fr\r\n"
    "Diarra;Fanta;;fr\r\n"
    "Coulibaly;Bakary;bakary.coulibaly@example.org;bambara\r\n"
    "Dembélé;Mariam;mariam.dembele@example.org;English\r\n"
    "Traoré;Awa;AWA.TRAORE@example.org;fr\r\n"
)


@pytest.fixture
def workspace(make_config, pg_or_sqlite, tmp_path):  # noqa: F811
    recorder = Recorder()
    with SmtpServer(recorder) as smtp:
        with live_workspace(make_config, pg_or_sqlite, tmp_path, delivery='transport = "smtp"',
                            sections=f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\ntimeout = 30.0\n') as ws:
            ws.params = seed_workspace(ws)
            ws.site.app.state.workspace.refresh_seconds = 1
            ws.recorder = recorder
            yield ws


def test_lists_an_excel_import_and_a_persons_history(browser, axe_source, workspace, tmp_path):  # noqa: F811
    ws = workspace
    url = ws.url
    checked: set[str] = set()
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, url, "admin@imrap-mali.org")

    # A list for the workshop's participants.
    page.get_by_role("link", name="Listes").click()
    expect(page.locator("h1")).to_have_text("Listes")
    page.get_by_label("Nom (tel que les abonnés le voient)").fill("Participants de l'atelier de Ségou")
    page.get_by_label("Nom court").fill("atelier-segou")
    page.get_by_label("Description (pour l'équipe : qui y est, où elle est proposée)").fill(
        "Les personnes inscrites à l'atelier de mars.")
    page.get_by_role("button", name="Créer la liste").click()
    page.wait_for_url(re.compile(r".*/admin/lists\?done=added"))
    expect(page.get_by_text("La liste est créée.")).to_be_visible()
    row = page.locator('#lists tr[data-list="atelier-segou"]')
    assert "Participants de l'atelier de Ségou" in row.inner_text()
    check(page, "lists", axe_source, checked)
    row.get_by_role("link", name="Participants de l'atelier de Ségou").click()
    check(page, "list", axe_source, checked)
    page.get_by_role("link", name="Archiver cette liste").click()
    expect(page.locator("main")).to_contain_text("Personne n'est désabonné")
    check(page, "list-archive", axe_source, checked)
    page.get_by_role("link", name="Retour").click()

    # The Excel export, checked before anything is written.
    excel = tmp_path / "participants atelier.csv"
    excel.write_bytes(EXCEL_FILE.encode("cp1252"))
    page.get_by_role("link", name="Imports").click()
    check(page, "imports", axe_source, checked)
    page.get_by_label("Fichier d'abonnés (CSV, tel qu'Excel l'enregistre)").set_input_files(str(excel))
    page.get_by_label("Dans la liste").select_option("atelier-segou")
    held, release = threading.Event(), threading.Event()
    runner = ws.site.app.state.workspace.imports
    runner.pause = lambda job_id: (held.set(), release.wait(60))  # the test holds the check at its last batch
    try:
        page.get_by_role("button", name="Vérifier le fichier").click()
        page.wait_for_url(re.compile(r".*/admin/imports/\d+$"))
        assert held.wait(60)
        page.reload()
        expect(page.locator("#progress progress")).to_have_attribute("value", "100")
        expect(page.get_by_text("Vérification du fichier…")).to_be_visible()
        check(page, "import-running", axe_source, checked)
    finally:
        release.set()
        runner.pause = None
    page.locator("#report-title").wait_for(timeout=30_000)  # htmx reloads the page when the check is done
    expect(page.locator("#report-title")).to_have_text("Ce que ferait l'import (rien n'est encore écrit)")
    counts = {d.get_attribute("data-key"): d.inner_text() for d in page.locator("#counts dd").all()}
    assert counts == {"added": "3", "updated": "0", "unchanged": "0", "duplicates": "1", "not_resubscribed": "0",
                      "rejected": "2", "warnings": "1"}
    rejected = [(r.get_attribute("data-line"), r.locator("td").nth(2).inner_text())
                for r in page.locator("#rejected tbody tr").all()]
    assert [line for line, _ in rejected] == ["4", "5"]
    assert rejected[0][1].startswith("adresse électronique invalide")
    assert rejected[1][1] == "pas d'adresse électronique"
    expect(page.locator("#warnings")).to_contain_text("langue inconnue 'bambara'")
    expect(page.locator("#duplicates")).to_contain_text("même adresse qu'à la ligne 3")
    check(page, "import-checked", axe_source, checked)
    page.get_by_role("button", name="Importer ces lignes").click()
    page.locator('#state[data-state="done"]').wait_for(timeout=30_000)
    expect(page.locator("#report-title")).to_have_text("Ce qu'a fait l'import")
    assert page.locator('#counts dd[data-key="added"]').inner_text() == "3"
    check(page, "import-done", axe_source, checked)

    # Find Awa without the accent of her name, open her history, unsubscribe her, invite her back.
    page.get_by_role("link", name="Abonnés").click()
    page.get_by_label("Adresse ou nom").fill("traore")
    page.get_by_role("button", name="Rechercher").click()
    found = page.locator("#people tbody tr")
    # The file named an address already known (in another case): the same person, now on three lists.
    assert [r.locator("td").first.inner_text() for r in found.all()] == ["Awa.Traore@example.org"]
    check(page, "subscribers", axe_source, checked)
    found.first.get_by_role("link").click()
    expect(page.locator("h1")).to_have_text("Awa Traoré")
    membership = page.locator('#memberships tr[data-list="atelier-segou"]')
    assert "import de participants atelier.csv" in membership.inner_text()
    assert membership.locator("td[data-status]").inner_text() == "abonné"
    check(page, "subscriber", axe_source, checked)
    membership.get_by_role("link", name="Désabonner").click()
    assert "Désabonner Awa.Traore@example.org de «\u00a0Participants de l'atelier de Ségou\u00a0»" in \
        page.locator("main").inner_text()
    check(page, "subscriber-unsubscribe", axe_source, checked)
    page.get_by_role("button", name="Oui, désabonner").click()
    expect(page.get_by_text("Désabonné.")).to_be_visible()
    assert page.locator('#memberships tr[data-list="atelier-segou"] td[data-status]').inner_text() == "désabonné"
    event = page.locator('#history tr[data-kind="unsubscribe"]')
    assert "par admin@imrap-mali.org dans l'espace de travail" in event.inner_text()
    page.get_by_label("Inviter à revenir sur une liste").select_option("atelier-segou")
    page.get_by_role("button", name="Envoyer l'invitation").click()
    expect(page.get_by_text("L'invitation est envoyée.")).to_be_visible()
    assert [m.rcpt for m in ws.recorder.received] == ["Awa.Traore@example.org"]
    page.get_by_role("link", name="Effacer cette personne").click()
    expect(page.locator("main")).to_contain_text("sans retour possible")
    check(page, "subscriber-erase", axe_source, checked)
    page.get_by_role("button", name="Oui, effacer pour de bon").click()
    expect(page.get_by_text("La personne est effacée.")).to_be_visible()
    expect(page.locator("h1")).to_have_text("Personne effacée")
    assert "Traore" not in page.locator("main").inner_text()
    check(page, "subscriber-erased", axe_source, checked)
    assert errors == [], "no script errors (nothing refused by the Content-Security-Policy)"

    editor = browser.new_context(viewport=DESKTOP, locale="fr-FR").new_page()
    sign_in(editor, url, "redaction@imrap-mali.org")
    assert editor.get_by_role("link", name="Abonnés").count() == 0
    person = re.search(r"/admin/subscribers/(\d+)", page.url).group(1)
    for path in ("/admin/lists", "/admin/lists/atelier-segou", "/admin/subscribers", f"/admin/subscribers/{person}",
                 "/admin/imports", f"/admin/imports/{ws.params['job']}", "/admin/users"):
        response = editor.goto(f"{url}{path}")
        assert response.status == 403 and editor.locator("h1").inner_text() == "Accès refusé", path
    check(editor, "editor-refused", axe_source, checked)
    assert checked == set(PAGES_TO_CHECK)
    context.close()
