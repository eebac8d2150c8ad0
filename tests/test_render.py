"""The composition pipeline on the sample issues and on the traps of mjml-python and premailer."""

from __future__ import annotations

import html as htmllib
import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from html.parser import HTMLParser

import pytest

from bulletin.config import Config
from bulletin.errors import RenderError
from bulletin.render.inline import inline_css
from bulletin.render.mjml import compile_mjml
from bulletin.render.pipeline import TEMPLATES_DIR, render_issue, size_warnings
from compose_helpers import MINIMAL, SAMPLES, png_bytes, write_issue

#: Headlines and block titles as the seeds (the past bulletins) print them.
SEED_HEADINGS = {
    "2023-07": [
        "H2I : l'IMRAP, IDS et HU s'engagent ensemble dans la consolidation des chantiers déjà ouverts au Mali",
        "Les vidéos success-stories du projet « Anbè Koungo do » financé par l'USAID",
        "H2I CN_Phase 2_Vestibule de la paix",
        "Pilier 3 : Genre et médiation",
        "Localités ciblées", "Kangaba, Kayes, Kita, Mopti et Bamako", "Humanity United",
        "Zone d'intervention du projet", "Consortium IMRAP et Accountability Lab Mali (ALab)",
        "Mots du Directeur exécutif".upper(),
        "nomination de Monsieur Djibril DIALLO au poste de Président du Conseil d'Administration",
        "En Juillet 2023".upper(),
        "a vu la réalisation de huit (08) vidéos de récit de succès",
        "Retrouvez toutes ces vidéos sur chaine youtube",
        "https://www.youtube.com/@imrapmali",
    ],
    "2022-08": [
        "Le gouvernorat de Tombouctou et IMRAP conjuguent leurs efforts pour une paix durable dans la région",
        "Du 16 au 20 août 2022 à kangaba, s'est déroulée la formation des collecteurs de récits de changements",
        "Atelier d'échange entre les populations, les forces de sécurité et les membres des comités consultatifs.",
        "Lire la suite", "https://www.facebook.com/institutmalienpouirlapaix",
        "Cette initiative est l'œuvre de l'IMRAP",
        "C'était dans la grande salle du gouvernorat",
        "Ségou en ligne",
    ],
}
FOOTER = ["Badalabougou-Est, Avenue de l'UA, rue 27 porte 357", "(223) 20.22.18.48"]
SOCIAL = ["https://www.facebook.com/institutmalienpourlapaix", "https://twitter.com/ImrapMali",
          "https://www.linkedin.com/company/institut-malien-de-recherche-action-pour-la-paix",
          "https://www.youtube.com/@imrapmali"]


@pytest.fixture(scope="module")
def imrap() -> Config:
    from bulletin import config

    return config.load(TEMPLATES_DIR.parent / "config.example.toml")


@pytest.fixture(scope="module")
def samples(imrap):
    return {slug: render_issue(SAMPLES / slug, imrap) for slug in SEED_HEADINGS}


def _visible(markup: str) -> str:
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", markup)))


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(markup: str, name: str) -> list[dict]:
    p = _Tags()
    p.feed(markup)
    return [attrs for tag, attrs in p.tags if tag == name]


@pytest.mark.parametrize("slug", list(SEED_HEADINGS))
def test_every_seed_heading_in_html_and_text_with_accents(samples, slug, imrap):
    primary = samples[slug][0]
    assert primary.language == "fr"
    html_text, plain = _visible(primary.html), re.sub(r"\s+", " ", primary.text)
    links = {a.get("href") for a in _tags(primary.html, "a")}
    for expected in SEED_HEADINGS[slug] + FOOTER + SOCIAL:
        # Addresses are links in the HTML (their text may be a label) and written out in the text part.
        assert expected in (links if expected.startswith("https://") else html_text), expected
        assert expected in plain, expected
    assert "Ã" not in primary.html + primary.text  # no mojibake of é, è, œ


@pytest.mark.parametrize("slug", list(SEED_HEADINGS))
def test_html_is_a_complete_email_document(samples, slug):
    for ed in samples[slug]:
        h = ed.html
        assert h.lstrip().lower().startswith("<!doctype html>")
        assert re.search(rf'<html[^>]*\blang="{ed.language}"', h)
        assert f"<title>{ed.subject}</title>" in htmllib.unescape(h)
        assert ed.preheader in htmllib.unescape(h)
        assert "@media" in h and "max-width" in h.lower()
        imgs = _tags(h, "img")
        assert imgs and all(i.get("alt", "").strip() for i in imgs), [i for i in imgs if not i.get("alt")]
        assert len(h.encode()) < 100_000
        assert not size_warnings(h, "x")
        assert not re.search(r"<mj-[a-z]", h)  # nothing MJML left uncompiled


def test_table_of_contents_links_to_each_block(samples):
    h = samples["2022-08"][0].html
    for i in (1, 2, 3):
        assert f'href="#news-{i}"' in h and f'id="news-{i}"' in h


def test_english_edition_has_english_labels_and_month(samples):
    fr, en = samples["2023-07"]
    assert en.language == "en" and en.subject == "IMRAP Newsletter — July 2023"
    for label in ("July 2023", "NEWS", "Unsubscribe", "View in your browser", "A WORD FROM THE EXECUTIVE DIRECTOR",
                  "The success-story videos of the USAID-funded “Anbè Koungo do” project"):
        assert label in htmllib.unescape(en.html) and label in en.text, label
    assert "juillet" not in _visible(en.html) and "Se désinscrire" not in en.html
    for label in ("juillet 2023", "ACTUALITÉS", "Se désinscrire", "Voir dans le navigateur"):
        assert label in htmllib.unescape(fr.html) and label in fr.text, label


def test_markers_survive_mjml_premailer_and_text(samples):
    for ed in samples["2023-07"]:
        hrefs = [a.get("href") for a in _tags(ed.html, "a")]
        assert "%%unsubscribe_url%%" in hrefs and "%%archive_url%%" in hrefs
        assert "%%unsubscribe_url%%" in ed.text and "%%archive_url%%" in ed.text
        html, text = ed.personalise({"unsubscribe_url": "https://news.example/unsubscribe/T0K", "archive_url": "https://a"})
        assert 'href="https://news.example/unsubscribe/T0K"' in html and "https://news.example/unsubscribe/T0K" in text
        assert "%%" not in html and "%%" not in text


def test_name_marker_written_in_markdown_survives_every_stage(tmp_path):
    files = {**MINIMAL, "director.md": "---\ntitle: Le mot\n---\nBonjour %%name%%, voici les nouvelles.\n"}
    (ed,) = render_issue(write_issue(tmp_path, files), Config())
    assert "%%name%%" in ed.html and "%%name%%" in ed.text
    html, text = ed.personalise({"name": "Awa <Traoré>"})
    assert "Bonjour Awa &lt;Traoré&gt;, voici" in html and "Bonjour Awa <Traoré>, voici" in text


def test_images_point_at_the_archive_and_keep_their_pixel_width(tmp_path):
    files = {
        **MINIMAL,
        "news/01-bamako.md": "---\ntitle: x\nimage: images/photo.png\nimage_alt: Une photo\n---\nTexte.\n\n"
                             "![Une carte](../images/photo.png)\n",
        "news/02-distant.md": "---\ntitle: y\nimage: https://cdn.example.org/a.jpg\nimage_alt: Distante\n---\nTexte.\n",
        "images/photo.png": png_bytes(40, 20),
    }
    cfg = Config()
    cfg.web.base_url = "https://news.imrap.example"
    (ed,) = render_issue(write_issue(tmp_path, files, slug="2024-01"), cfg)
    imgs = {i["alt"]: i for i in _tags(ed.html, "img")}
    assert imgs["Une photo"]["src"] == "https://news.imrap.example/archive/2024-01/images/photo.png"
    assert imgs["Une carte"]["src"] == "https://news.imrap.example/archive/2024-01/images/photo.png"
    assert imgs["Distante"]["src"] == "https://cdn.example.org/a.jpg"
    # premailer's default would have turned these into width="100%", which Outlook draws at natural size.
    assert imgs["Une photo"]["width"] == "552" and imgs["Une carte"]["width"] == "552"


def test_premailer_keeps_width_and_doctype():
    src = ('<!doctype html><html><head><style>img { width: 100%; } p { color: red }</style></head>'
           '<body><img src="a.png" width="550" alt="a"><p>x</p></body></html>')
    out = inline_css(src)
    assert out.lower().startswith("<!doctype html>")
    assert 'width="550"' in out and 'width="100%"' not in out
    assert '<p style="color:red">' in out


def test_remote_stylesheet_is_refused_and_never_fetched():
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"p { color: blue }")

        def log_message(self, *a):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/style.css"
        with pytest.raises(RenderError, match="remote stylesheet"):
            inline_css(f'<!doctype html><html><head><link rel="stylesheet" href="{url}"></head><body><p>x</p></body></html>')
    finally:
        server.shutdown()
        server.server_close()
    assert hits == []


def _mjml(body: str) -> str:
    return f"<mjml><mj-body><mj-section><mj-column>{body}</mj-column></mj-section></mj-body></mjml>"


def test_mj_include_cannot_leave_the_templates_folder(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (tmp_path / "secret.mjml").write_text("<mj-text>SECRET</mj-text>")
    (templates / "ok.mjml").write_text("<mj-text>INCLUDED</mj-text>")
    assert "INCLUDED" in compile_mjml(_mjml('<mj-include path="ok.mjml" />'), templates)
    for path in ("../secret.mjml", str(tmp_path / "secret.mjml"), "sub/../../secret.mjml"):
        with pytest.raises(RenderError, match="outside the templates folder"):
            compile_mjml(_mjml(f'<mj-include path="{path}" />'), templates)


def test_unknown_mjml_tag_is_an_error_with_its_line(tmp_path):
    src = "<mjml>\n<mj-body>\n<mj-section><mj-column>\n<mj-txt>typo</mj-txt>\n</mj-column></mj-section></mj-body></mjml>"
    with pytest.raises(RenderError) as e:
        compile_mjml(src, tmp_path, where="email.mjml")
    assert "<mj-txt>" in e.value.what and e.value.line == 4


def test_social_links_are_profile_links_not_share_links(samples, tmp_path):
    h = samples["2023-07"][0].html
    assert "sharer" not in h and "shareArticle" not in h and "intent/tweet" not in h
    hrefs = [a.get("href") for a in _tags(h, "a")]
    assert "https://www.facebook.com/institutmalienpourlapaix" in hrefs
    with pytest.raises(RenderError, match="facebook-noshare"):
        compile_mjml(_mjml('<mj-social><mj-social-element name="facebook" href="https://f.example/x" /></mj-social>'),
                     tmp_path)


def _broken_templates(tmp_path, old: str, new: str):
    tdir = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, tdir)
    path = tdir / "partials" / "news.mjml.j2"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    line = next(i for i, ln in enumerate(path.read_text().splitlines(), start=1) if new in ln)
    return tdir, path, line


@pytest.mark.parametrize("old,new", [("{{ block.title }}", "{{ block.titel }}"),
                                     ("{% endif %}", "{% endiff %}")])
def test_template_errors_name_the_template_and_line(tmp_path, old, new):
    tdir, path, line = _broken_templates(tmp_path, old, new)
    issue = write_issue(tmp_path, MINIMAL)
    with pytest.raises(RenderError) as e:
        render_issue(issue, Config(), templates_dir=tdir)
    assert e.value.where == str(path) and e.value.line == line


def test_size_warnings_for_gmail_limits():
    big = "<html><head><style>" + "a{color:red}" * 2000 + "</style></head><body>" + "x" * 100_500 + "</body></html>"
    warnings = size_warnings(big, "2024-01 (fr)")
    assert any("Gmail clips" in w for w in warnings)
    assert any("<style>" in w for w in warnings)
    assert size_warnings("<html><body>small</body></html>", "x") == []


def test_stage_timings_are_reported(tmp_path):
    timings: dict[str, float] = {}
    render_issue(write_issue(tmp_path, MINIMAL), Config(), timings=timings)
    assert set(timings) == {"load", "jinja", "mjml", "inline", "text"} and all(v > 0 for v in timings.values())


def test_outlook_fallback_survives_inlining(samples):
    h = samples["2023-07"][0].html
    # MJML's fixed-width "ghost tables" for Outlook live in conditional comments that premailer must keep.
    assert h.count("<!--[if mso | IE]>") > 10
    assert re.search(r'<!--\[if mso \| IE\]><table[^>]*width="600"', h)
    assert "<o:OfficeDocumentSettings>" in h.split("</head>")[0]
