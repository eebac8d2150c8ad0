"""`/admin/lists` and `/admin/subscribers` over HTTP on a live server: lists created, described, archived behind a
confirmation and brought back, with their counts; people searched with filters and pages, added (and refused
next to the field), a person's history after a real web confirmation and one-click unsubscribe (time, IP
address, the send the link came from), unsubscribed behind a confirmation, their data downloaded, erased; every
change in the audit log."""

from __future__ import annotations

import html
import json
import re

from sqlalchemy import select

from bulletin.store import db
from bulletin.store.models import AuditEntry, Subscriber, Subscription
from admin_support import csrf_of, snapshot, sqlite_ws, ws  # noqa: F401 (fixtures)


def _audit(ws, action_prefix: str) -> list[tuple]:
    with db.session_scope(ws.site.engine) as s:
        return [tuple(r) for r in s.execute(
            select(AuditEntry.action, AuditEntry.object_type, AuditEntry.object_id, AuditEntry.detail)
            .where(AuditEntry.action.like(action_prefix + "%")).order_by(AuditEntry.id))]


def _text(r) -> str:
    return html.unescape(r.text)


def test_lists_are_created_described_archived_and_brought_back(ws):
    admin = ws.signed_in("admin@imrap-mali.org")
    page = admin.get("/admin/lists")
    counts = {m[0]: m[1] for m in re.findall(r'data-status="(\w+)"><a [^>]*>(\d+)<', page.text.split(
        'data-list="actualites"')[1].split("</tr>")[0])}
    assert counts == {"subscribed": "2", "unconfirmed": "0", "unsubscribed": "0", "bounced": "0"}
    assert re.search(r'data-language="en">English&nbsp;1</span>', page.text)
    token = csrf_of(page.text)
    before = snapshot(ws)
    r = admin.post("/admin/lists", data={"csrf": token, "slug": "Atelier Ségou", "name": "Atelier"})
    assert r.status_code == 400 and re.search(r'id="slug" name="slug"[^>]*aria-invalid="true"', r.text)
    assert "Le nom court d'une liste s'écrit en minuscules" in _text(r) and 'value="Atelier"' in r.text
    assert snapshot(ws) == before
    r = admin.post("/admin/lists", data={"csrf": token, "slug": "atelier", "name": " Atelier  de Ségou ",
                                         "description": "Inscrits de mars."})
    assert r.status_code == 303 and r.headers["location"] == "/admin/lists?done=added"
    r = admin.post("/admin/lists/atelier", data={"csrf": token, "name": "", "description": ""})
    assert r.status_code == 400 and "Une liste doit avoir un nom." in _text(r)
    r = admin.post("/admin/lists/atelier", data={"csrf": token, "name": "Atelier de Ségou (mars)",
                                                 "description": "Inscrits de mars, à relancer."})
    assert r.status_code == 303
    page = _text(admin.get("/admin/lists/atelier?done=saved"))
    assert "Atelier de Ségou (mars)" in page and "Inscrits de mars, à relancer." in page and "Enregistré." in page
    question = admin.get("/admin/lists/atelier/archive")
    assert "Personne n'est désabonné" in _text(question)
    assert admin.post("/admin/lists/atelier/archive", data={"csrf": token}).status_code == 303
    archived = _text(admin.get("/admin/lists/atelier"))
    assert 'id="archived"' in archived and "Rouvrir cette liste" in archived
    public = _text(ws.client().get("/subscribe"))
    assert "Actualités de l'IMRAP" in public and "Atelier de Ségou" not in public
    assert admin.post("/admin/lists/atelier/restore", data={"csrf": token}).status_code == 303
    assert "Atelier de Ségou (mars)" in _text(ws.client().get("/subscribe"))
    assert admin.get("/admin/lists/nulle-part").status_code == 404
    assert admin.get("/admin/lists/Nope%20Bad").status_code == 404, "not a slug: no such list, before any query"
    assert [a[0] for a in _audit(ws, "list.")] == ["list.add", "list.edit", "list.archive", "list.restore"]


def test_the_search_filters_and_pages(sqlite_ws):
    ws = sqlite_ws
    with db.session_scope(ws.site.engine) as s:
        for i in range(90):
            p = Subscriber(email=f"participant{i:02d}@ong.example", email_key=f"participant{i:02d}@ong.example",
                           name=f"Participant Numéro {i}", language="en" if i % 4 == 0 else "fr")
            s.add(p)
            s.flush()
            s.add(Subscription(subscriber_id=p.id, list_id=2, status="unsubscribed" if i % 3 == 0 else "subscribed"))
    admin = ws.signed_in("admin@imrap-mali.org")
    emails = lambda r: re.findall(r'<a href="/admin/subscribers/\d+">([^<]+)</a>', r.text)  # noqa: E731
    first = admin.get("/admin/subscribers?q=NUMERO&list=partenaires&status=subscribed")
    assert emails(first) == [f"participant{i:02d}@ong.example" for i in range(90) if i % 3][:50]
    more = re.search(r'<a href="([^"]+)" rel="next">Page suivante</a>', first.text).group(1)
    second = admin.get(html.unescape(more))
    assert emails(second) == [f"participant{i:02d}@ong.example" for i in range(90) if i % 3][50:]
    assert 'rel="next"' not in second.text and "Première page" in second.text
    assert emails(admin.get("/admin/subscribers?q=traor")) == ["Awa.Traore@example.org"]
    assert emails(admin.get("/admin/subscribers?language=en&list=actualites")) == ["john@example.com"]
    nobody = admin.get("/admin/subscribers?q=%25%27%22<script>")
    assert nobody.status_code == 200 and 'id="nobody"' in nobody.text and "<script>" not in nobody.text
    unknown = admin.get("/admin/subscribers?list=nulle-part")
    assert unknown.status_code == 200 and 'id="search-error"' in unknown.text and 'id="nobody"' in unknown.text


def test_adding_someone_refuses_mistakes_next_to_the_field(sqlite_ws):
    ws = sqlite_ws
    admin = ws.signed_in("admin@imrap-mali.org")
    token = csrf_of(admin.get("/admin/subscribers").text)
    before = snapshot(ws)
    for data, status, field, words in (
            ({"email": "awa@", "list": "actualites"}, 400, "new-email", "n'est pas une adresse électronique"),
            ({"email": "a@example.org", "list": "nulle-part"}, 400, "new-list", "Aucune liste"),
            ({"email": "a@example.org", "list": "actualites", "language": "bambara"}, 400, None, "Langue inconnue"),
            ({"email": "a@example.org", "list": ""}, 400, "new-list", "Choisissez une liste.")):
        r = admin.post("/admin/subscribers", data={"csrf": token, **data})
        assert r.status_code == status and words in _text(r), data
        if field:
            assert re.search(rf'id="{field}" name="\w+"[^>]*aria-invalid="true"', r.text), data
    assert snapshot(ws) == before
    r = admin.post("/admin/subscribers", data={"csrf": token, "email": "Kadi@Example.org", "name": "Kadiatou",
                                               "language": "fr", "list": "partenaires"})
    assert r.status_code == 303 and r.headers["location"].endswith("?done=added")
    page = _text(admin.get(r.headers["location"]))
    assert "Ajouté à la liste." in page and "par admin@imrap-mali.org dans l'espace de travail" in page
    # Someone who left is not added back: the page says why and that an invitation is the way.
    pid = re.search(r"/admin/subscribers/(\d+)", r.headers["location"]).group(1)
    page = admin.get(f"/admin/subscribers/{pid}/unsubscribe?list=partenaires")
    assert admin.post(f"/admin/subscribers/{pid}/unsubscribe", data={"csrf": token, "list": "partenaires"}) \
        .status_code == 303
    again = admin.post("/admin/subscribers", data={"csrf": token, "email": "kadi@example.org", "list": "partenaires"})
    assert again.status_code == 409 and "seule la personne peut se réabonner" in _text(again)


def test_a_persons_history_after_a_web_confirmation_and_a_one_click_unsubscribe(ws):
    site = ws.site
    visitor = ws.client()
    token = site.tokens.confirm("moussa@example.org", 1, "fr", "Moussa Koné")
    assert visitor.post(f"/confirm/{token}").status_code == 200
    with db.session_scope(site.engine) as s:
        pid = s.scalar(select(Subscriber.id).where(Subscriber.email_key == "moussa@example.org"))
    send = int(ws.params["send"])
    one_click = visitor.post(f"/unsubscribe/{site.tokens.unsubscribe(pid, 1, send)}",
                             data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    admin = ws.signed_in("admin@imrap-mali.org")
    page = _text(admin.get(f"/admin/subscribers/{pid}"))
    history = page[page.index('id="history"'):page.index('id="received-title"')]
    confirm = re.search(r'<tr data-kind="confirm">(.*?)</tr>', history, re.S).group(1)
    unsubscribe = re.search(r'<tr data-kind="unsubscribe">(.*?)</tr>', history, re.S).group(1)
    assert "le formulaire public (lien confirmé)" in confirm and "127.0.0.1" in confirm
    assert f'href="/admin/sends/{send}">n°\u00a0{send} (2099-01)</a>' in unsubscribe
    assert "le lien de désabonnement (un clic depuis la messagerie)" in unsubscribe and "127.0.0.1" in unsubscribe
    assert re.search(r'data-status="unsubscribed">désabonné<', page)
    assert "Inviter à revenir sur une liste" in page


def test_unsubscribe_export_and_erase_from_a_persons_page(sqlite_ws):
    ws = sqlite_ws
    admin = ws.signed_in("admin@imrap-mali.org")
    awa = ws.params["subscriber"]
    question = admin.get(f"/admin/subscribers/{awa}/unsubscribe?list=partenaires")
    assert "Désabonner Awa.Traore@example.org de «\u00a0Lettre aux partenaires\u00a0»" in _text(question)
    assert 'name="list" value="partenaires"' in question.text
    token = csrf_of(question.text)
    assert snapshot(ws)["subscriptions"][1][2] == "subscribed", "the question changes nothing"
    r = admin.post(f"/admin/subscribers/{awa}/unsubscribe", data={"csrf": token, "list": "partenaires"})
    assert r.status_code == 303 and r.headers["location"].endswith("?done=unsubscribed")
    r = admin.post(f"/admin/subscribers/{awa}/unsubscribe", data={"csrf": token, "list": "partenaires"})
    assert r.headers["location"].endswith("?done=nothing")
    r = admin.post(f"/admin/subscribers/{awa}/edit", data={"csrf": token, "name": "Awa Traoré", "language": "en"})
    assert r.status_code == 303 and r.headers["location"].endswith("?done=saved")
    exported = admin.post(f"/admin/subscribers/{awa}/export", data={"csrf": token})
    assert exported.headers["content-disposition"] == f'attachment; filename="subscriber-{awa}.json"'
    data = json.loads(exported.content)
    assert data["subscriber"]["email"] == "Awa.Traore@example.org" and data["subscriber"]["language"] == "en"
    assert {m["slug"]: m["status"] for m in data["lists"]} == {"actualites": "subscribed", "partenaires": "unsubscribed"}
    assert [e["kind"] for e in data["events"]] == ["update", "unsubscribe"]
    question = admin.get(f"/admin/subscribers/{awa}/erase")
    assert "sans retour possible" in _text(question)
    r = admin.post(f"/admin/subscribers/{awa}/erase", data={"csrf": token})
    assert r.status_code == 303
    page = _text(admin.get(r.headers["location"]))
    assert "La personne est effacée." in page and "Awa.Traore@example.org" not in page and "Traoré" not in page
    assert "Effacer cette personne" not in page and 'data-status="erased"' in page
    assert admin.get(f"/admin/subscribers/{awa}/erase").status_code == 303
    assert admin.post(f"/admin/subscribers/{awa}/erase", data={"csrf": token}).status_code == 409
    again = admin.post("/admin/subscribers", data={"csrf": token, "email": "awa.traore@EXAMPLE.org",
                                                   "list": "actualites"})
    assert again.status_code == 409 and "effacée à la demande de son titulaire" in _text(again)
    assert [a[0] for a in _audit(ws, "subscriber.")] == ["subscriber.unsubscribe", "subscriber.edit",
                                                         "subscriber.export", "subscriber.erase"]
    assert all(a[1:3] == ("subscriber", str(awa)) for a in _audit(ws, "subscriber."))
    assert all("awa" not in (a[3] or "").lower() for a in _audit(ws, ""))
