"""`bulletin check` on the mistakes a communications officer makes, as they were seen (issues 11 and 12): every
problem in one run, each once, with its file, line, field and a hint, in French and in English."""

from __future__ import annotations

import re
import struct
import zlib

import pytest

from bulletin.cli import main
from bulletin.config import Config
from bulletin.content import Severity, load_issue, read_issue
from bulletin.errors import ContentError
from bulletin.render.check import check_issue
from bulletin.render.pipeline import render_issue
from compose_helpers import MINIMAL, REPO, png_bytes, write_issue

EXAMPLE = str(REPO / "config.example.toml")
EN_TABLE = '\n[en]\nsubject = "Test issue"\npreheader = "A short summary"\n'


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = main(["--config", EXAMPLE, *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def problems(tmp_path, files, cfg=None):
    return read_issue(write_issue(tmp_path, files), cfg or Config()).problems


def one(found, key):
    hits = [p for p in found if p.message.key == key]
    assert len(hits) == 1, [(p.file, p.line, p.message.key) for p in found]
    return hits[0]


# -- issue 12, as seen -------------------------------------------------------------------------------------------
def test_an_unquoted_title_with_a_colon_is_reported_at_its_line_with_the_quotes_to_add(tmp_path):
    news = "---\nplace: Kayes\ntitle: Mali: Lancement du projet\nlink: https://www.imrap-mali.org\n---\nTexte.\n"
    p = one(problems(tmp_path, {**MINIMAL, "news/01-bamako.md": news}), "content.fm.yaml")
    assert (p.severity, p.file, p.line, p.field, p.blocking) == (Severity.ERROR, "news/01-bamako.md", 3, "title", True)
    assert p.hint.render("en") == 'the value contains a colon: put it between double quotes: title: "Mali: Lancement du projet"'
    assert p.hint.render("fr") == ("la valeur contient deux-points\u00a0: mettez-la entre guillemets droits\u00a0: "
                                   'title: "Mali: Lancement du projet"')


def test_a_date_written_15_12_2026_gets_the_iso_form_as_a_hint(tmp_path):
    toml = 'subject = "S"\npreheader = "P"\ndate = 15/12/2026\n'
    p = one(problems(tmp_path, {**MINIMAL, "issue.toml": toml}), "content.toml.invalid")
    assert (p.file, p.line, p.field) == ("issue.toml", 3, "date")
    assert p.hint.render("en") == "write dates as year-month-day, without quotes: date = 2026-12-15"
    assert p.hint.render("fr") == "écrivez les dates sous la forme année-mois-jour, sans guillemets\u00a0: date = 2026-12-15"


def test_eight_mistakes_in_one_run(tmp_path, capsys):
    files = {
        "issue.toml": 'subject = "Bulletin"\npreheader = "Résumé"\ndate = 15/12/2026\n[en]\nsubject = "News"\n'
                      'preheader = "Summary"\n',
        "director.md": "name: Awa\nrole: Directrice\n---\nBonjour.\n",
        "news/01-bamako.md": "---\ntitle: Mali: Lancement\nplace: Bamako\nplace: Kayes\nimgae: x.png\n---\n"
                             "Voir [le rapport](<rapport.pdf>).\n\n![](images/carte.png)\n",
        "news/02-mopti.md": "---\ntitle: Mopti\nplace: Mopti\nfacts:\n  Durée: 9 mois\n---\nTexte.\n",
        "news/02-mopti.en.md": "---\ntitle: Mopti\nfacts:\n  Duration: 9 months\n---\nText.\n",
    }
    rc, out, err = run(capsys, "check", write_issue(tmp_path, files))
    located = re.findall(r"^\S+?/2024-01/(\S+?): (error|warning): ", out, re.M)
    assert rc == 1 and located == [
        ("issue.toml:3", "error"),                     # date = 15/12/2026
        ("director.md", "warning"),                    # no director.en.md
        ("director.md:1", "error"),                    # no opening ---
        ("news/01-bamako.md", "warning"),              # no 01-bamako.en.md
        ("news/01-bamako.md:2", "error"),              # Mali: Lancement
        ("news/01-bamako.md:4", "error"),              # place twice
        ("news/01-bamako.md:5", "error"),              # imgae
        ("news/01-bamako.md:7", "error"),              # rapport.pdf is no address
        ("news/01-bamako.md:9", "error"),              # no alt text
        ("news/01-bamako.md:9", "error"),              # carte.png does not exist
        ("news/02-mopti.en.md", "warning"),            # place: only in French
    ], out
    assert err.strip().endswith(": 8 error(s), 3 warning(s)")
    assert "    hint: did you mean image?" in out


def test_a_place_missing_from_the_english_file_is_said_and_shown_from_the_french(tmp_path):
    files = {**MINIMAL, "issue.toml": MINIMAL["issue.toml"] + EN_TABLE,
             "news/01-bamako.en.md": "---\ntitle: News from Bamako\n---\nThe text.\n"}
    issue_dir = write_issue(tmp_path, files)
    p = one(read_issue(issue_dir, Config()).problems, "content.translation.missing_key")
    assert (p.severity, p.file, p.field) == (Severity.WARNING, "news/01-bamako.en.md", "place")
    assert p.message.render("en") == "place is in news/01-bamako.md but not here: the en edition shows the fr value"
    assert p.message.render("fr") == ("place est dans news/01-bamako.md mais pas ici\u00a0: l'édition en montre la "
                                      "valeur fr")
    fr, en = render_issue(issue_dir, Config())
    assert "BAMAKO\nNews from Bamako" in en.text and ">Bamako</div>" in en.html


def test_a_block_with_no_translation_and_a_translation_with_no_original(tmp_path):
    files = {**MINIMAL, "issue.toml": MINIMAL["issue.toml"] + EN_TABLE, "news/02-kita.en.md": "---\ntitle: Kita\n---\nT\n"}
    found = problems(tmp_path, files)
    missing = one(found, "content.translation.missing")
    assert missing.file == "news/01-bamako.md" and missing.message.render("en") == \
        "no 01-bamako.en.md: the [en] edition shows this text untranslated"
    assert one(found, "content.translation.orphan").file == "news/02-kita.en.md"


def test_a_fact_missing_from_a_translation(tmp_path):
    files = {**MINIMAL, "issue.toml": MINIMAL["issue.toml"] + EN_TABLE,
             "news/01-bamako.md": "---\ntitle: T\nplace: Bamako\nfacts:\n  Durée: 9 mois\n  Financé par: USAID\n---\nx\n",
             "news/01-bamako.en.md": "---\ntitle: T\nplace: Bamako\nfacts:\n  Duration: 9 months\n---\nx\n"}
    p = one(problems(tmp_path, files), "content.translation.facts")
    assert (p.file, p.line, p.field) == ("news/01-bamako.en.md", 4, "facts")


def test_warnings_are_printed_once_by_check_and_by_build(tmp_path, capsys):
    files = {**MINIMAL, "issue.toml": MINIMAL["issue.toml"] + EN_TABLE,
             "news/02-vide.md": "---\ntitle: Vide\n---\n"}  # untranslated: both editions show it
    issue = write_issue(tmp_path, files)
    _rc, out, _ = run(capsys, "check", issue)
    assert out.count("this news block has a title but no text") == 1
    rc, _, err = run(capsys, "build", issue, "--out", tmp_path / "out")
    assert rc == 0 and err.count("this news block has a title but no text") == 1
    assert err.count("no 01-bamako.en.md") == 1


# -- issue 11: check passed broken content ---------------------------------------------------------------------
def test_director_md_without_its_opening_line_is_an_error_not_text_in_the_email(tmp_path, capsys):
    files = {**MINIMAL, "director.md": "title: Le mot\nname: Awa\n---\nBonjour.\n"}
    p = one(problems(tmp_path, files), "content.fm.no_opening")
    assert (p.file, p.line, p.severity, p.blocking) == ("director.md", 1, Severity.ERROR, True)
    rc, _, err = run(capsys, "build", tmp_path / "2024-01", "--out", tmp_path / "out")
    assert rc == 1 and "director.md:1: the front matter has no opening '---' line" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, text, line, first, field", [
    ("news/01-bamako.md", "---\ntitle: Un\nplace: Bamako\ntitle: Deux\n---\nT\n", 4, 2, "title"),
    ("news/01-bamako.md", "---\ntitle: T\nfacts:\n  Durée: 9 mois\n  Durée: 12 mois\n---\nT\n", 5, 4, "facts"),
    ("issue.toml", 'subject = "S"\npreheader = "P"\nsubject = "Autre"\ndate = 2024-01-31\n', 3, 1, "subject"),
])
def test_a_key_written_twice_is_an_error_at_its_second_line(tmp_path, name, text, line, first, field):
    found = [p for p in problems(tmp_path, {**MINIMAL, name: text})
             if p.message.key in ("content.fm.duplicate", "content.toml.duplicate")]
    assert [(p.file, p.line, p.field, p.message.values["first"], p.severity) for p in found] == [
        (name, line, field, first, Severity.ERROR)]


def test_an_issue_without_news_is_an_error(tmp_path, capsys):
    issue = write_issue(tmp_path, {"issue.toml": MINIMAL["issue.toml"], "director.md": "---\nname: Awa\n---\nBonjour.\n"})
    rc, out, _ = run(capsys, "check", issue)
    assert rc == 1 and re.search(r"/news: error: the issue has no news", out), out


def test_raw_html_in_a_body_is_a_warning_at_its_line(tmp_path):
    body = "---\ntitle: T\n---\nUn texte.\n\n<div align=center>centré</div>\n\nDu <b>gras</b> ici.\n"
    found = [p for p in problems(tmp_path, {**MINIMAL, "news/01-bamako.md": body}) if p.message.key == "content.body.raw_html"]
    assert [(p.line, p.message.values["tag"], p.severity) for p in found] == [
        (6, "<div align=center>centré</div>", Severity.WARNING), (8, "<b>", Severity.WARNING)]


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares its size and holds almost nothing: what a decompression bomb looks like."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b""))


def test_a_20000_pixel_png_is_a_one_line_error_in_check_and_build(tmp_path, capsys):
    files = {**MINIMAL, "news/01-bamako.md": "---\ntitle: T\nimage: images/bomb.png\nimage_alt: Une carte\n---\nT\n",
             "images/bomb.png": _png_header(20000, 20000)}
    issue = write_issue(tmp_path, files)
    rc, out, err = run(capsys, "check", issue)
    bomb = [ln for ln in out.splitlines() if "bomb.png" in ln]
    assert rc == 1 and len(bomb) == 1 and "Traceback" not in out + err
    assert bomb[0].endswith("01-bamako.md:3: error: image 'images/bomb.png': this image has more than 40 million "
                            "pixels: too large to open safely; save it at most 2400 pixels wide")
    rc, out, err = run(capsys, "build", issue, "--out", tmp_path / "out")
    assert rc == 1 and err.count("\n") == 1 and err.startswith("error: ") and "bomb.png: this image has more" in err
    assert not (tmp_path / "out").exists()


# -- structured problems for the browser editor ------------------------------------------------------------------
def test_problems_are_data_the_editor_can_place_next_to_a_field(tmp_path):
    files = {**MINIMAL, "news/01-bamako.md": "---\ntitle: T\nimage: images/a.png\n---\nTexte.\n",
             "images/a.png": png_bytes(10, 10)}
    p = one(problems(tmp_path, files), "content.image.no_alt")
    assert p.as_dict("fr") == {
        "severity": "error", "file": "news/01-bamako.md", "line": 3, "field": "image_alt", "key": "content.image.no_alt",
        "values": {"src": "images/a.png"}, "blocking": False,
        "message": "l'image «\u00a0images/a.png\u00a0» n'a pas de texte de remplacement\u00a0: qui n'affiche pas les "
                   "images ne voit rien",
        "hint": 'par exemple\u00a0: image_alt: "…"'}


def test_a_french_terminal_reads_check_in_french(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LANG", "fr_ML.UTF-8")
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    issue = write_issue(tmp_path, {**MINIMAL, "issue.toml": MINIMAL["issue.toml"].replace("2023-07-31", "15/12/2026")})
    try:
        rc, out, err = run(capsys, "check", issue)
    finally:
        from bulletin import i18n

        i18n.set_default_language("en")
    assert rc == 1
    assert out.splitlines() == [
        f"{issue}/issue.toml:3: erreur\u00a0: TOML non valide\u00a0: Expected newline or end of document after a statement",
        "    conseil\u00a0: écrivez les dates sous la forme année-mois-jour, sans guillemets\u00a0: date = 2026-12-15"]
    assert err == f"{issue}\u00a0: 1 erreur(s), 0 avertissement(s)\n"


def test_build_still_names_the_first_blocking_problem_in_one_line(tmp_path):
    with pytest.raises(ContentError) as e:
        load_issue(write_issue(tmp_path, {**MINIMAL, "news/01-bamako.md": "---\ntitle: Mali: x\n---\nT\n"}), Config())
    assert str(e.value).endswith('01-bamako.md:2: invalid YAML front matter: mapping values are not allowed in this context — '
                                 'the value contains a colon: put it between double quotes: title: "Mali: x"')


# -- third parties -------------------------------------------------------------------------------------------------
def test_an_image_from_another_host_fails_check_at_its_line(tmp_path, capsys):
    files = {**MINIMAL, "news/01-bamako.md": "---\ntitle: T\nimage: https://cdn.example.net/a.jpg\nimage_alt: A\n---\n"
                                             "Voir [notre site](https://www.imrap-mali.org) et ![carte](https://maps.example.com/c.png)\n"}
    report = check_issue(write_issue(tmp_path, files), Config())
    hosts = [(p.line, p.field, p.message.values["host"]) for p in report.errors if p.message.key == "check.host.image"]
    assert hosts == [(3, "image", "cdn.example.net"), (6, "body", "maps.example.com")]  # links are fine


def test_a_logo_or_a_template_on_another_host_fails_check(tmp_path, make_config):
    cfg = make_config('[organisation]\nlogo = "https://static.example.org/logo.png"\n')
    report = check_issue(write_issue(tmp_path, MINIMAL), cfg)
    logo = one(report.errors, "check.host.image")
    assert logo.field == "[organisation].logo" and logo.path == str(cfg.path)
    from bulletin.render.pipeline import TEMPLATES_DIR
    import shutil

    tdir = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, tdir)
    header = tdir / "partials" / "header.mjml.j2"
    header.write_text(header.read_text().replace('<mj-section background-color="#0e5e6f"',
                                                 '<mj-section background-url="https://img.example.com/bg.jpg" background-color="#0e5e6f"', 1))
    report = check_issue(tmp_path / "2024-01", Config(), templates_dir=tdir)
    p = one(report.errors, "check.host.template")
    assert p.message.values["url"] == "https://img.example.com/bg.jpg" and p.path == str(tdir)


@pytest.mark.parametrize("name, text, line, hint", [
    ("news/01-bamako.md", "---\ntitle: T\nfacts:\n\tDurée: 9 mois\n---\nx\n", 4, "indent with spaces, not tabs"),
    ("news/01-bamako.md", '---\ntitle: "Le projet\nplace: Kayes\n---\nx\n', 2, "close the quote opened on this line"),
    ("news/01-bamako.md", "---\ntitle: T\n  place: Kayes\n---\nx\n", 3,
     "keys start at the beginning of the line; only the lines under facts: are indented"),
    ("issue.toml", 'subject = Bulletin de décembre\npreheader = "P"\ndate = 2024-01-31\n', 1,
     'put text between double quotes: subject = "Bulletin de décembre"'),
    ("issue.toml", 'subject: "Bulletin"\npreheader = "P"\ndate = 2024-01-31\n', 1,
     "in issue.toml a key and its value are joined by '=': subject = \"Bulletin\""),
])
def test_other_slips_get_a_hint_at_their_line(tmp_path, name, text, line, hint):
    found = [p for p in problems(tmp_path, {**MINIMAL, name: text}) if p.hint is not None and p.line == line]
    assert [p.hint.render("en") for p in found if p.file == name][:1] == [hint], found
