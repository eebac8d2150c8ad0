"""Security headers on every route of `bulletin serve` (pages, images, errors, routes added later), tokens kept out
of the access log, and a send id too large for any record a 404, not a 500."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import httpx
import pytest
from PIL import Image

from bulletin.store import db
from bulletin.web.server import redact
from web_support import live_site, seed

BULLETIN = Path(sys.executable).parent / "bulletin"
PASSWORD = "pass-mot-de-passe"
STRICT_PARTS = ["default-src 'none'", "script-src 'none'", "frame-ancestors 'none'", "base-uri 'none'",
                "form-action 'self' "]


@pytest.fixture
def site(make_config, db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("BULLETIN_ADMIN_PASSWORD", PASSWORD)
    with live_site(make_config, db_url, tmp_path) as s:
        yield s


def check_headers(response: httpx.Response, *, inline_styles: bool = False) -> None:
    where = f"{response.request.method} {response.request.url} ({response.status_code})"
    h = response.headers
    assert h.get("x-content-type-options") == "nosniff", where
    assert h.get("x-frame-options") == "DENY", where
    assert h.get("referrer-policy") == "no-referrer", where
    csp = h.get("content-security-policy", "")
    for part in STRICT_PARTS:
        assert part in csp, (where, part)
    styles = re.search(r"style-src ([^;]*)", csp).group(1)
    if inline_styles:
        assert styles == "'unsafe-inline'", where
    else:
        assert "unsafe" not in csp and styles.startswith("'sha256-"), where
    if response.headers.get("content-type", "").startswith("text/html") and not inline_styles:
        # The page's own sheet is the one the policy allows, byte for byte.
        for css in re.findall(r"<style[^>]*>(.*?)</style>", response.text, re.S):
            digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in styles, where


def test_every_route_sends_the_security_headers(site, tmp_path):
    sample = seed(site.engine)
    issue = tmp_path / "issue"
    (issue / "images").mkdir(parents=True)
    Image.new("RGB", (40, 30), (181, 84, 28)).save(issue / "images" / "photo.png")
    from bulletin.store.models import Send

    with db.session_scope(site.engine) as s:
        s.get(Send, sample.send).issue_dir = str(issue)
    values = {
        "token": site.tokens.unsubscribe(sample.awa, sample.actualites, sample.send),
        "slug": "2023-06",
        "name": "photo.png",
        "send_id": str(sample.send),
    }
    confirm = site.tokens.confirm("new@example.org", sample.actualites, "fr")
    app_routes = [r for r in _routes(site)]
    assert {"/unsubscribe/{token}", "/subscribe", "/archive/{slug}/images/{name}", "/healthz",
            "/admin/sends/{send_id}"} <= {path for path, _ in app_routes}
    auth = ("admin", PASSWORD)
    with httpx.Client(base_url=site.url, timeout=30) as client:
        for path, methods in app_routes:
            for method in sorted(methods):
                url = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), path)
                if path.startswith("/confirm/"):
                    url = f"/confirm/{confirm}"
                data = {"email": "new@example.org", "list": "actualites"} if method == "POST" else None
                response = client.request(method, url, data=data, auth=auth)
                assert response.status_code < 500, (method, url, response.status_code)
                check_headers(response, inline_styles=path == "/archive/{slug}")
                if path.startswith("/admin/"):  # and the same route refusing a stranger
                    check_headers(client.request(method, url))
        # Errors: not found, a bad token, a wrong method, a stranger at the admin pages.
        for method, url in [("GET", "/nowhere"), ("GET", "/unsubscribe/forged.token"), ("PUT", "/subscribe"),
                            ("GET", "/archive/2023-06/images/missing.png"), ("GET", "/admin/sends")]:
            response = client.request(method, url)
            assert response.status_code in {"/nowhere": [404], "/unsubscribe/forged.token": [400],
                                            "/subscribe": [405], "/admin/sends": [401]}.get(
                url, [404]), (method, url, response.status_code)
            check_headers(response)


def _routes(site) -> list[tuple[str, set[str]]]:
    """Every route of the app with its methods, as FastAPI's own description of the app lists them."""
    from bulletin.web.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GET and HEAD share a function: "duplicate operation id"
        paths = create_app(site.cfg).openapi()["paths"]
    return [(path, {m.upper() for m in operations}) for path, operations in paths.items()]


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


@pytest.mark.parametrize("send_id, status", [("99999999999999999999", 404), ("9223372036854775807", 404),
                                             ("2147483647", 404), ("2147483648", 404),
                                             ("-1", 404), ("0", 404), ("abc", 404)])
def test_a_send_id_no_record_can_have_is_a_404(site, send_id, status):
    response = httpx.get(f"{site.url}/admin/sends/{send_id}", auth=("admin", PASSWORD))
    assert response.status_code == status
    assert "text/html" in response.headers["content-type"]
    check_headers(response)


def test_the_archive_copy_of_an_issue_may_use_inline_styles_only(site):
    seed(site.engine)
    response = httpx.get(f"{site.url}/archive/2023-06")
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
