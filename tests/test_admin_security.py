"""The workspace's locks, tried as an intruder and as a careless colleague would, against a live server:
every route declared with a role, every POST without its CSRF token refused with nothing changed, visitors
and editors kept out of admin pages, sessions that end (sign-out, idle, disabled account), no session
fixation, and a sign-in throttle whose delay grows (the workspace's clock is moved, never waited for)."""

from __future__ import annotations

import unicodedata

import pytest
from fastapi import APIRouter, FastAPI

from bulletin.states import Role
from bulletin.web.admin import access
from admin_support import PASSWORD, concrete, csrf_of, sign_in, snapshot, sqlite_ws, ws  # noqa: F401 (fixtures)

POSTS = [r for r in access.ROUTES if "POST" in r.methods]
GETS = [r for r in access.ROUTES if "GET" in r.methods]


def test_every_admin_route_of_the_app_is_in_the_table(sqlite_ws):
    app = sqlite_ws.site.app
    served = {(path, m) for path, r in access.served_routes(app.routes) if path.startswith("/admin")
              for m in getattr(r, "methods", ())}
    declared = {(r.path, m) for r in access.ROUTES for m in r.methods}
    assert served == declared
    assert {r.path for r in POSTS} >= {"/admin/login", "/admin/logout", "/admin/sends", "/admin/users"}


def test_a_route_without_a_role_stops_the_app():
    app = FastAPI()
    other = APIRouter(prefix="/admin")

    @other.get("/forgotten")
    def forgotten():
        return "open to all"

    app.include_router(other)
    with pytest.raises(RuntimeError, match="/admin/forgotten is served without a role"):
        access.check_routes(app)
    with pytest.raises(TypeError):
        access.page("/nothing")  # the role is required


def test_a_visitor_not_signed_in_reaches_only_public_pages(ws):
    before = snapshot(ws)
    client = ws.client()
    for route in GETS:
        path = concrete(route.path, ws.params)
        r = client.get(path)
        if route.role is access.PUBLIC:
            assert r.status_code == 200, path
        else:
            assert r.status_code == 303 and r.headers["location"].startswith("/admin/login?next="), path
            assert "Tableau de bord" not in r.text
    token = csrf_of(client.get("/admin/login").text)  # a visitor's own valid token does not open anything
    for route in POSTS:
        if route.role is access.PUBLIC:
            continue
        r = client.post(concrete(route.path, ws.params), data={"csrf": token, "role": "admin", "email": "x@y.org",
                                                                "password": "x" * 12})
        assert r.status_code == 403, route.path
    assert snapshot(ws) == before


def test_an_editor_gets_403_on_every_admin_route(ws):
    editor = ws.signed_in("redaction@imrap-mali.org")
    before = snapshot(ws)
    token = csrf_of(editor.get("/admin/").text)
    for route in access.ROUTES:
        if route.role is not Role.ADMIN:
            continue
        path = concrete(route.path, ws.params)
        for method in route.methods:
            r = editor.request(method, path, data={"csrf": token, "role": "admin", "email": "x@imrap-mali.org",
                                                   "password": "x" * 12, "issue": "2023-07", "list": "actualites",
                                                   "date": "2030-01-01", "time": "08:00"} if method == "POST" else None)
            assert r.status_code == 403, (method, path)
            assert "Accès refusé" in r.text
    for route in GETS:
        if route.role is Role.EDITOR:
            assert editor.get(concrete(route.path, ws.params)).status_code == 200, route.path
    assert snapshot(ws) == before


def _post_data(token: str | None) -> dict:
    data = {"role": "editor", "email": "nouveau@imrap-mali.org", "password": "un mot de passe assez long",
            "issue": "2023-07", "list": "actualites", "date": "2030-01-01", "time": "08:00", "language": "en",
            "next": "/admin/"}
    if token is not None:
        data["csrf"] = token
    return data


@pytest.mark.parametrize("route", POSTS, ids=lambda r: r.path)
def test_every_post_without_the_csrf_token_is_403_and_changes_nothing(sqlite_ws, route):
    ws = sqlite_ws
    admin = ws.signed_in("admin@imrap-mali.org")
    token = csrf_of(admin.get("/admin/").text)
    path = concrete(route.path, ws.params)
    before = snapshot(ws)
    for data, headers in ((_post_data(None), {}), (_post_data(""), {}), (_post_data(token[:-1] + "x"), {}),
                          (_post_data(None), {"X-CSRF-Token": "forged"})):
        r = admin.post(path, data=data, headers=headers)
        assert r.status_code == 403, (path, data.get("csrf"))
        assert "set-cookie" not in r.headers
    assert snapshot(ws) == before
    # The same request with the token passes the guard (so the 403 above was the missing token's doing).
    assert admin.post(path, data=_post_data(token)).status_code != 403


def test_the_sign_in_form_needs_its_token_too(sqlite_ws):
    ws = sqlite_ws
    before = snapshot(ws)
    client = ws.client()
    r = client.post("/admin/login", data={"email": "admin@imrap-mali.org", "password": PASSWORD})
    assert r.status_code == 403 and "bulletin_session" not in r.headers.get("set-cookie", "")
    other = ws.client()  # a token from another browser does not fit this one's cookie
    token = csrf_of(other.get("/admin/login").text)
    r = client.post("/admin/login", data={"csrf": token, "email": "admin@imrap-mali.org", "password": PASSWORD})
    assert r.status_code == 403
    assert snapshot(ws) == before


def test_signing_in_gives_a_new_session_id(sqlite_ws):
    """A session id planted in the browser before sign-in (session fixation) is never the one signed in."""
    ws = sqlite_ws
    planted = "attacker-chosen-session-id-0123456789"
    victim = ws.client()
    victim.cookies.set("bulletin_session", planted, domain="127.0.0.1", path="/admin")
    assert sign_in(victim, "admin@imrap-mali.org", PASSWORD).status_code == 303
    given = victim.cookies.get("bulletin_session", path="/admin")
    assert given and given != planted
    attacker = ws.client()
    attacker.cookies.set("bulletin_session", planted, domain="127.0.0.1", path="/admin")
    assert attacker.get("/admin/").status_code == 303
    # Signing in again from the same browser ends the session it had.
    first = given
    assert sign_in(victim, "admin@imrap-mali.org", PASSWORD).status_code == 303
    second = victim.cookies.get("bulletin_session", path="/admin")
    assert second != first
    replay = ws.client()
    replay.cookies.set("bulletin_session", first, domain="127.0.0.1", path="/admin")
    assert replay.get("/admin/").status_code == 303
    assert victim.get("/admin/").status_code == 200


def test_the_session_cookie_is_httponly_and_samesite(sqlite_ws):
    client = sqlite_ws.client()
    r = sign_in(client, "admin@imrap-mali.org", PASSWORD)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/admin" in cookie


def test_signing_out_ends_the_session_for_good(sqlite_ws):
    ws = sqlite_ws
    admin = ws.signed_in("admin@imrap-mali.org")
    token = admin.cookies.get("bulletin_session", path="/admin")
    csrf = csrf_of(admin.get("/admin/").text)
    r = admin.post("/admin/logout", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/admin/login?signed_out=1"
    replay = ws.client()
    replay.cookies.set("bulletin_session", token, domain="127.0.0.1", path="/admin")
    assert replay.get("/admin/").status_code == 303
    assert snapshot(ws)["sessions"] == []


def test_disabling_an_account_ends_its_live_session(ws):
    editor = ws.signed_in("redaction@imrap-mali.org")
    assert editor.get("/admin/").status_code == 200
    admin = ws.signed_in("admin@imrap-mali.org")
    user = ws.params["user"]
    question = admin.get(f"/admin/users/{user}/disable")
    assert question.status_code == 200 and "redaction@imrap-mali.org" in question.text
    assert editor.get("/admin/").status_code == 200, "the confirmation page changes nothing"
    r = admin.post(f"/admin/users/{user}/disable", data={"csrf": csrf_of(question.text)})
    assert r.status_code == 303
    assert editor.get("/admin/").status_code == 303
    assert sign_in(ws.client(), "redaction@imrap-mali.org", PASSWORD).status_code == 401


def test_an_idle_session_expires_and_live_refreshes_do_not_keep_it(ws):
    idle = ws.site.cfg.web.session_idle_minutes
    admin = ws.signed_in("admin@imrap-mali.org")
    ws.clock.advance(minutes=idle - 1)
    assert admin.get("/admin/sends").status_code == 200  # a click: the idle time starts again
    for _ in range(2):
        ws.clock.advance(minutes=idle * 0.45)
        assert admin.get("/admin/live/sends").status_code == 200  # automatic refreshes ...
    ws.clock.advance(minutes=idle * 0.15)  # ... did not start the idle time again
    r = admin.get("/admin/sends")
    assert r.status_code == 303 and r.headers["location"] == "/admin/login?next=/admin/sends"
    live = ws.signed_in("admin@imrap-mali.org")
    ws.clock.advance(minutes=idle + 1)
    r = live.get("/admin/live/sends", headers={"HX-Request": "true"})
    assert r.status_code == 303 and r.headers["hx-redirect"].startswith("/admin/login")


def test_a_session_ends_after_its_maximum_age_however_busy(sqlite_ws):
    ws = sqlite_ws
    admin = ws.signed_in("admin@imrap-mali.org")
    for _ in range(ws.site.cfg.web.session_max_hours * 2):
        ws.clock.advance(minutes=30)
        assert admin.get("/admin/").status_code == 200
    ws.clock.advance(minutes=30)
    assert admin.get("/admin/").status_code == 303


def test_sign_in_is_throttled_per_address_with_a_growing_delay(ws):
    client = ws.client()
    address = "admin@imrap-mali.org"
    for _ in range(3):
        assert sign_in(client, address, "wrong password").status_code == 401
    waits = []
    for _ in range(4):
        refused = sign_in(client, address, PASSWORD)  # even the right password waits
        assert refused.status_code == 429 and "Réessayez dans" in refused.text
        waits.append(int(refused.headers["retry-after"]))
        ws.clock.advance(seconds=waits[-1])
        assert sign_in(client, address, "wrong again").status_code == 401
    assert waits == [1, 2, 4, 8]
    assert sign_in(ws.client(), address, PASSWORD).status_code == 429, "another browser: the address waits"
    ws.clock.advance(seconds=16)
    assert sign_in(client, address, PASSWORD).status_code == 303
    # After a success the address starts afresh.
    assert sign_in(ws.client(), address, "wrong").status_code == 401
    assert sign_in(ws.client(), address, PASSWORD).status_code == 303


def test_sign_in_is_throttled_per_ip_address_across_addresses(sqlite_ws):
    ws = sqlite_ws
    client = ws.client()
    for i in range(10):
        assert sign_in(client, f"guess{i}@imrap-mali.org", "wrong password").status_code == 401
    r = sign_in(client, "admin@imrap-mali.org", PASSWORD)
    assert r.status_code == 429
    ws.clock.advance(seconds=int(r.headers["retry-after"]))
    assert sign_in(client, "admin@imrap-mali.org", PASSWORD).status_code == 303


def test_throttle_delay_stops_growing_at_its_ceiling():
    from bulletin.services.accounts import THROTTLE

    delays = [THROTTLE.delay(n, 3).total_seconds() for n in range(0, 40)]
    assert delays[:3] == [0, 0, 0] and delays[3:7] == [1, 2, 4, 8]
    assert max(delays) == THROTTLE.max_delay.total_seconds() == delays[-1]
    assert delays == sorted(delays)


def test_failed_sign_ins_are_in_the_audit_log_without_the_password(sqlite_ws):
    ws = sqlite_ws
    assert sign_in(ws.client(), "admin@imrap-mali.org", "Secret-typed-wrong").status_code == 401
    assert sign_in(ws.client(), "nobody@imrap-mali.org", "Secret-typed-wrong").status_code == 401
    admin = ws.signed_in("admin@imrap-mali.org")
    page = admin.get("/admin/audit?action=sign_in.failed")
    assert page.text.count('data-action="sign_in.failed"') == 2
    assert "wrong password" in page.text and "unknown address" in page.text
    assert "Secret-typed-wrong" not in page.text


def test_passwords_in_any_unicode_form_sign_in(sqlite_ws):
    ws = sqlite_ws
    password = "Ségou-Tombouctou-Kayes ߒߞߏ"  # accents and N'Ko
    ws.add_user("awa@imrap-mali.org", "editor", password=unicodedata.normalize("NFD", password))
    assert sign_in(ws.client(), "Awa@IMRAP-mali.org", unicodedata.normalize("NFC", password)).status_code == 303
    assert sign_in(ws.client(), "awa@imrap-mali.org", password.lower()).status_code == 401


def test_the_last_admin_cannot_be_disabled_or_demoted(sqlite_ws):
    ws = sqlite_ws
    admin = ws.signed_in("admin@imrap-mali.org")
    own = ws.params["admin"]
    token = csrf_of(admin.get("/admin/users").text)
    before = snapshot(ws)
    r = admin.post(f"/admin/users/{own}/role", data={"csrf": token, "role": "editor"})
    assert r.status_code == 409 and "dernier administrateur" in r.text
    r = admin.post(f"/admin/users/{own}/disable", data={"csrf": token})
    assert r.status_code == 409
    assert snapshot(ws) == before


def test_next_after_sign_in_stays_in_the_workspace(sqlite_ws):
    ws = sqlite_ws
    for target, expected in (("/admin/sends", "/admin/sends"), ("https://evil.example/", "/admin/"),
                             ("//evil.example/admin/", "/admin/"), ("/admin/\\evil", "/admin/")):
        r = sign_in(ws.client(), "admin@imrap-mali.org", PASSWORD, next_path=target)
        assert r.headers["location"] == expected, target


def test_admin_pages_send_the_strict_headers(sqlite_ws):
    admin = sqlite_ws.signed_in("admin@imrap-mali.org")
    for path in ("/admin/", "/admin/login", "/admin/sends", "/admin/users", "/admin/audit"):
        r = admin.get(path, follow_redirects=True)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["cache-control"] == "no-store"
        assert "<script>" not in r.text and " style=" not in r.text and " onclick" not in r.text
