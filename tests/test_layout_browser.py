"""The built email in headless Chromium: no sideways scrolling on a phone, a 600 px column on a desktop.

Screenshots go to test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bulletin.cli import main
from compose_helpers import REPO

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: .ci/run must install it")
        pytest.skip("no /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("build")
    for slug in ("2023-07", "2022-08"):
        assert main(["--config", str(REPO / "config.example.toml"), "build", str(REPO / "issues" / slug),
                     "--out", str(out)]) == 0
    return out


# The box around everything a reader sees (text and images), and the widest thing that overflows the page.
MEASURE = """() => {
  const els = [...document.querySelectorAll('img, p, h2, h3, li, td, a')].filter(e => {
    const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.display !== 'none' && s.visibility !== 'hidden';
  });
  const left = Math.min(...els.map(e => e.getBoundingClientRect().left));
  const right = Math.max(...els.map(e => e.getBoundingClientRect().right));
  return {scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth,
          left, right};
}"""


@pytest.mark.parametrize("width,page_name", [(375, "2023-07.fr.html"), (375, "2023-07.en.html"),
                                             (375, "2022-08.fr.html"), (600, "2023-07.fr.html")])
def test_phone_and_narrow_widths_do_not_scroll_sideways(browser, built, width, page_name):
    page = browser.new_page(viewport={"width": width, "height": 740})
    page.goto((built / page_name).as_uri())
    m = page.evaluate(MEASURE)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / page_name.replace(".html", f"-{width}.png")), full_page=True)
    page.close()
    assert m["scrollWidth"] <= width, m
    assert m["left"] >= 0 and m["right"] <= width, m


@pytest.mark.parametrize("page_name", ["2023-07.fr.html", "2022-08.fr.html"])
def test_desktop_column_is_at_most_600px_and_centred(browser, built, page_name):
    page = browser.new_page(viewport={"width": 1024, "height": 900})
    page.goto((built / page_name).as_uri())
    m = page.evaluate(MEASURE)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / page_name.replace(".html", "-1024.png")), full_page=True)
    page.close()
    assert m["right"] - m["left"] <= 600, m
    assert abs((m["left"] + m["right"]) / 2 - 512) < 20, m  # centred
    assert m["scrollWidth"] <= 1024


def test_preheader_hidden_images_loaded_and_toc_links_to_blocks(browser, built):
    page = browser.new_page(viewport={"width": 375, "height": 740})
    page.goto((built / "2023-07.fr.html").as_uri())
    preheader = page.get_by_text("H2I : l'IMRAP, IDS et HU s'engagent ensemble ; à Mopti", exact=False).first
    assert not preheader.is_visible()
    images = page.evaluate("""() => [...document.images].map(i => [i.alt, i.src.startsWith('file:'), i.naturalWidth])""")
    # every image beside the page, social icons included: nothing loaded from anywhere else
    assert [(alt, local, width) for alt, local, width in images] == [
        ("Les vidéos success-stories du projet « Anbè Koungo do » sur la chaîne YouTube de l'IMRAP", True, 1104),
        ("Le Directeur exécutif de l'IMRAP", True, 240),
        ("Facebook", True, 56), ("LinkedIn", True, 56), ("Twitter", True, 56), ("YouTube", True, 56)], images
    page.click("a[href='#news-2']")
    top = page.evaluate("document.getElementById('news-2').getBoundingClientRect().top")
    assert 0 <= top < 100  # the block's title is at the top of the screen
    page.close()
