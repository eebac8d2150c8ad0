"""`bulletin preview` on a free port: its pages, the text part, images, and a reload after a file changes."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from bulletin.cli.preview import PreviewServer
from bulletin.config import Config
from bulletin.errors import ContentError
from compose_helpers import copy_sample


@pytest.fixture
def server(tmp_path):
    issue = copy_sample(tmp_path, "2023-07")
    s = PreviewServer(issue, Config(), port=0)
    s.start()
    yield s
    s.stop()


def get(server, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(server.url.rstrip("/") + path, timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def wait_for_version(server, old: int) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        version = json.loads(get(server, "/version")[2])["version"]
        if version != old:
            return version
        time.sleep(0.05)
    raise AssertionError("the preview did not notice the change")


def test_pages_show_phone_desktop_and_text(server):
    status, ctype, body = get(server, "/")
    page = body.decode()
    assert status == 200 and ctype.startswith("text/html")
    assert 'width="375"' in page and 'width="1024"' in page and 'src="/fr.html"' in page
    assert "Se désinscrire\u00a0: http://localhost:8000/unsubscribe/preview" in page  # the text part, markers filled
    assert 'href="/?lang=en"' in page
    assert 'src="/en.html"' in get(server, "/?lang=en")[2].decode()

    status, _, html = get(server, "/fr.html")
    assert status == 200 and "ACTUALITÉS" in html.decode() and 'src="/images/anbe-koungo-do.jpg"' in html.decode()
    status, ctype, text = get(server, "/en.txt")
    assert status == 200 and ctype.startswith("text/plain") and "Unsubscribe" in text.decode()
    status, ctype, img = get(server, "/images/anbe-koungo-do.jpg")
    assert status == 200 and ctype == "image/jpeg" and img[:2] == b"\xff\xd8"
    assert get(server, "/images/..%2Fissue.toml")[0] == 404
    assert get(server, "/de.html")[0] == 404


def test_a_saved_file_is_picked_up(server):
    version = json.loads(get(server, "/version")[2])["version"]
    news = server.preview.issue_dir / "news" / "01-bamako.md"
    news.write_text(news.read_text(encoding="utf-8").replace("place: Bamako", "place: Koulikoro"), encoding="utf-8")
    wait_for_version(server, version)
    assert "Koulikoro" in get(server, "/fr.html")[2].decode()


def test_a_broken_file_shows_the_error_then_recovers(server):
    version = json.loads(get(server, "/version")[2])["version"]
    toml = server.preview.issue_dir / "issue.toml"
    good = toml.read_text(encoding="utf-8")
    toml.write_text(good + "\noops ==\n", encoding="utf-8")
    version = wait_for_version(server, version)
    page = get(server, "/")[2].decode()
    assert "error:" in page and "issue.toml:" in page and "invalid TOML" in page
    toml.write_text(good, encoding="utf-8")
    wait_for_version(server, version)
    assert "ACTUALITÉS" in get(server, "/fr.html")[2].decode()


def test_missing_folder_is_an_error_before_serving(tmp_path):
    with pytest.raises(ContentError, match="not found"):
        PreviewServer(tmp_path / "absent", Config(), port=0)


def test_the_social_icons_show_without_the_web_service(tmp_path):
    cfg = Config()
    cfg.organisation.social = {"facebook": "https://www.facebook.com/institutmalienpourlapaix"}
    s = PreviewServer(copy_sample(tmp_path, "2023-07"), cfg, port=0)
    s.start()
    try:
        assert 'src="/icons/facebook.png"' in get(s, "/fr.html")[2].decode()
        status, ctype, icon = get(s, "/icons/facebook.png")
        assert status == 200 and ctype == "image/png" and icon[:8] == b"\x89PNG\r\n\x1a\n"
        assert get(s, "/icons/README")[0] == 404 and get(s, "/icons/..%2Femail.mjml.j2")[0] == 404
    finally:
        s.stop()
