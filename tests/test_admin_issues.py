"""The issue pages over HTTP on a live server: the list with each issue's state, check and weight; a new issue
as `bulletin new` makes it; the editor's form saved unchanged writes nothing; a field saved rewrites its file
in the folder's own format with a diff in the audit log; problems shown next to their field, in French; a file
edited on disk while the page is open is not overwritten; blocks added, moved and removed with their
translations; photos uploaded (and a 20 MB photo, a PNG bomb, a file that is not a photo, a name with ../
refused or cleaned, nothing written outside images/); the preview in a sandboxed frame; test sends; roles."""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil

import pytest
from PIL import Image
from sqlalchemy import select

from bulletin.content.starter import create_issue
from bulletin.render.pipeline import TEMPLATES_DIR
from bulletin.store import db
from bulletin.store.models import AuditEntry
from admin_support import (REPO, csrf_of, folder_state, form_fields, live_workspace, seed_workspace, snapshot)
from deliver_support import Recorder, SmtpServer
from test_uploads import photo, png_bomb


@pytest.fixture
def smtp():
    recorder = Recorder()
    with SmtpServer(recorder) as server:
        server.recorder = recorder
        yield server


def _workspace(make_config, db_url, tmp_path, smtp):
    issues = tmp_path / "issues"
    for slug in ("2023-07", "2022-08"):
        shutil.copytree(REPO / "issues" / slug, issues / slug)
    return live_workspace(make_config, db_url, tmp_path, extra=f'issues_dir = "{issues}"',
                          delivery='transport = "smtp"',
                          sections=f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\ntimeout = 30.0\n')


@pytest.fixture
def ws(make_config, db_url, tmp_path, smtp):
    with _workspace(make_config, db_url, tmp_path, smtp) as w:
        w.params = seed_workspace(w)
        w.issues = tmp_path / "issues"
        w.smtp = smtp
        yield w


@pytest.fixture
def sqlite_ws(make_config, sqlite_url, tmp_path, smtp):
    with _workspace(make_config, sqlite_url, tmp_path, smtp) as w:
        w.params = seed_workspace(w)
        w.issues = tmp_path / "issues"
        w.smtp = smtp
        yield w


FR = {"Accept-Language": "fr"}


def editor_of(ws):
    return ws.signed_in("redaction@imrap-mali.org")


def submit(client, slug: str, page: str, changes: dict[str, str] | None = None, action: str = "save",
           files: dict | None = None):
    """Post the editor's form as a browser would, with `changes` typed over the values shown."""
    fields: dict[str, list[str]] = {}
    for name, value in form_fields(page, "edit"):
        fields.setdefault(name, []).append(value.replace("\n", "\r\n"))
    for name, value in (changes or {}).items():
        fields[name] = [value]
    fields["action"] = [action]
    return client.post(f"/admin/issues/{slug}", data=fields, files=files or {"unused": ("", b"")}, headers=FR)


def audit(ws, action: str) -> list[AuditEntry]:
    with db.session_scope(ws.site.engine) as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()
        s.expunge_all()
        return rows


# -- the list and new issues ---------------------------------------------------------------------------------------

def test_the_list_shows_each_issue_with_its_state_check_and_weight(ws):
    (ws.issues / "2022-08/news/01-tombouctou.md").write_text("---\nplace: Tombouctou\n---\nSans titre.\n")
    page = editor_of(ws).get("/admin/issues", headers=FR)
    assert page.status_code == 200
    rows = re.findall(r'<tr data-slug="([^"]+)" data-state="([^"]+)">(.*?)</tr>', page.text, re.S)
    assert [(slug, state) for slug, state, _ in rows] == [("2023-07", "draft"), ("2022-08", "draft")]
    cells = {slug: re.sub(r"<[^>]+>|\s+", " ", body) for slug, _, body in rows}
    assert "aucune erreur" in cells["2023-07"] and "64 Ko" in cells["2023-07"]
    assert "1 erreur" in cells["2022-08"]
    assert "Bulletin d&#39;information de l&#39;IMRAP — juillet 2023" in page.text
    english = editor_of(ws).get("/admin/issues", headers={"Accept-Language": "en"}).text
    assert "<h2 id=\"all-title\">Every issue</h2>" in english and "no errors" in english and "1 error" in english


def test_a_new_issue_is_what_bulletin_new_makes(ws, tmp_path):
    client = editor_of(ws)
    page = client.get("/admin/issues", headers=FR)
    today = ws.clock().astimezone(dt.timezone(dt.timedelta(0))).date()
    assert f'name="slug" type="text" required value="{today:%Y-%m}"' in page.text
    r = client.post("/admin/issues", data={"csrf": csrf_of(page.text), "slug": "2026-12"}, headers=FR)
    assert r.status_code == 303 and r.headers["location"] == "/admin/issues/2026-12?done=created"
    expected, _ = create_issue(tmp_path / "cli", "2026-12", ws.site.cfg, TEMPLATES_DIR / "starter",
                               today=ws.clock().date())
    assert folder_state(ws.issues / "2026-12") == folder_state(expected)
    (entry,) = audit(ws, "issue.create")
    assert (entry.actor, entry.object_id) == ("redaction@imrap-mali.org", "2026-12")
    assert "news/01-exemple.md" in entry.detail
    shown = client.get("/admin/issues/2026-12?done=created", headers=FR)
    assert "Le numéro est créé à partir du modèle" in shown.text


@pytest.mark.parametrize("slug, message", [
    ("../2023-07", "« ../2023-07 » ne peut pas nommer un numéro"),
    ("2026.12", "« 2026.12 » ne peut pas nommer un numéro"),
    ("", "«  » ne peut pas nommer un numéro"),
    ("2023-07", "Le numéro 2023-07 existe déjà."),
])
def test_a_new_issue_with_a_bad_name_is_refused_next_to_the_field(sqlite_ws, slug, message):
    client = editor_of(sqlite_ws)
    before = snapshot(sqlite_ws)
    page = client.get("/admin/issues", headers=FR)
    r = client.post("/admin/issues", data={"csrf": csrf_of(page.text), "slug": slug}, headers=FR)
    assert r.status_code == 400
    said = re.search(r'<p class="error" role="alert" id="slug-error">(.*?)</p>', r.text).group(1)
    assert said.replace("&#39;", "'").replace("\u00a0", " ").startswith(message.replace("\u00a0", " "))
    assert re.search(r'id="slug" name="slug"[^>]*aria-invalid="true"', r.text, re.S)
    assert snapshot(sqlite_ws) == before


# -- the editor's form ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("slug", ["2023-07", "2022-08", "starter"])
def test_a_form_saved_unchanged_writes_nothing(sqlite_ws, slug):
    ws = sqlite_ws
    client = editor_of(ws)
    if slug == "starter":
        page = client.get("/admin/issues")
        client.post("/admin/issues", data={"csrf": csrf_of(page.text), "slug": "2026-12"})
        slug = "2026-12"
    before = folder_state(ws.issues)
    page = client.get(f"/admin/issues/{slug}", headers=FR)
    r = submit(client, slug, page.text)
    assert r.status_code == 303 and r.headers["location"] == f"/admin/issues/{slug}?done=unchanged"
    assert folder_state(ws.issues) == before
    assert audit(ws, "issue.save") == []


def test_a_field_saved_rewrites_its_line_and_the_audit_log_keeps_the_diff(ws):
    client = editor_of(ws)
    before = (ws.issues / "2023-07/news/02-mopti.md").read_text(encoding="utf-8")
    page = client.get("/admin/issues/2023-07", headers=FR)
    r = submit(client, "2023-07", page.text, {"news/02-mopti.md|place": "Mopti : Sévaré"}, "save:block-02-mopti")
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/issues/2023-07?done=saved#block-02-mopti"
    after = (ws.issues / "2023-07/news/02-mopti.md").read_text(encoding="utf-8")
    assert after == before.replace("place: Mopti\n", 'place: "Mopti : Sévaré"\n')
    (entry,) = audit(ws, "issue.save")
    assert entry.object_id == "2023-07" and entry.actor == "redaction@imrap-mali.org"
    assert entry.detail.splitlines() == ["--- a/news/02-mopti.md", "+++ b/news/02-mopti.md", "@@ -2,3 +2,3 @@",
                                         " title: " + before.splitlines()[1].split(": ", 1)[1], "-place: Mopti",
                                         '+place: "Mopti : Sévaré"', " image: images/anbe-koungo-do.jpg"]
    shown = client.get("/admin/issues/2023-07?done=saved", headers=FR)
    assert 'value="Mopti : Sévaré"' in shown.text and "Enregistré." in shown.text


def test_problems_are_shown_next_to_their_field_in_french(ws):
    path = ws.issues / "2023-07/news/02-mopti.md"
    path.write_text(path.read_text(encoding="utf-8").replace("image_alt:", "# image_alt:"), encoding="utf-8")
    page = editor_of(ws).get("/admin/issues/2023-07", headers=FR).text
    field = re.search(r'<input id="f-news-02-mopti-md-image-alt"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in field and "f-news-02-mopti-md-image-alt-problems" in field
    problems = re.search(r'<ul class="problems" id="f-news-02-mopti-md-image-alt-problems">(.*?)</ul>', page,
                         re.S).group(1)
    assert "Erreur" in problems and "images/anbe-koungo-do.jpg" in problems and "texte de remplacement" in problems
    # In the summary at the top, with a link to the field.
    assert 'href="#f-news-02-mopti-md-image-alt">news/02-mopti.md</a>' in page
    # The English file lacks no text, but a place left out of it is marked untranslated.
    en = ws.issues / "2023-07/news/01-bamako.en.md"
    en.write_text(en.read_text(encoding="utf-8").replace("place: Bamako\n", ""), encoding="utf-8")
    page = editor_of(ws).get("/admin/issues/2023-07", headers=FR).text
    assert re.search(r'<div class="field flagged untranslated">\s*<label for="f-news-01-bamako-en-md-place">', page)
    assert "Pas traduit\u00a0: le texte en français sera montré." in page


def test_a_file_edited_on_disk_while_the_page_is_open_is_not_overwritten(ws):
    client = editor_of(ws)
    page = client.get("/admin/issues/2023-07", headers=FR)
    on_disk = ws.issues / "2023-07/news/01-bamako.md"
    edited = on_disk.read_text(encoding="utf-8").replace("place: Bamako", "place: Bamako (Hamdallaye)")
    on_disk.write_text(edited, encoding="utf-8")
    r = submit(client, "2023-07", page.text, {"news/01-bamako.md|title": "H2I : titre raccourci",
                                              "issue.toml|subject": "Bulletin de juillet 2023"})
    assert r.status_code == 409
    assert on_disk.read_text(encoding="utf-8") == edited, "the version on disk stays"
    assert 'subject = "Bulletin de juillet 2023"' in (ws.issues / "2023-07/issue.toml").read_text(encoding="utf-8")
    assert "Vos autres modifications sont enregistrées (issue.toml)." in r.text
    assert "place: Bamako (Hamdallaye)" in r.text and "title: &#34;H2I : titre raccourci&#34;" in r.text
    # She takes her version, adding the change made on disk by hand.
    mine = re.search(r'<textarea id="f-news-01-bamako-md-mine" name="text"[^>]*>\n(.*?)</textarea>', r.text,
                     re.S).group(1)
    mine = html.unescape(mine).replace("place: Bamako\n", "place: Bamako (Hamdallaye)\n")
    version = re.search(r'name="version" value="([0-9a-f]{64})"', r.text).group(1)
    token = csrf_of(r.text)
    again = client.post("/admin/issues/2023-07/resolve", data={"csrf": token, "file": "news/01-bamako.md",
                                                               "version": version, "choice": "mine", "text": mine})
    assert again.status_code == 303 and again.headers["location"] == "/admin/issues/2023-07?done=resolved"
    text = on_disk.read_text(encoding="utf-8")
    assert 'title: "H2I : titre raccourci"' in text and "place: Bamako (Hamdallaye)" in text
    # A choice made on an older version is a conflict again, not an overwrite.
    stale = client.post("/admin/issues/2023-07/resolve", data={"csrf": token, "file": "news/01-bamako.md",
                                                               "version": version, "choice": "mine", "text": "x"})
    assert stale.status_code == 409 and on_disk.read_text(encoding="utf-8") == text


def test_keeping_the_version_on_disk_writes_nothing(sqlite_ws):
    ws = sqlite_ws
    client = editor_of(ws)
    page = client.get("/admin/issues/2022-08", headers=FR)
    on_disk = ws.issues / "2022-08/highlights.md"
    on_disk.write_text(on_disk.read_text(encoding="utf-8") + "- Ajouté dans un éditeur.\n", encoding="utf-8")
    before = folder_state(ws.issues)
    r = submit(client, "2022-08", page.text, {"highlights.md|title": "Ce mois-là"})
    assert r.status_code == 409
    kept = client.post("/admin/issues/2022-08/resolve", data={"csrf": csrf_of(r.text), "choice": "theirs"})
    assert kept.headers["location"] == "/admin/issues/2022-08?done=kept"
    assert folder_state(ws.issues) == before


def test_refused_input_writes_nothing_and_keeps_what_was_typed(sqlite_ws):
    ws = sqlite_ws
    client = editor_of(ws)
    before = folder_state(ws.issues)
    page = client.get("/admin/issues/2023-07", headers=FR)
    r = submit(client, "2023-07", page.text, {"issue.toml|date": "31/07/2023",
                                              "news/01-bamako.md|title": "Un titre tapé"})
    assert r.status_code == 400
    assert "«\u00a031/07/2023\u00a0» n&#39;est pas une date" in r.text
    assert re.search(r'id="f-issue-toml-date"[^>]*aria-invalid="true"', r.text)
    assert 'value="Un titre tapé"' in r.text
    assert folder_state(ws.issues) == before


# -- blocks -------------------------------------------------------------------------------------------------------

def test_blocks_are_added_moved_and_removed_with_their_translations(ws):
    client = editor_of(ws)
    page = client.get("/admin/issues/2023-07", headers=FR)
    r = submit(client, "2023-07", page.text, {"new_title": "Ségou : l'atelier des jeunes"}, "add")
    assert r.headers["location"] == "/admin/issues/2023-07?done=added#block-03-segou-l-atelier-des-jeunes"
    news = ws.issues / "2023-07/news"
    assert (news / "03-segou-l-atelier-des-jeunes.md").read_text(encoding="utf-8") == \
        "---\ntitle: \"Ségou : l'atelier des jeunes\"\n---\n"
    mopti = (news / "02-mopti.md").read_bytes(), (news / "02-mopti.en.md").read_bytes()
    page = client.get("/admin/issues/2023-07", headers=FR)
    r = submit(client, "2023-07", page.text, action="up:02-mopti")
    assert r.headers["location"] == "/admin/issues/2023-07?done=moved#block-01-mopti"
    assert sorted(p.name for p in news.iterdir()) == [
        "01-mopti.en.md", "01-mopti.md", "02-bamako.en.md", "02-bamako.md", "03-segou-l-atelier-des-jeunes.md"]
    assert ((news / "01-mopti.md").read_bytes(), (news / "01-mopti.en.md").read_bytes()) == mopti
    page = client.get("/admin/issues/2023-07", headers=FR)
    r = submit(client, "2023-07", page.text, action="remove:01-mopti")
    assert r.headers["location"] == "/admin/issues/2023-07/blocks/01-mopti/remove"
    question = client.get(r.headers["location"], headers=FR)
    assert "Supprimer la nouvelle «\u00a0Les vidéos success-stories" in question.text
    assert (news / "01-mopti.md").exists(), "the question changes nothing"
    done = client.post(r.headers["location"], data={"csrf": csrf_of(question.text)})
    assert done.headers["location"] == "/admin/issues/2023-07?done=removed#news"
    assert sorted(p.name for p in news.iterdir()) == ["01-bamako.en.md", "01-bamako.md", "02-segou-l-atelier-des-jeunes.md"]
    actions = [e.action for e in audit(ws, "issue.block.add") + audit(ws, "issue.block.move")
               + audit(ws, "issue.block.remove")]
    assert actions == ["issue.block.add", "issue.block.move", "issue.block.remove"]
    assert "news/02-bamako.md -> news/01-bamako.md" in audit(ws, "issue.block.remove")[0].detail


def test_a_block_to_add_needs_a_title(sqlite_ws):
    client = editor_of(sqlite_ws)
    before = folder_state(sqlite_ws.issues)
    page = client.get("/admin/issues/2023-07", headers=FR)
    r = submit(client, "2023-07", page.text, {"new_title": "  "}, "add")
    assert r.status_code == 400 and "Donnez un titre à la nouvelle à ajouter." in r.text
    assert folder_state(sqlite_ws.issues) == before


# -- photos ---------------------------------------------------------------------------------------------------

def _upload(client, slug: str, field: str, name: str, data: bytes, changes=None):
    page = client.get(f"/admin/issues/{slug}", headers=FR)
    return submit(client, slug, page.text, changes, files={field: (name, data, "application/octet-stream")})


def test_a_photo_uploaded_is_stored_in_images_at_a_sensible_size(ws):
    client = editor_of(ws)
    raw = photo(4000, 3000, quality=95)
    r = _upload(client, "2023-07", "news/01-bamako.md|image", "IMG_2041.JPG", raw,
                {"news/01-bamako.md|image_alt": "Les partenaires du projet à Bamako"})
    assert r.status_code == 303
    stored = ws.issues / "2023-07/images/img-2041.jpg"
    img = Image.open(stored)
    assert img.size == (1104, 828) and stored.stat().st_size < len(raw) / 5
    text = (ws.issues / "2023-07/news/01-bamako.md").read_text(encoding="utf-8")
    assert "image: images/img-2041.jpg\nimage_alt: Les partenaires du projet à Bamako\n" in text
    page = client.get("/admin/issues/2023-07", headers=FR).text
    assert re.search(r'<li data-image="img-2041.jpg">img-2041.jpg — \d+ Ko dans le dossier, \d+ Ko pour un lecteur</li>',
                     page)
    assert "+ images/img-2041.jpg (1104×828" in audit(ws, "issue.save")[0].detail
    # The same photo again reuses the file; another one under the same name gets its own.
    _upload(client, "2023-07", "news/02-mopti.md|image", "IMG_2041.JPG", raw)
    assert "image: images/img-2041.jpg\n" in (ws.issues / "2023-07/news/02-mopti.md").read_text(encoding="utf-8")
    assert "image: images/img-2041.jpg\n" in (ws.issues / "2023-07/news/02-mopti.en.md").read_text(encoding="utf-8")
    _upload(client, "2023-07", "director.md|photo", "IMG_2041.JPG", photo(900, 900))
    assert Image.open(ws.issues / "2023-07/images/img-2041-2.jpg").size == (240, 240)


def test_a_20_mb_photo_is_refused_before_it_is_read(sqlite_ws):
    ws = sqlite_ws
    client = editor_of(ws)
    before = snapshot(ws)
    huge = photo(1200, 900) + bytes(20_000_000)  # a photo with 20 MB of data after its end, as some cameras add
    r = _upload(client, "2023-07", "news/01-bamako.md|image", "DSC_0001.JPG", huge)
    assert r.status_code == 413
    assert "Ce formulaire envoyait 20,1 Mo\u00a0; la limite est de 12 Mo. Rien n&#39;a été enregistré." in r.text
    assert "partagez-la en taille «\u00a0moyenne\u00a0»" in r.text
    assert snapshot(ws) == before


def test_a_body_sent_without_its_length_is_cut_at_the_limit(sqlite_ws):
    """Chunked, with no Content-Length to refuse it by: counted as it comes, refused once over the cap."""
    ws = sqlite_ws
    client = editor_of(ws)
    page = client.get("/admin/issues/2023-07", headers=FR)
    before = snapshot(ws)
    boundary = "----bulletin-test"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf_of(page.text)}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"news/01-bamako.md|image\"; "
            f"filename=\"big.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
    sent = []

    def body():
        yield head
        for _ in range(30):  # 30 MB in 1 MB pieces, never all in memory
            sent.append(1)
            yield bytes(1_000_000)
        yield f"\r\n--{boundary}--\r\n".encode()

    r = client.post("/admin/issues/2023-07", content=body(), headers={
        **FR, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413 and "Rien n&#39;a été enregistré." in r.text
    assert snapshot(ws) == before


@pytest.mark.parametrize("name, data, message", [
    ("carte.png", png_bomb(), "Cette image a plus de 40 millions de pixels"),
    ("rapport.pdf", b"%PDF-1.7\n1 0 obj << >> endobj\n", "Ce fichier n&#39;est pas une image"),
    ("photo.jpg", b"MZ\x90\x00" + bytes(5000), "Ce fichier n&#39;est pas une image"),
])
def test_a_file_that_cannot_be_a_photo_is_refused_next_to_its_field(sqlite_ws, name, data, message):
    ws = sqlite_ws
    client = editor_of(ws)
    before = snapshot(ws)
    r = _upload(client, "2023-07", "news/01-bamako.md|image", name, data, {"news/01-bamako.md|place": "Kati"})
    assert r.status_code == 400
    said = re.search(r'<p class="error" id="f-news-01-bamako-md-image-refused" role="alert">(.*?)</p>', r.text).group(1)
    assert said.startswith(message)
    assert 'value="Kati"' in r.text, "what was typed is shown again"
    assert snapshot(ws) == before


def test_a_name_with_dot_dot_is_cleaned_and_nothing_goes_outside_images(sqlite_ws, tmp_path):
    ws = sqlite_ws
    client = editor_of(ws)
    outside = folder_state(tmp_path)
    r = _upload(client, "2023-07", "news/01-bamako.md|image", "../../../evil.jpg", photo(600, 400),
                {"news/01-bamako.md|image_alt": "Une photo"})
    assert r.status_code == 303
    after = folder_state(tmp_path)
    added = sorted(set(after) - set(outside))
    assert [a for a in added if not a.startswith("bulletin.db")] == ["issues/2023-07/images/evil.jpg"]
    assert "image: images/evil.jpg\n" in (ws.issues / "2023-07/news/01-bamako.md").read_text(encoding="utf-8")


# -- preview -------------------------------------------------------------------------------------------------------

def test_the_preview_is_the_email_in_a_sandboxed_frame_with_its_images_from_here(sqlite_ws):
    client = editor_of(sqlite_ws)
    page = client.get("/admin/issues/2023-07", headers=FR)
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    src = re.search(r'<iframe src="(/admin/issues/2023-07/preview/fr\?v=[0-9a-f]+)"[^>]*sandbox="allow-same-origin '
                    r'allow-popups allow-popups-to-escape-sandbox"', page.text).group(1)
    frame = client.get(src)
    policy = frame.headers["content-security-policy"]
    assert "sandbox allow-same-origin allow-popups" in policy and "allow-scripts" not in policy
    assert "frame-ancestors 'self'" in policy and "default-src 'none'" in policy and "script-src" not in policy
    assert frame.headers["x-frame-options"] == "SAMEORIGIN"
    images = re.findall(r'<img[^>]+src="([^"]+)"', frame.text)
    assert "/admin/issues/2023-07/images/anbe-koungo-do.jpg" in images
    assert all(i.startswith(("/admin/issues/2023-07/images/", "/email/icons/")) for i in images), images
    assert "%%" not in frame.text and "/unsubscribe/preview" in frame.text
    picture = client.get("/admin/issues/2023-07/images/anbe-koungo-do.jpg")
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    text = client.get("/admin/issues/2023-07?view=text&lang=en", headers=FR)
    assert "IMRAP Newsletter" in text.text or "In July 2023" in text.text
    for bad in ("/admin/issues/2023-07/images/..%2F..%2Fissue.toml", "/admin/issues/2023-07/images/nothing.png"):
        assert client.get(bad).status_code == 404
    assert client.get("/admin/issues/2023-07/preview/de").status_code == 404
    assert client.get("/admin/issues/..%2F2022-08/preview/fr").status_code == 404


# -- test send, approval, schedule -------------------------------------------------------------------------------

def test_a_test_send_goes_to_each_address_typed(ws):
    client = editor_of(ws)
    page = client.get("/admin/issues/2023-07/send", headers=FR)
    r = client.post("/admin/issues/2023-07/test", data={"csrf": csrf_of(page.text), "language": "fr",
                                                         "to": "awa@example.org, moussa@example.org"})
    assert r.status_code == 303 and r.headers["location"] == "/admin/issues/2023-07/send?done=tested&n=2"
    got = sorted((m.rcpt, m.message["Subject"]) for m in ws.smtp.recorder.received)
    assert got == [("awa@example.org", "[TEST] Bulletin d'information de l'IMRAP — juillet 2023"),
                   ("moussa@example.org", "[TEST] Bulletin d'information de l'IMRAP — juillet 2023")]
    (entry,) = audit(ws, "issue.test_send")
    assert entry.detail == "fr -> awa@example.org, moussa@example.org"
    assert "Le test est parti (2 messages)." in client.get(r.headers["location"], headers=FR).text


@pytest.mark.parametrize("to, message", [
    ("", "Donnez au moins une adresse."),
    ("awa@example.org, pas-une-adresse", "«\u00a0pas-une-adresse\u00a0» n&#39;est pas une adresse électronique."),
    (", ".join(f"p{i}@example.org" for i in range(11)), "Un test va à 10 adresses au plus."),
])
def test_a_test_send_to_bad_addresses_is_refused_and_sends_nothing(sqlite_ws, to, message):
    client = editor_of(sqlite_ws)
    page = client.get("/admin/issues/2023-07/send", headers=FR)
    r = client.post("/admin/issues/2023-07/test", data={"csrf": csrf_of(page.text), "to": to})
    assert r.status_code == 400
    assert f'<p class="error" role="alert" id="test-error">{message}</p>' in r.text
    assert sqlite_ws.smtp.recorder.received == [] and audit(sqlite_ws, "issue.test_send") == []


def test_an_issue_with_errors_is_not_test_sent(sqlite_ws):
    ws = sqlite_ws
    (ws.issues / "2022-08/news/02-kangaba.md").write_text("---\ntitle: Kangaba\nimage: images/absente.jpg\nimage_alt: Kangaba\n---\nx\n")
    client = editor_of(ws)
    page = client.get("/admin/issues/2022-08/send", headers=FR)
    assert re.search(r'<button type="submit" disabled aria-describedby="check-errors">Envoyer le test', page.text)
    r = client.post("/admin/issues/2022-08/test", data={"csrf": csrf_of(page.text), "to": "awa@example.org"})
    assert r.status_code == 400 and "Le contrôle trouve 1 erreur(s)" in r.text
    assert ws.smtp.recorder.received == []


def test_scheduling_is_for_admins_and_goes_through_the_sends_service(ws):
    editor = editor_of(ws)
    page = editor.get("/admin/issues/2023-07/send", headers=FR)
    assert "Programmer l&#39;envoi à une liste est réservé aux administrateurs." in page.text
    assert 'action="/admin/issues/2023-07/schedule"' not in page.text
    data = {"csrf": csrf_of(page.text), "list": "actualites", "date": "2099-01-01", "time": "08:00"}
    assert editor.post("/admin/issues/2023-07/schedule", data=data).status_code == 403
    admin = ws.signed_in("admin@imrap-mali.org")
    page = admin.get("/admin/issues/2023-07/send", headers=FR)
    r = admin.post("/admin/issues/2023-07/schedule", data={**data, "csrf": csrf_of(page.text)})
    assert r.status_code == 303 and re.fullmatch(r"/admin/sends/\d+\?done=scheduled", r.headers["location"])
    listed = admin.get("/admin/issues", headers=FR).text
    assert '<tr data-slug="2023-07" data-state="scheduled">' in listed
    (entry,) = audit(ws, "send.schedule")
    assert entry.actor == "admin@imrap-mali.org" and entry.detail.startswith("2023-07 -> actualites at 2099-01-01T08:00")


def test_the_editor_pages_refuse_an_unknown_issue(sqlite_ws):
    client = editor_of(sqlite_ws)
    for path in ("/admin/issues/2099-01", "/admin/issues/2099-01/send", "/admin/issues/2099-01/preview",
                 "/admin/issues/2023-07/blocks/09-rien/remove"):
        r = client.get(path, headers=FR)
        assert r.status_code == 404, path


def test_approving_in_the_browser_writes_the_record_bulletin_approve_writes(ws):
    from bulletin.services import issues
    from bulletin.states import ApprovalState

    client = editor_of(ws)
    page = client.get("/admin/issues/2023-07/send", headers=FR)
    assert re.search(r'<p id="approval" data-state="not_approved">Pas encore approuvé.</p>', page.text)
    r = client.post("/admin/issues/2023-07/approve", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/admin/issues/2023-07/send?done=approved"
    with ws.store.unit_of_work() as uow:
        state = issues.approval(uow, ws.site.cfg, ws.issues / "2023-07")
    assert (state.state, state.approved_by) == (ApprovalState.APPROVED, "redaction@imrap-mali.org")
    assert state.approved_fingerprint == issues.fingerprint(ws.site.cfg, ws.issues / "2023-07").digest
    (entry,) = audit(ws, "issue.approve")
    assert entry.detail.startswith(state.approved_fingerprint)
    assert '<tr data-slug="2023-07" data-state="approved">' in client.get("/admin/issues", headers=FR).text
    # An edit in the editor is a new version: approved no longer, until approved again.
    page = client.get("/admin/issues/2023-07", headers=FR)
    submit(client, "2023-07", page.text, {"highlights.md|title": "En juillet 2023"})
    assert '<tr data-slug="2023-07" data-state="changed">' in client.get("/admin/issues", headers=FR).text
    page = client.get("/admin/issues/2023-07/send", headers=FR)
    assert 'data-state="changed"' in page.text and "à approuver de nouveau" in page.text


def test_an_issue_with_errors_is_not_approved(sqlite_ws):
    ws = sqlite_ws
    (ws.issues / "2022-08/news/01-tombouctou.md").write_text("---\nplace: Tombouctou\n---\nSans titre.\n")
    client = editor_of(ws)
    page = client.get("/admin/issues/2022-08/send", headers=FR)
    r = client.post("/admin/issues/2022-08/approve", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 409 and "Le contrôle trouve 1 erreur(s)\u00a0: corrigez-les d&#39;abord." in r.text
    assert audit(ws, "issue.approve") == []


def test_the_send_page_says_when_the_monthly_schedule_sends_the_issue(make_config, sqlite_url, tmp_path, smtp):
    issues = tmp_path / "issues"
    shutil.copytree(REPO / "issues" / "2023-07", issues / "2099-03")
    with live_workspace(make_config, sqlite_url, tmp_path, extra=f'issues_dir = "{issues}"',
                        sections='[schedule]\nday = "first tuesday"\ntime = "08:00"\nlist = "actualites"\n') as ws:
        seed_workspace(ws)
        client = editor_of(ws)
        page = client.get("/admin/issues/2099-03/send", headers=FR).text
        said = re.search(r'<p id="monthly">(.*?)</p>', page).group(1)
        assert said.startswith("Le calendrier mensuel l&#39;enverra à la liste actualites le 3 mars 2099")
        assert "08:00" in said
        page = client.get("/admin/issues/2023-07/send", headers=FR).text
        assert '<p class="muted" id="monthly">Le calendrier mensuel n&#39;enverra pas ce numéro' in page
