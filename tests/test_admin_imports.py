"""`/admin/imports` over HTTP on a live server: an upload refused before its body is read (a visitor, an editor,
a body over the cap, with or without Content-Length); the dry run's report in the reader's language, then the
import or its abandon, the file deleted either way; a large file's progress shown while the other pages answer
(the runner is held mid-file by the test, never waited for with a clock); a job whose runner died, checked again;
a file that cannot be read; refusals next to the field."""

from __future__ import annotations

import html
import io
import itertools
import re
import select
import socket
import threading
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select as sql_select

from bulletin.services import imports
from bulletin.services.audit import Actor
from bulletin.store import db
from bulletin.store.models import AuditEntry, ImportJob, Subscriber, Subscription
from admin_support import checked_import, csrf_of, seeded_workspace, snapshot

FRENCH_EXCEL = ("Participants - atelier de Ségou;;\r\nNom;Adresse e-mail;Langue\r\nAwa Traoré;awa.t@example.org;fr\r\n"
                "Moussa Koné;moussa@;fr\r\nFanta Diarra;fanta@example.org;bambara\r\n").encode("cp1252")


@pytest.fixture
def ws(make_config, db_url, tmp_path):
    with seeded_workspace(make_config, db_url, tmp_path, extra="upload_max_mb = 1") as w:
        w.runner = w.site.app.state.workspace.imports
        yield w


@pytest.fixture
def sqlite_ws(make_config, sqlite_url, tmp_path):
    with seeded_workspace(make_config, sqlite_url, tmp_path, extra="upload_max_mb = 1") as w:
        w.runner = w.site.app.state.workspace.imports
        yield w


def _uploads(ws) -> list[str]:
    return sorted(p.name for p in imports.uploads_folder(ws.site.cfg).iterdir())


def _upload(client, data: bytes, list_slug: str = "actualites", name: str = "participants.csv", **headers):
    token = csrf_of(client.get("/admin/imports").text)
    return client.post("/admin/imports", data={"csrf": token, "list": list_slug},
                       files={"file": (name, data, "text/csv")}, headers=headers)


def _raw_post(ws, head: dict[str, str], chunks=()) -> tuple[int, int]:
    """POST /admin/imports over a bare socket: the headers, then `chunks` one by one (chunked encoding) until the
    server answers, and the end of the body. (status, bytes of body sent before the answer). Nothing is sent that the test does not say:
    an answer that waits for a body it never gets would time out, and the test fail."""
    parts = urlsplit(ws.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    lines = ["POST /admin/imports HTTP/1.1", f"Host: {parts.netloc}",
             "Content-Type: multipart/form-data; boundary=----bulletin"] + [f"{k}: {v}" for k, v in head.items()]
    sent = 0
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        for chunk in chunks:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        else:
            if chunks:
                sock.sendall(b"0\r\n\r\n")  # the end of a chunked body
        answer = sock.recv(4096)
    finally:
        sock.close()
    return int(answer.split(b" ", 2)[1]), sent


def _cookie(client) -> str:
    return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


def test_an_upload_is_refused_before_its_body_is_read(sqlite_ws):
    ws = sqlite_ws
    editor, admin = ws.signed_in("redaction@imrap-mali.org"), ws.signed_in("admin@imrap-mali.org")
    before, files = snapshot(ws), _uploads(ws)
    allowed, huge = str(900 << 10), str(200 << 20)  # 900 KB (under the cap) or 200 MB announced, not a byte sent
    assert _raw_post(ws, {"Content-Length": allowed}) == (403, 0), "a visitor"
    assert _raw_post(ws, {"Content-Length": allowed, "Cookie": _cookie(editor)}) == (403, 0), "an editor"
    assert _raw_post(ws, {"Content-Length": huge}) == (413, 0), "a visitor, over the cap"
    assert _raw_post(ws, {"Content-Length": huge, "Cookie": _cookie(admin)}) == (413, 0), "over the cap"
    # Without Content-Length (chunked), the body is read only up to the cap (1 MB here), then refused.
    start = (b'------bulletin\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
             b"Content-Type: text/csv\r\n\r\nemail\r\n")
    status, sent = _raw_post(ws, {"Transfer-Encoding": "chunked", "Cookie": _cookie(admin)},
                             itertools.chain([start], (b"a@example.org\r\n" * 4096 for _ in range(200))))
    assert status == 413
    assert snapshot(ws) == before and _uploads(ws) == files


def test_the_app_never_reads_past_the_cap():
    """The middleware on its own: the app is handed the body only until the cap is passed; the rest is read and
    dropped (at most DRAIN_MAX bytes in all, so that a client still sending gets the answer), and a body declared
    longer than DRAIN_MAX is not read at all."""
    import asyncio

    from starlette.responses import PlainTextResponse

    from bulletin.web.bodylimit import DRAIN_MAX, BodyLimit

    pulled, handed = [], []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            handed.append(len(message["body"]))
            if not message.get("more_body"):
                break
        await PlainTextResponse("read it all")(scope, receive, send)

    def body(size: int):
        chunks = [1000] * (size // 1000)

        async def receive():
            n = chunks.pop()
            pulled.append(n)
            return {"type": "http.request", "body": b"x" * n, "more_body": bool(chunks)}
        return receive

    sent = []

    async def send(message):
        sent.append(message)

    limited = BodyLimit(app, limit=lambda path: 10_000,
                        too_large=lambda request, size, cap: PlainTextResponse(f"too large: {size}", 413))
    chunked = {"type": "http", "method": "POST", "path": "/admin/imports", "headers": [], "query_string": b""}
    asyncio.run(limited(chunked, body(50_000), send))
    assert sent[0]["status"] == 413 and sent[1]["body"] == b"too large: None"
    assert sum(handed) == 10_000 and sum(pulled) == 50_000, "the app got 10 kB; the rest was read and dropped"

    for declared, read in ((20_000, 20_000), (DRAIN_MAX + 1000, 0)):
        pulled.clear(), handed.clear(), sent.clear()
        scope = {**chunked, "headers": [(b"content-length", str(declared).encode())]}
        asyncio.run(limited(scope, body(declared), send))
        assert sent[0]["status"] == 413 and sent[1]["body"] == f"too large: {declared}".encode()
        assert handed == [] and sum(pulled) == read

    pulled.clear(), handed.clear(), sent.clear()
    asyncio.run(limited({**chunked, "path": "/admin/x", "method": "GET"}, body(50_000), send))
    assert sent[0]["status"] == 200 and sum(handed) == 50_000, "a GET is not counted"


def test_the_413_page_says_the_cap_in_the_readers_language(sqlite_ws):
    admin = sqlite_ws.signed_in("admin@imrap-mali.org")
    r = _upload(admin, b"email\r\n" + b"a@example.org\r\n" * 80_000)  # 1.2 MB
    assert r.status_code == 413 and "Ce formulaire envoyait 1,2 Mo\u00a0; la limite est de 1 Mo." in r.text
    assert "Découpez le fichier en plusieurs fichiers plus petits" in r.text
    r = admin.post("/admin/lists", data={"csrf": "x", "description": "d" * (2 << 20)})
    assert r.status_code == 413, "a form without a file is capped at 1 MB"


def test_a_french_excel_file_is_checked_then_imported_and_deleted(ws):
    admin = ws.signed_in("admin@imrap-mali.org")
    files = _uploads(ws)
    r = _upload(admin, FRENCH_EXCEL, name="C:\\Users\\awa\\participants.csv")
    assert r.status_code == 303
    job = re.fullmatch(r"/admin/imports/(\d+)", r.headers["location"]).group(1)
    assert len(_uploads(ws)) == len(files) + 1
    ws.runner.drain()
    page = html.unescape(admin.get(f"/admin/imports/{job}").text)
    assert "Ce que ferait l'import (rien n'est encore écrit)" in page
    assert re.search(r'data-key="added">2<', page) and re.search(r'data-key="rejected">1<', page)
    rejected = re.findall(r'<tr data-line="(\d+)"><td class="n">\d+</td><td>([^<]*)</td><td>([^<]*)</td>',
                          page[page.index('id="rejected"'):page.index('id="warnings"')])
    assert rejected == [("4", "moussa@", rejected[0][2])] and rejected[0][2].startswith("adresse électronique invalide")
    assert "langue inconnue 'bambara'" in page and "participants.csv pour la liste actualites" in page
    english = html.unescape(admin.get(f"/admin/imports/{job}", headers={"Accept-Language": "en"}).text)
    assert "unknown language 'bambara': set to 'fr'" in english
    text = admin.get(f"/admin/imports/{job}/report").text
    assert "ligne 4 : 'moussa@' : adresse électronique invalide" in text.replace("\u00a0", " ")
    with db.session_scope(ws.site.engine) as s:
        assert s.scalar(sql_select(func.count()).select_from(Subscriber)) == 2, "a dry run writes nobody"
    token = csrf_of(page)
    assert admin.post(f"/admin/imports/{job}/confirm", data={"csrf": token}).status_code == 303
    again = admin.post(f"/admin/imports/{job}/confirm", data={"csrf": token})  # a second click: imported once
    assert again.status_code == 409 and "Impossible maintenant" in html.unescape(again.text)
    ws.runner.drain()
    done = html.unescape(admin.get(f"/admin/imports/{job}").text)
    assert 'data-state="done"' in done and "Ce qu'a fait l'import" in done
    with db.session_scope(ws.site.engine) as s:
        people = dict(s.execute(sql_select(Subscriber.email, Subscription.source)
                                .join(Subscription, Subscription.subscriber_id == Subscriber.id)
                                .where(Subscription.list_id == 1)).all())
        log = s.execute(sql_select(AuditEntry.action, AuditEntry.actor).where(AuditEntry.object_type == "import",
                                                                         AuditEntry.object_id == job)
                        .order_by(AuditEntry.id)).all()
    assert people["awa.t@example.org"] == "import:participants.csv" and "fanta@example.org" in people
    assert log == [("import.upload", "admin@imrap-mali.org"), ("import.confirm", "admin@imrap-mali.org")]
    assert _uploads(ws) == files


def test_abandoning_deletes_the_file_and_imports_nothing(sqlite_ws):
    ws = sqlite_ws
    admin = ws.signed_in("admin@imrap-mali.org")
    job = ws.params["job"]
    assert len(_uploads(ws)) == 1, "the seed's file, checked"
    before = snapshot(ws)["people"]
    page = admin.get(f"/admin/imports/{job}").text
    r = admin.post(f"/admin/imports/{job}/abandon", data={"csrf": csrf_of(page)})
    assert r.status_code == 303 and _uploads(ws) == []
    after = admin.get(r.headers["location"]).text
    assert "Abandonné\u00a0: le fichier est supprimé." in after and "Importer ces lignes" not in after
    assert admin.post(f"/admin/imports/{job}/confirm", data={"csrf": csrf_of(page)}).status_code == 409
    assert snapshot(ws)["people"] == before


def test_a_large_file_shows_its_progress_while_the_other_pages_answer(ws):
    held, release = threading.Event(), threading.Event()

    def pause(job_id: int) -> None:
        held.set()
        release.wait(60)

    ws.runner.pause = pause
    admin = ws.signed_in("admin@imrap-mali.org")
    rows = "".join(f"Personne {i};p{i}@example.org\r\n" for i in range(2500))
    try:
        r = _upload(admin, ("Nom;Courriel\r\n" + rows).encode())
        job = r.headers["location"]
        assert held.wait(60), "the runner reached the end of its first batch"
        page = admin.get(job).text  # a plain reload, as without JavaScript
        percent = int(re.search(r'<progress max="100" value="(\d+)"', page).group(1))
        assert 0 < percent < 100 and "Vérification du fichier…" in page and 'href="' + job + '"' in page
        live = admin.get(f"{job}/progress")
        assert live.text.startswith('<div id="progress" hx-get=') and "hx-refresh" not in live.headers
        # Meanwhile the other pages answer, and a colleague signs in (a write).
        assert admin.get("/admin/").status_code == 200
        assert admin.get("/admin/subscribers?q=awa").status_code == 200
        ws.signed_in("redaction@imrap-mali.org")
    finally:
        release.set()
        ws.runner.pause = None
    ws.runner.drain()
    finished = admin.get(f"{job}/progress")
    assert finished.headers["hx-refresh"] == "true"
    assert re.search(r'data-key="added">2[.,\u202f\u00a0]?500<', admin.get(job).text)


def test_a_job_whose_runner_stopped_is_seen_and_checked_again(sqlite_ws):
    ws = sqlite_ws
    admin = ws.signed_in("admin@imrap-mali.org")
    stored, size = imports.save_upload(ws.site.cfg, io.BytesIO(b"email\nnew@example.org\n"), max_bytes=1 << 20)
    with ws.store.unit_of_work() as uow:  # uploaded, then the server stopped before the check ran
        job = imports.start(uow, ws.site.cfg, list_slug="actualites", file_name="a.csv", stored_name=stored,
                            size=size, actor=Actor.cli(), now=ws.clock()).id
    page = admin.get(f"/admin/imports/{job}").text
    assert "Vérification du fichier…" in page and "Vérifier de nouveau" not in page
    ws.clock.advance(minutes=16)
    page = admin.get(f"/admin/imports/{job}").text
    assert "interrompu (le serveur a redémarré)" in page and "Vérifier de nouveau" in page and "<progress" not in page
    assert admin.post(f"/admin/imports/{job}/check", data={"csrf": csrf_of(page)}).status_code == 303
    ws.runner.drain()
    assert 'data-state="checked"' in admin.get(f"/admin/imports/{job}").text


def test_a_file_that_cannot_be_read_fails_with_its_reason_and_can_be_abandoned(sqlite_ws):
    ws = sqlite_ws
    admin = ws.signed_in("admin@imrap-mali.org")
    r = _upload(admin, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, name="photo.csv")
    ws.runner.drain()
    page = admin.get(r.headers["location"]).text
    assert 'data-state="failed"' in page
    assert '<p class="error" id="failure">ce n&#39;est pas un fichier CSV (il contient des données binaires)</p>' in page
    english = admin.get(r.headers["location"], headers={"Accept-Language": "en"}).text
    assert '<p class="error" id="failure">this is not a CSV file (it holds binary data)</p>' in english
    assert len(_uploads(ws)) == 2, "kept until abandoned"
    assert admin.post(r.headers["location"] + "/abandon", data={"csrf": csrf_of(page)}).status_code == 303
    assert len(_uploads(ws)) == 1, "the seed's file only"


@pytest.mark.parametrize("data, list_slug, field, message", [
    (b"", "actualites", "file", "Le fichier est vide."),
    (b"email\n", "nulle-part", "list", "Aucune liste «\u00a0nulle-part\u00a0»."),
    (None, "actualites", "file", "Choisissez un fichier."),
])
def test_an_upload_is_refused_next_to_its_field(sqlite_ws, data, list_slug, field, message):
    ws = sqlite_ws
    admin = ws.signed_in("admin@imrap-mali.org")
    before = snapshot(ws)
    if data is None:
        r = admin.post("/admin/imports", data={"csrf": csrf_of(admin.get("/admin/imports").text), "list": list_slug})
    else:
        r = _upload(admin, data, list_slug=list_slug)
    assert r.status_code == 400
    assert f'<p class="error" role="alert" id="upload-error">{message}</p>' in r.text
    assert re.search(rf'id="{field}" name="{field}"[^>]*aria-invalid="true"', r.text)
    assert snapshot(ws) == before and len(_uploads(ws)) == 1  # the seed's file only


def test_an_upload_to_an_archived_list_is_refused(sqlite_ws):
    ws = sqlite_ws
    admin = ws.signed_in("admin@imrap-mali.org")
    page = admin.get("/admin/lists/partenaires/archive").text
    assert admin.post("/admin/lists/partenaires/archive", data={"csrf": csrf_of(page)}).status_code == 303
    r = _upload(admin, b"email\na@example.org\n", list_slug="partenaires")
    assert r.status_code == 400 and "est archivée" in r.text
    assert 'value="partenaires"' not in r.text[r.text.index('id="list"'):r.text.index("</select>")]
    with db.session_scope(ws.site.engine) as s:
        assert s.scalar(sql_select(func.count()).select_from(ImportJob)) == 1


def test_a_multipart_upload_without_its_csrf_token_is_refused_and_not_kept(sqlite_ws):
    ws = sqlite_ws
    admin = ws.signed_in("admin@imrap-mali.org")
    before = snapshot(ws)
    r = admin.post("/admin/imports", data={"list": "actualites"}, files={"file": ("a.csv", b"email\na@b.org\n")})
    assert r.status_code == 403
    assert snapshot(ws) == before and len(_uploads(ws)) == 1


def test_a_list_downloads_as_csv_that_the_import_reads_back(sqlite_ws):
    ws = sqlite_ws
    admin = ws.signed_in("admin@imrap-mali.org")
    token = csrf_of(admin.get("/admin/imports").text)
    r = admin.post("/admin/imports/export", data={"csrf": token, "list": "actualites"})
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith('attachment; filename="actualites-')
    assert r.content.startswith(b"\xef\xbb\xbf") and "Awa.Traore@example.org" in r.content.decode("utf-8-sig")
    job = checked_import(ws, "actualites", r.content.decode("utf-8-sig"))
    page = admin.get(f"/admin/imports/{job}").text
    assert re.search(r'data-key="unchanged">2<', page) and re.search(r'data-key="added">0<', page)
    bad = admin.post("/admin/imports/export", data={"csrf": token, "list": "nulle-part"})
    assert bad.status_code == 400 and "Aucune liste" in bad.text
    with db.session_scope(ws.site.engine) as s:
        assert s.scalar(sql_select(AuditEntry.detail).where(AuditEntry.action == "list.export")) == "2 rows"


def test_an_import_whose_runner_stopped_is_checked_again_then_imported(sqlite_ws):
    """Confirmed, then the server stopped before the import ran (its transaction, had it begun, rolled back)."""
    ws = sqlite_ws
    job = ws.params["job"]
    with ws.store.unit_of_work() as uow:
        imports.ask_confirm(uow, int(job), now=ws.clock())
    admin = ws.signed_in("admin@imrap-mali.org")
    assert "Import en cours…" in admin.get(f"/admin/imports/{job}").text
    ws.clock.advance(minutes=16)
    page = html.unescape(admin.get(f"/admin/imports/{job}").text)
    assert "interrompu (le serveur a redémarré)" in page and "Vérifier de nouveau" in page and "Abandonner" in page
    assert admin.post(f"/admin/imports/{job}/check", data={"csrf": csrf_of(page)}).status_code == 303
    ws.runner.drain()
    assert admin.post(f"/admin/imports/{job}/confirm", data={"csrf": csrf_of(page)}).status_code == 303
    ws.runner.drain()
    assert 'data-state="done"' in admin.get(f"/admin/imports/{job}").text
    with db.session_scope(ws.site.engine) as s:
        assert s.scalar(sql_select(func.count()).select_from(Subscriber)
                        .where(Subscriber.email_key == "nouveau@example.org")) == 1
