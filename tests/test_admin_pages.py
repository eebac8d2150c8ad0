"""The workspace's pages over HTTP on a live server: what the dashboard counts, resuming a waiting send,
schedule and account forms that refuse bad input next to the field, the audit log's filters, static files
cached and pinned, and every page under 100 KB with its style sheet and script."""

from __future__ import annotations

import datetime as dt
import html
import hashlib
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bulletin.store import db
from bulletin.store.models import AuditEntry, Delivery, Event, Send, Subscriber, Subscription
from bulletin.web.admin import access
from admin_support import concrete, csrf_of, snapshot, sqlite_ws, ws  # noqa: F401 (fixtures)

REPO = Path(__file__).resolve().parent.parent
HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"


def _people(s, n: int) -> list[int]:
    """People on no list (the subscription counts stay those of the seed)."""
    start = s.scalar(select(func.count()).select_from(Subscriber))
    people = [Subscriber(email=f"p{start + i}@example.org", email_key=f"p{start + i}@example.org", name="",
                         language="fr") for i in range(n)]
    s.add_all(people)
    s.flush()
    return [p.id for p in people]


def _running_send(ws, statuses: list[str], retry_at: dt.datetime | None = None) -> int:
    """A running send of the seeded list with one delivery per status given."""
    with db.session_scope(ws.site.engine) as s:
        send = Send(issue_slug="2023-08", issue_dir="/nonexistent", list_id=1, state="running",
                    started_at=ws.clock(), total=len(statuses))
        s.add(send)
        s.flush()
        for person, status in zip(_people(s, len(statuses)), statuses):
            s.add(Delivery(send_id=send.id, subscriber_id=person, email=f"r{person}@example.org", language="fr",
                           status=status, next_attempt_at=retry_at if status == "deferred" else None))
        return send.id


def test_the_dashboard_shows_what_needs_attention(ws):
    running = _running_send(ws, ["sent", "sent", "pending", "failed"])
    waiting_retry = ws.clock() + dt.timedelta(minutes=20)
    with db.session_scope(ws.site.engine) as s:  # two people on two lists: subscriptions 1, 2 and 3
        s.add(Delivery(send_id=running, subscriber_id=_people(s, 1)[0], email="x@example.org", language="fr",
                       status="pending"))
        s.get(Send, running).total = 5
        waiting = Send(issue_slug="2023-09", issue_dir="/x", list_id=2, state="running", started_at=ws.clock(),
                       total=1)
        s.add(waiting)
        s.flush()
        s.add(Delivery(send_id=waiting.id, subscriber_id=1, email="a@example.org", language="fr",
                       status="deferred", next_attempt_at=waiting_retry))
        s.add_all([Event(subscriber_id=1, kind="bounce_soft", at=ws.clock()),
                   Event(subscriber_id=2, kind="complaint", at=ws.clock()),
                   Event(subscriber_id=2, kind="bounce_hard", at=ws.clock() - dt.timedelta(days=3650))])
        waiting_id = waiting.id
    admin = ws.signed_in("admin@imrap-mali.org")
    page = admin.get("/admin/").text
    live = page[page.index('id="live"'):page.index('id="scheduled-title"')]
    assert f'data-send="{running}"' in live and "2 envoyés sur 5" in live
    assert f'data-send="{waiting_id}"' in live and "1 destinataires attendent le serveur" in live
    assert f'action="/admin/sends/{waiting_id}/resume"' in live
    assert "2099-01" in page[page.index('id="scheduled-title"'):]
    assert re.search(r'id="bounced-hard">0<', page) and re.search(r'id="bounced-soft">1<', page)
    assert re.search(r'id="complaints">1<', page)
    assert "3 abonnements actifs" in page and 'role="img"' in page
    editor = ws.signed_in("redaction@imrap-mali.org")
    seen = editor.get("/admin/").text
    assert f'data-send="{running}"' in seen and "/admin/sends/" not in seen, "editors see, without admin links"
    fragment = admin.get("/admin/live/sends").text
    assert fragment.startswith('<div id="live"') and "<html" not in fragment and 'hx-trigger="every 5s"' in fragment


def test_the_subscriber_chart_counts_each_week_from_the_rows(sqlite_ws):
    ws = sqlite_ws
    now = ws.clock()
    with db.session_scope(ws.site.engine) as s:
        subs = s.scalars(select(Subscription).order_by(Subscription.subscriber_id, Subscription.list_id)).all()
        subs[0].created_at = now - dt.timedelta(weeks=20)          # there all along
        subs[1].created_at = now - dt.timedelta(weeks=5, days=1)   # joined five weeks ago
        subs[2].created_at = now - dt.timedelta(weeks=20)          # left three weeks ago
        subs[2].status, subs[2].updated_at = "unsubscribed", now - dt.timedelta(weeks=3, days=1)
    page = ws.signed_in("admin@imrap-mali.org").get("/admin/").text
    values = [int(v) for v in re.findall(r"<title>[^<:]+: (\d+)</title></circle>", page)]
    # weeks ago: 11..6 the first and the third; 5 and 4 all three; 3..0 the first two
    assert values == [2] * 6 + [3] * 2 + [2] * 4


def test_resuming_a_waiting_send_makes_its_deferred_rows_due(ws):
    later = ws.clock() + dt.timedelta(hours=1)
    send_id = _running_send(ws, ["sent", "deferred", "deferred"], retry_at=later)
    admin = ws.signed_in("admin@imrap-mali.org")
    page = admin.get(f"/admin/sends/{send_id}")
    assert "2 destinataires attendent" in page.text
    r = admin.post(f"/admin/sends/{send_id}/resume", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"] == f"/admin/sends/{send_id}?done=resumed"
    with db.session_scope(ws.site.engine) as s:
        due = s.scalars(select(Delivery.next_attempt_at).where(Delivery.status == "deferred")).all()
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "send.resume")).one()
    assert due == [ws.clock(), ws.clock()]
    assert (entry.actor, entry.object_type, entry.object_id) == ("admin@imrap-mali.org", "send", str(send_id))
    assert entry.detail == "2 deferred recipients due now" and entry.ip == "127.0.0.1"
    done = admin.post(f"/admin/sends/{ws.params['send']}/resume", data={"csrf": csrf_of(page.text)})
    assert done.status_code == 409 and "only a running send waits" in done.text


@pytest.mark.parametrize("form, field, message", [
    ({"issue": "../2023-07", "list": "actualites", "date": "2030-01-01", "time": "08:00"}, "issue",
     "Aucun numéro «\u00a0../2023-07\u00a0» dans le dossier des numéros."),
    ({"issue": "2023-07", "list": "nulle-part", "date": "2030-01-01", "time": "08:00"}, "list",
     "Aucune liste «\u00a0nulle-part\u00a0»."),
    ({"issue": "2023-07", "list": "actualites", "date": "", "time": "08:00"}, "date", "Choisissez une date."),
    ({"issue": "2023-07", "list": "actualites", "date": "2030-01-01", "time": ""}, "time", "Choisissez une heure."),
    ({"issue": "2023-07", "list": "actualites", "date": "2030-02-30", "time": "08:00"}, "date",
     "«\u00a02030-02-30 08:00\u00a0» n'est pas une date et une heure."),
    ({"issue": "2023-07", "list": "actualites", "date": "2001-01-01", "time": "08:00"}, "date",
     "Le 2001-01-01 08:00 est déjà passé."),
])
def test_schedule_refuses_bad_input_next_to_the_field(sqlite_ws, tmp_path, form, field, message):
    ws = sqlite_ws
    assert (ws.site.cfg.resolve_path("issues") / "2023-07" / "issue.toml").is_file()  # seed_workspace copied the sample
    admin = ws.signed_in("admin@imrap-mali.org")
    page = admin.get("/admin/sends", headers={"Accept-Language": "fr"})
    assert '<option value="2023-07">2023-07</option>' in page.text
    before = snapshot(ws)
    r = admin.post("/admin/sends", data={"csrf": csrf_of(page.text), **form}, headers={"Accept-Language": "fr"})
    assert r.status_code == 400
    assert f'<p class="error" role="alert" id="schedule-error">{message}</p>'.replace("'", "&#39;") in r.text
    assert re.search(rf'id="{field}" name="{field}"[^>]*aria-invalid="true"', r.text)
    assert snapshot(ws) == before


def test_accounts_added_from_the_page_with_their_mistakes(sqlite_ws):
    ws = sqlite_ws
    admin = ws.signed_in("admin@imrap-mali.org")
    token = csrf_of(admin.get("/admin/users").text)
    before = snapshot(ws)
    for data, message in (({"email": "awa@", "role": "editor", "password": "0123456789"}, "n'est pas une adresse"),
                          ({"email": "awa@imrap-mali.org", "role": "editor", "password": "court"},
                           "au moins 10 caractères"),
                          ({"email": "ADMIN@imrap-mali.org", "role": "editor", "password": "0123456789"},
                           "Un compte existe déjà"),
                          ({"email": "awa@imrap-mali.org", "role": "owner", "password": "0123456789"},
                           "n'est pas un rôle")):
        r = admin.post("/admin/users", data={"csrf": token, **data})
        assert r.status_code == 400 and message in html.unescape(r.text), data
    assert snapshot(ws) == before
    r = admin.post("/admin/users", data={"csrf": token, "email": "awa@imrap-mali.org", "role": "editor",
                                         "password": "Fleuve Niger 2026"})
    assert r.status_code == 303
    users = admin.get("/admin/users?done=added").text
    assert 'data-email="awa@imrap-mali.org"' in users and "Le compte est créé" in users
    new_id = re.search(r'action="/admin/users/(\d+)/role"', users[users.index('data-email="awa@'):]).group(1)
    assert admin.post(f"/admin/users/{new_id}/role", data={"csrf": token, "role": "admin"}).status_code == 303
    with db.session_scope(ws.site.engine) as s:
        log = s.execute(select(AuditEntry.action, AuditEntry.object_id, AuditEntry.detail)
                        .where(AuditEntry.actor == "admin@imrap-mali.org", AuditEntry.action.like("user.%"))
                        .order_by(AuditEntry.id)).all()
    assert log == [("user.add", "awa@imrap-mali.org", "editor"), ("user.role", "awa@imrap-mali.org", "editor -> admin")]


def test_the_audit_log_filters_by_who_what_object_and_date(sqlite_ws):
    ws = sqlite_ws
    ws.signed_in("redaction@imrap-mali.org")
    ws.clock.advance(days=3)
    admin = ws.signed_in("admin@imrap-mali.org")
    rows = lambda html: re.findall(r'<tr data-action="([^"]+)">', html)  # noqa: E731
    # The seed: two accounts and a file checked for import, from the command line.
    assert rows(admin.get("/admin/audit").text) == ["sign_in", "sign_in", "import.upload", "user.add", "user.add"]
    assert rows(admin.get("/admin/audit?actor=REDACTION@imrap-mali.org").text) == ["sign_in"]
    assert rows(admin.get("/admin/audit?actor=cli").text) == ["import.upload", "user.add", "user.add"]
    assert rows(admin.get("/admin/audit?action=user.add&object_id=redaction@imrap-mali.org").text) == ["user.add"]
    today = ws.clock().astimezone(dt.timezone.utc).date()
    assert rows(admin.get(f"/admin/audit?since={today}").text) == ["sign_in"]
    assert "admin@imrap-mali.org" in admin.get(f"/admin/audit?since={today}").text
    assert rows(admin.get(f"/admin/audit?until={today - dt.timedelta(days=1)}").text) == [
        "sign_in", "import.upload", "user.add", "user.add"]
    assert rows(admin.get("/admin/audit?since=not-a-date&action=nonsense").text) == rows(admin.get("/admin/audit").text)


def test_static_files_are_pinned_compressed_and_cached(sqlite_ws):
    client = sqlite_ws.client()
    js = client.get("/admin/static/htmx.min.js", headers={"Accept-Encoding": "identity"})
    assert js.status_code == 200 and hashlib.sha256(js.content).hexdigest() == HTMX_SHA256
    assert js.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert js.headers["content-type"].startswith("text/javascript") and js.headers["x-content-type-options"] == "nosniff"
    again = client.get("/admin/static/htmx.min.js", headers={"If-None-Match": js.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    for name in ("../app.py", "nothing.css", "%2e%2e%2fapp.py"):
        assert client.get(f"/admin/static/{name}").status_code == 404


def test_every_page_weighs_under_100_kb_with_what_it_loads(sqlite_ws):
    """What a phone downloads for each page (before images, which the pages have none of): the HTML and the
    files it links, as sent (compressed where the server compresses)."""
    ws = sqlite_ws
    admin = ws.signed_in("admin@imrap-mali.org")
    raw = ws.client()
    for route in access.ROUTES:
        if "GET" not in route.methods or route.path.startswith("/admin/static"):
            continue
        path = concrete(route.path, ws.params)
        r = admin.get(path, follow_redirects=True)
        assert r.status_code == 200, path
        total = len(r.content)
        for asset in re.findall(r'(?:href|src)="(/admin/static/[^"]+)"', r.text):
            sent = raw.get(asset, headers={"Accept-Encoding": "gzip"})
            assert sent.headers.get("content-encoding") == "gzip"
            total += int(sent.headers["content-length"])
        assert total < 100_000, (path, total)
