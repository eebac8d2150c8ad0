"""The issue editor in headless Chromium, in French, against a live `bulletin serve` with aiosmtpd: an editor
writes the month's issue (two news blocks, one with a photo from her phone, the director's message, the
English subject), sees a check error next to the field and fixes it, previews it at phone width, test-sends it
to two addresses whose messages show their images, approves it; an admin schedules it; the worker sends it; and
`bulletin build` of the folder gives what was sent, byte for byte but for the personal parts. Then: every
sample saved unchanged in the browser stays byte-identical; a file edited on disk while the page is open is
not overwritten; the form works without JavaScript. axe-core on every editor page, screenshots at 375 and
1280 px."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
import threading
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import expect

from bulletin.render.build import build_issue, images_folder, preview_values
from bulletin.services import sends
from admin_support import folder_state
from deliver_support import Recorder
from test_admin_browser import (DESKTOP, PHONE, REPO, axe_source, browser, check,  # noqa: F401 (fixtures)
                                mailing_workspace, sign_in)
from test_uploads import photo

pytestmark = pytest.mark.browser

ZONE = ZoneInfo("Africa/Bamako")


@pytest.fixture
def pg_or_sqlite(tmp_path):
    """PostgreSQL where there is one (as in CI), else SQLite: the browser walk is long enough to run once."""
    from conftest import PG_URL, reset_pg

    if PG_URL:
        reset_pg(PG_URL)
        return PG_URL
    return f"sqlite:///{tmp_path / 'bulletin.db'}"


@pytest.fixture
def workspace(make_config, pg_or_sqlite, tmp_path):
    readers = [(f"{name.lower()}@example.org", name) for name in ("Fatoumata", "Ibrahim")]
    with mailing_workspace(make_config, pg_or_sqlite, tmp_path, Recorder(), readers) as ws:
        yield ws


def _errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def _save(page, part: str) -> None:
    """Press the save button of a part of the form and wait for the page that comes back."""
    with page.expect_navigation():
        page.locator(f"#{part} .actions").get_by_role("button", name="Enregistrer").click()


def _images_load(frame_page) -> list[tuple[str, int]]:
    return frame_page.evaluate("""() => [...document.images].map(i => [i.getAttribute('src'), i.naturalWidth])""")


def test_an_editor_writes_checks_previews_tests_and_approves_and_the_issue_goes(browser, axe_source, workspace,
                                                                              tmp_path):
    ws = workspace
    url = ws.url
    checked: set[str] = set()
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    page = context.new_page()
    errors = _errors(page)
    sign_in(page, url, "redaction@imrap-mali.org")

    # The month's issue, from the starter.
    page.get_by_role("link", name="Numéros").click()
    expect(page.locator("h1")).to_have_text("Numéros")
    slug = f"{ws.clock().astimezone(ZONE):%Y-%m}"
    assert page.get_by_label("Nom du dossier").input_value() == slug
    check(page, "issues", axe_source, checked)
    page.get_by_role("button", name="Créer le numéro").click()
    page.wait_for_url(f"{url}/admin/issues/{slug}?done=created")
    expect(page.locator("h1")).to_have_text(f"Numéro {slug}")

    # News 1: her text, her photo (as a phone sends it), and, by mistake, no description of the photo.
    block = page.locator("#block-01-exemple fieldset").first
    block.get_by_label("Titre", exact=True).fill("Mopti : le marché reconstruit rouvre ses portes")
    block.get_by_label("Lieu").fill("Mopti")
    shot = tmp_path / "IMG_2041.JPG"
    shot.write_bytes(photo(3024, 2016, quality=92))
    block.get_by_label("Image", exact=True).set_input_files(str(shot))
    block.get_by_label("Description de l'image").fill("")
    block.get_by_label("Texte de la nouvelle").fill(
        "Après deux ans de travaux, les commerçants du **marché de Mopti** retrouvent leurs étals.\n\n"
        "- 450 étals\n- une halle couverte")
    _save(page, "block-01-exemple")
    assert (ws.issues / slug / "images/img-2041.jpg").is_file()
    alt = page.locator("#f-news-01-exemple-md-image-alt")
    assert alt.get_attribute("aria-invalid") == "true"
    said = page.locator("#f-news-01-exemple-md-image-alt-problems").inner_text()
    assert said.startswith("Erreur\u00a0: l'image «\u00a0images/img-2041.jpg\u00a0» n'a pas de texte de remplacement")
    assert page.locator("#summary").get_by_role("link", name="news/01-exemple.md").count() == 1
    check(page, "issue-edit", axe_source, checked)
    alt.fill("Les étals du marché de Mopti sous la nouvelle halle")
    _save(page, "block-01-exemple")
    assert page.locator("#f-news-01-exemple-md-image-alt-problems").count() == 0
    assert page.locator("#f-news-01-exemple-md-image-alt").get_attribute("aria-invalid") is None

    # News 2, added after the first.
    page.get_by_label("Titre d'une nouvelle à ajouter").fill("Ségou : un atelier avec les jeunes")
    with page.expect_navigation():
        page.get_by_role("button", name="Ajouter la nouvelle").click()
    second = page.locator("#block-02-segou-un-atelier-avec-les-jeunes fieldset").first
    second.get_by_label("Lieu").fill("Ségou")
    second.get_by_label("Texte de la nouvelle").fill("Quarante jeunes de Ségou ont débattu de la paix.")
    _save(page, "block-02-segou-un-atelier-avec-les-jeunes")

    # The director's message and the English subject.
    director = page.locator("#director fieldset").first
    director.get_by_label("Nom").fill("Aminata Diarra")
    director.get_by_label("Le message").fill("Chers lecteurs, ce mois a vu le marché de Mopti renaître.")
    _save(page, "director")
    english = page.locator("#issue fieldset").nth(1)
    english.get_by_label("Objet du courriel").fill("IMRAP Newsletter: the Mopti market reopens")
    _save(page, "issue")
    assert page.locator("#summary-title").inner_text().startswith("Contrôle\u00a0: 0 erreur(s)")
    news = ws.issues / slug / "news"
    assert sorted(p.name for p in news.iterdir()) == [
        "01-exemple.en.md", "01-exemple.md", "02-segou-un-atelier-avec-les-jeunes.md"]
    first = (news / "01-exemple.md").read_text(encoding="utf-8")
    assert 'title: "Mopti : le marché reconstruit rouvre ses portes"\n' in first
    assert "image: images/img-2041.jpg\nimage_alt: Les étals du marché de Mopti sous la nouvelle halle\n" in first
    assert "# Le titre (obligatoire)." in first, "the starter's comments stay"
    toml = (ws.issues / slug / "issue.toml").read_text(encoding="utf-8")
    assert 'subject = "IMRAP Newsletter: the Mopti market reopens"' in toml and "# L'objet du courriel" in toml

    # The preview at phone width, in its sandboxed frame, every image loaded.
    page.set_viewport_size(PHONE)
    page.get_by_role("link", name="Aperçu", exact=True).click()
    expect(page.locator("h1")).to_have_text(f"Aperçu du numéro {slug}")
    frame = page.frame_locator(".frame.phone iframe")
    frame.get_by_text("Mopti : le marché reconstruit rouvre ses portes").first.wait_for()
    preview = page.locator(".frame.phone iframe").element_handle().content_frame()
    preview.wait_for_function("() => [...document.images].every(i => i.complete)")
    shown = _images_load(preview)
    assert any(src.endswith("/images/img-2041.jpg") for src, _ in shown)
    assert all(width > 0 for _, width in shown), shown
    assert preview.evaluate("document.documentElement.scrollWidth") <= 375
    check(page, "issue-preview", axe_source, checked)

    # A test to two addresses: two messages, each showing its images.
    page.get_by_role("link", name="Tester et envoyer").click()
    check(page, "issue-send", axe_source, checked)
    page.get_by_label("Adresses").fill("awa@example.org, moussa@example.org")
    page.get_by_label("Édition").select_option("fr")
    page.get_by_role("button", name="Envoyer le test").click()
    page.wait_for_url(re.compile(r".*/send\?done=tested&n=2"))
    expect(page.locator(".notice")).to_have_text("Le test est parti (2 messages).")
    tests = list(ws.recorder.received)
    assert sorted(m.rcpt for m in tests) == ["awa@example.org", "moussa@example.org"]
    for m in tests:
        body = m.message.get_body(("html",)).get_content()
        sources = re.findall(r'<img[^>]+src="([^"]+)"', body)
        assert any("/media/" in s for s in sources)
        for src in sources:
            got = httpx.get(html.unescape(src), timeout=10)
            assert got.status_code == 200 and got.headers["content-type"].startswith("image/"), src

    # Approved as it is.
    page.get_by_role("button", name="Approuver cette version").click()
    page.wait_for_url(re.compile(r".*/send\?done=approved"))
    expect(page.locator("#approval")).to_have_attribute("data-state", "approved")
    expect(page.locator("#approval")).to_contain_text("Approuvé par redaction@imrap-mali.org")
    assert errors == [], "no script errors (nothing refused by the Content-Security-Policy)"

    # An admin schedules it; the worker, whose clock is past that time, sends it.
    admin = browser.new_context(viewport=DESKTOP, locale="fr-FR").new_page()
    sign_in(admin, url, "admin@imrap-mali.org")
    admin.goto(f"{url}/admin/issues/{slug}/send")
    at = (ws.clock() + dt.timedelta(days=1)).astimezone(ZONE).replace(second=0, microsecond=0)
    admin.get_by_label("Liste").select_option("actualites")
    admin.get_by_label("Date").fill(f"{at:%Y-%m-%d}")
    admin.get_by_label("Heure", exact=True).fill(f"{at:%H:%M}")
    admin.get_by_role("button", name="Programmer").click()
    admin.wait_for_url(re.compile(r".*/admin/sends/\d+\?done=scheduled"))
    send_id = int(re.search(r"/admin/sends/(\d+)", admin.url).group(1))
    ws.recorder.received.clear()
    sends.work(ws.store, ws.site.cfg, drain=True, stop=threading.Event(), clock=lambda: at + dt.timedelta(minutes=1))
    admin.goto(f"{url}/admin/sends/{send_id}")
    expect(admin.locator("#state")).to_have_text("terminé")
    readers = {m.rcpt: m for m in ws.recorder.received}
    assert set(readers) == {"Awa.Traore@example.org", "john@example.com", "fatoumata@example.org",
                            "ibrahim@example.org"}

    # `bulletin build` of the same folder: what was sent, less the personal parts.
    built = build_issue(ws.issues / slug, ws.site.cfg, tmp_path / "build")
    out = tmp_path / "build"
    folder = images_folder(slug)
    by_hash = {hashlib.sha256(p.read_bytes()).hexdigest(): p.relative_to(out).as_posix()
               for p in (out / folder).rglob("*") if p.is_file()}
    for address, language in (("fatoumata@example.org", "fr"), ("john@example.com", "en")):
        sent = readers[address].message
        personal = {"unsubscribe_url": re.search(r"<([^>]+)>", sent["List-Unsubscribe"]).group(1)}
        mine = preview_values(ws.site.cfg, slug)
        # Mail travels with CRLF line ends (RFC 5322): the text of a part is the same with LF. The line break that
        # ends a part is the MIME boundary's (RFC 2046 5.1.1), so a part reads without the file's last one.
        sent_html = sent.get_body(("html",)).get_content().replace("\r\n", "\n")
        sent_text = sent.get_body(("plain",)).get_content().replace("\r\n", "\n")
        for key, value in personal.items():
            sent_html = sent_html.replace(html.escape(value, quote=True), html.escape(mine[key], quote=True))
            sent_text = sent_text.replace(value, mine[key])
        sent_html = re.sub(rf"{re.escape(ws.site.cfg.web.base_url)}/media/([0-9a-f]{{64}})\.\w+",
                           lambda m: by_hash[m.group(1)], sent_html)
        assert (sent_html + "\n").encode("utf-8") == (out / f"{slug}.{language}.html").read_bytes(), address
        assert (sent_text + "\n").encode("utf-8") == (out / f"{slug}.{language}.txt").read_bytes(), address
    assert [p for p in built.problems if p.severity == "error"] == []
    context.close()
    assert {"issues", "issue-edit", "issue-preview", "issue-send"} <= checked


@pytest.mark.parametrize("slug", ["2023-07", "2022-08", "starter"])
def test_every_sample_opened_and_saved_unchanged_in_the_browser_stays_byte_identical(browser, workspace, slug):
    ws = workspace
    page = browser.new_context(viewport=DESKTOP, locale="fr-FR").new_page()
    sign_in(page, ws.url, "redaction@imrap-mali.org")
    if slug == "starter":
        page.goto(f"{ws.url}/admin/issues")
        page.get_by_label("Nom du dossier").fill("2026-12")
        page.get_by_role("button", name="Créer le numéro").click()
        page.wait_for_url(re.compile(r".*done=created"))
        slug = "2026-12"
    before = folder_state(ws.issues)
    page.goto(f"{ws.url}/admin/issues/{slug}")
    for part in ("issue", "director", "highlights"):
        _save(page, part)
        expect(page.locator(".notice")).to_have_text("Rien n'a changé\u00a0: rien n'a été écrit.")
    assert folder_state(ws.issues) == before


def test_a_file_edited_on_disk_while_open_is_not_overwritten_and_she_chooses(browser, axe_source, workspace):
    ws = workspace
    checked: set[str] = set()
    page = browser.new_context(viewport=DESKTOP, locale="fr-FR").new_page()
    errors = _errors(page)
    sign_in(page, ws.url, "redaction@imrap-mali.org")
    page.goto(f"{ws.url}/admin/issues/2023-07#block-02-mopti")
    on_disk = ws.issues / "2023-07/news/02-mopti.md"
    theirs = on_disk.read_text(encoding="utf-8").replace("Financé par: USAID", "Financé par: USAID (Agence américaine)")
    on_disk.write_text(theirs, encoding="utf-8")  # a colleague, in a text editor, while the page is open
    block = page.locator("#block-02-mopti fieldset").first
    block.get_by_label("Lieu").fill("Mopti et Djenné")
    _save(page, "block-02-mopti")
    expect(page.locator("h1")).to_have_text("Numéro 2023-07\u00a0: modifié ailleurs")
    assert on_disk.read_text(encoding="utf-8") == theirs
    conflict = page.locator('[data-file="news/02-mopti.md"]')
    assert "USAID (Agence américaine)" in conflict.locator("pre.source").inner_text()
    assert "-place: Mopti" in conflict.locator("pre.diff").inner_text()
    check(page, "issue-conflict", axe_source, checked)
    mine = conflict.get_by_label("Votre version")
    mine.fill(mine.input_value().replace("Financé par: USAID", "Financé par: USAID (Agence américaine)"))
    conflict.get_by_role("button", name="Enregistrer ma version").click()
    page.wait_for_url(re.compile(r".*done=resolved"))
    text = on_disk.read_text(encoding="utf-8")
    assert "place: Mopti et Djenné\n" in text and "Financé par: USAID (Agence américaine)\n" in text

    # Removing a block asks first.
    page.locator("#block-01-bamako .actions").get_by_role("button", name="Supprimer").click()
    page.wait_for_url(re.compile(r".*/blocks/01-bamako/remove"))
    check(page, "issue-remove", axe_source, checked)
    page.get_by_role("link", name="Retour").click()
    assert (ws.issues / "2023-07/news/01-bamako.md").exists()
    # The conflict page answers 409 (the save did not all go through), which the console notes; nothing else.
    assert [e for e in errors if "status of 409" not in e] == []


def test_the_editor_works_without_javascript(browser, workspace):
    ws = workspace
    page = browser.new_context(viewport=PHONE, locale="fr-FR", java_script_enabled=False).new_page()
    sign_in(page, ws.url, "redaction@imrap-mali.org")
    page.goto(f"{ws.url}/admin/issues/2022-08")
    assert page.locator(".toolbar").count() == 0  # the toolbar is the script's; the text areas work alone
    block = page.locator("#block-03-segou fieldset").first
    block.get_by_label("Texte de la nouvelle").fill("Un texte corrigé depuis un téléphone.")
    _save(page, "block-03-segou")
    expect(page.locator(".notice")).to_have_text("Enregistré.")
    assert (ws.issues / "2022-08/news/03-segou.md").read_text(encoding="utf-8").endswith(
        "---\nUn texte corrigé depuis un téléphone.\n")


def test_the_toolbar_formats_the_selection(browser, workspace):
    ws = workspace
    page = browser.new_context(viewport=DESKTOP, locale="fr-FR").new_page()
    sign_in(page, ws.url, "redaction@imrap-mali.org")
    page.goto(f"{ws.url}/admin/issues/2022-08")
    fields = page.locator("#block-01-tombouctou fieldset").first
    area = fields.get_by_label("Texte de la nouvelle")
    area.fill("paix durable\nrégion")
    area.evaluate("a => a.setSelectionRange(0, 4)")
    toolbar = fields.get_by_role("toolbar", name="Mise en forme")
    toolbar.get_by_role("button", name="Gras").click()
    assert area.input_value() == "**paix** durable\nrégion"
    area.evaluate("a => a.setSelectionRange(a.value.indexOf('région'), a.value.length)")
    toolbar.get_by_role("button", name="Liste").click()
    assert area.input_value() == "**paix** durable\n- région"
    area.evaluate("a => a.setSelectionRange(2, 6)")
    toolbar.get_by_role("button", name="Lien").click()
    assert area.input_value() == "**[paix](https://)** durable\n- région"
