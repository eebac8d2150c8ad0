"""Security headers on every route of `bulletin serve` (pages, images, errors, routes added later), tokens kept out
of the access log, and a send id too large for any record a 404, not a 500."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from admin_support import concrete, ws  # noqa: F401 (a fixture)
from bulletin.store import db
from bulletin.web.admin import access
from bulletin.web.server import redact
from web_support import seed

BULLETIN = Path(sys.executable).parent / "bulletin"
STRICT_PARTS = ["default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"]


def check_headers(response: httpx.Response, *, inline_styles: bool = False) -> None:
    """The headers every response carries. Public pages: no script at all, styles by hash (or, for the archive's
    copy of an issue, inline). The workspace under /admin/ keeps its own policy: scripts and styles from its own
    files only."""
    where = f"{response.request.method} {response.request.url} ({response.status_code})"
    h = response.headers
    assert h.get("x-content-type-options") == "nosniff", where
    csp = h.get("content-security-policy", "")
    if re.fullmatch(r"/admin/issues/[^/]+/preview/[^/]+", response.request.url.path) and "sandbox" in csp:
        # The issue editor's preview of the email: framed by the workspace's own pages only, sandboxed, no script
        # at all, the email's inline styles and its images from here (bulletin/web/admin/issues.py).
        assert h.get("x-frame-options") == "SAMEORIGIN" and h.get("referrer-policy") == "no-referrer", where
        assert "frame-ancestors 'self'" in csp and "default-src 'none'" in csp and "script" not in csp, where
        assert "allow-scripts" not in csp and "img-src 'self' data:" in csp, where
        return
    assert h.get("x-frame-options") == "DENY", where
    assert h.get("referrer-policy") == "no-referrer", where
    for part in STRICT_PARTS:
        assert part in csp, (where, part)
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if " " in d.strip())
    assert "unsafe" not in directives.get("script-src", "") and "unsafe" not in directives["default-src"], where
    if response.request.url.path.startswith("/admin/") and "script-src 'self'" in csp:
        assert directives["style-src"] == "'self'", where  # the workspace's own policy
        return
    assert directives["script-src"] == "'none'", where
    styles = directives["style-src"]
    if inline_styles:
        assert styles == "'unsafe-inline'", where
        return
    assert "unsafe" not in csp and styles.startswith("'sha256-"), where
    if h.get("content-type", "").startswith("text/html"):
        # The page's own sheet is the one the policy allows, byte for byte.
        for css in re.findall(r"<style[^>]*>(.*?)</style>", response.text, re.S):
            digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in styles, where


def test_every_route_sends_the_security_headers(ws, tmp_path):
    """Every route the app serves, as FastAPI lists it, by every method, as a visitor and as a signed-in admin,
    and the error answers: not found, a forged token, a wrong method, a route that fails."""
    sample_send = ws.params["send"]
    public = {"token": ws.site.tokens.unsubscribe(1, 1), "slug": "2023-06", "name": "photo.png",
              "hash": "0" * 64, "filename": "x.png"}
    routes = sorted({(path, m) for path, r in access.served_routes(ws.site.app.routes)
                     for m in getattr(r, "methods", ())})
    assert {("/unsubscribe/{token}", "POST"), ("/subscribe", "GET"), ("/archive/{slug}/images/{name}", "GET"),
            ("/healthz", "GET"), ("/admin/sends/{send_id}", "GET"), ("/admin/login", "POST")} <= set(routes)
    visitor, admin = ws.client(), ws.signed_in("admin@imrap-mali.org")
    for path, method in routes:
        if path.startswith("/admin"):
            url = concrete(path, ws.params)
        else:
            url = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: public.get(m.group(1), "x"), path)
        if path.startswith("/confirm/"):
            url = "/confirm/" + ws.site.tokens.confirm("new@example.org", 1, "fr")
        data = {"email": "new@example.org", "list": "actualites"} if method == "POST" else None
        for client in (visitor, admin):
            response = client.request(method, url, data=data)
            assert response.status_code < 500, (method, url, response.status_code)
            check_headers(response, inline_styles=path == "/archive/{slug}" and response.status_code == 200)
    for method, url, status in [("GET", "/nowhere", 404), ("GET", "/unsubscribe/forged.token", 400),
                                ("PUT", "/subscribe", 405), ("GET", "/archive/2023-06/images/missing.png", 404),
                                ("GET", "/admin/sends/99999999999999999999", 404),
                                ("GET", f"/admin/sends/{sample_send}", 200)]:
        response = admin.request(method, url)
        assert response.status_code == status, (method, url, response.status_code)
        check_headers(response)


def test_an_unexpected_error_page_has_them_too(make_config, sqlite_url):
    """A route added later that fails: the 500 page leaves with the headers (it is sent from outside the app's
    own error handling)."""
    from bulletin.web.app import create_app
    from bulletin.web.server import background, free_port

    cfg = make_config("", db_url=sqlite_url)
    app = create_app(cfg)

    @app.get("/admin/broken")
    def broken():
        raise RuntimeError("a bug")

    with background(app, free_port()) as url:
        response = httpx.get(f"{url}/admin/broken")
    assert response.status_code == 500
    check_headers(response)


@pytest.mark.parametrize("send_id", ["99999999999999999999", "9223372036854775807", "2147483648", "0", "-1",
                                     "abc"])
def test_a_send_id_no_record_can_have_is_a_404(ws, send_id):
    response = ws.signed_in("admin@imrap-mali.org").get(f"/admin/sends/{send_id}")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    check_headers(response)


def test_the_archive_copy_of_an_issue_may_use_inline_styles_only(ws):
    response = httpx.get(f"{ws.url}/archive/2023-06")
    assert response.status_code == 200
    check_headers(response, inline_styles=True)


def test_redact_keeps_the_end_of_a_token_only():
    token = "WzEsMiwzXQ.aBcDeFgHiJkLmNoPqRsTuVwXyZ012345"
    assert redact(f"/unsubscribe/{token}") == "/unsubscribe/…012345"
    assert redact(f"/unsubscribe/{token}/undo?lang=fr") == "/unsubscribe/…012345/undo?lang=fr"
    assert redact(f"/confirm/{token}") == "/confirm/…012345"
    assert redact(f"/anywhere?next=/x/{token}") == "/anywhere?next=/x/…012345"
    assert redact("/archive/2023-07/images/photo-bamako.jpg") == "/archive/2023-07/images/photo-bamako.jpg"


def test_tokens_never_reach_the_access_log(make_config, sqlite_url, tmp_path):
    """Through `bulletin serve` and uvicorn's own access log: the confirmation token holds the address and the
    name, readable by anyone who sees it whole."""
    cfg = make_config("", db_url=sqlite_url)
    engine = db.engine_for(cfg.database_url)
    sample = seed(engine)
    from bulletin.tokens import Tokens

    tokens = Tokens(cfg.signing_secret())
    unsubscribe = tokens.unsubscribe(sample.awa, sample.actualites, sample.send)
    confirm = tokens.confirm("new.person@example.org", sample.actualites, "fr", "Nouvelle Personne")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(BULLETIN)] if BULLETIN.exists() else [sys.executable, "-m", "bulletin"]
    server = subprocess.Popen([*cmd, "--config", str(cfg.path), "serve", "--port", str(port)], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout.readline().startswith("serving ")  # printed once the socket listens
        base = f"http://127.0.0.1:{port}"
        for url in (f"{base}/unsubscribe/{unsubscribe}", f"{base}/confirm/{confirm}",
                    f"{base}/unsubscribe/{unsubscribe}/undo"):
            httpx.get(url, timeout=30)
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[0]
    assert "GET /unsubscribe/…" + unsubscribe[-6:] in log
    assert "GET /confirm/…" + confirm[-6:] in log
    for secret in (unsubscribe, confirm, unsubscribe[:-6], confirm[:-6], confirm.split(".")[0]):
        assert secret not in log
