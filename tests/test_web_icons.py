"""The footer's social icons come from the organisation's own server: every icon a sample edition shows loads
from `bulletin serve` with the file shipped in templates/icons, and nothing else is served there."""

from __future__ import annotations

import re

import httpx
import pytest

from bulletin.render.pipeline import TEMPLATES_DIR, render_issue
from compose_helpers import SAMPLES
from web_support import live_site

SOCIAL = ('[organisation.social]\nfacebook = "https://www.facebook.com/institutmalienpourlapaix"\n'
          'x = "https://x.com/ImrapMali"\nyoutube = "https://www.youtube.com/@imrapmali"\n'
          'mastodon = "https://mastodon.example/@imrap"\n')


@pytest.fixture
def site(make_config, sqlite_url, tmp_path):
    with live_site(make_config, sqlite_url, tmp_path, sections=SOCIAL) as s:
        yield s


def test_every_icon_an_edition_shows_loads_from_the_organisations_server(site):
    (edition, _en) = render_issue(SAMPLES / "2023-07", site.cfg)
    icons = re.findall(r'src="([^"]*/email/icons/[^"]+)"', edition.html)
    assert [i.rsplit("/", 1)[1] for i in icons] == ["facebook.png", "x.png", "youtube.png", "web.png"]
    for url in icons:
        assert url.startswith(site.url + "/")
        r = httpx.get(url)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert r.content == (TEMPLATES_DIR / "icons" / url.rsplit("/", 1)[1]).read_bytes()


@pytest.mark.parametrize("name", ["nothing.png", "..%2Femail.mjml.j2", "README", ".hidden.png"])
def test_nothing_but_the_icons_is_served(site, name):
    assert httpx.get(f"{site.url}/email/icons/{name}").status_code == 404
