"""The issue folder reader: what it builds from good folders and how it names what is wrong in bad ones."""

from __future__ import annotations

from datetime import date

import pytest

from bulletin.config import Config
from bulletin.content import load_issue
from bulletin.errors import ContentError
from compose_helpers import MINIMAL, SAMPLES, png_bytes, write_issue


@pytest.fixture
def cfg() -> Config:
    return Config()


def test_sample_2023_07_has_both_editions_and_every_block(cfg):
    issue = load_issue(SAMPLES / "2023-07", cfg)
    assert issue.slug == "2023-07"
    assert issue.language == "fr" and issue.languages == ("fr", "en")
    assert issue.date == date(2023, 7, 31)
    fr, en = issue.editions["fr"], issue.editions["en"]
    assert [b.place for b in fr.news] == ["Bamako", "Mopti"]
    assert fr.news[1].facts["Financé par"] == "USAID"
    assert en.news[1].facts["Funded by"] == "USAID"
    assert fr.director.title == "Mots du Directeur exécutif" and fr.director.photo.name == "directeur.png"
    assert en.director.title == "A word from the Executive Director"
    assert fr.highlights.title == "En Juillet 2023" and en.highlights.title == "In July 2023"
    assert [b.anchor for b in fr.news] == ["news-1", "news-2"]
    assert issue.problems == ()


def test_sample_2022_08_news_in_file_order(cfg):
    issue = load_issue(SAMPLES / "2022-08", cfg)
    assert issue.languages == ("fr",)
    assert [b.place for b in issue.editions["fr"].news] == ["Tombouctou", "Kangaba", "Ségou"]
    assert issue.editions["fr"].director is None


def test_edition_falls_back_to_primary_text_where_no_translation(tmp_path, cfg):
    files = dict(MINIMAL)
    files["issue.toml"] += '\n[en]\nsubject = "Test issue"\npreheader = "A short summary"\n'
    files["news/02-kayes.md"] = "---\ntitle: Kayes en français\n---\nTexte.\n"
    files["news/02-kayes.en.md"] = "---\ntitle: Kayes in English\n---\nText.\n"
    issue = load_issue(write_issue(tmp_path, files), cfg)
    en = issue.editions["en"]
    assert [b.title for b in en.news] == ["Une nouvelle de Bamako", "Kayes in English"]
    assert issue.edition("de").language == "fr"  # a language the issue lacks gets the primary edition


def _error(tmp_path, cfg, files) -> ContentError:
    with pytest.raises(ContentError) as e:
        load_issue(write_issue(tmp_path, files), cfg)
    return e.value


def test_missing_issue_toml(tmp_path, cfg):
    files = {k: v for k, v in MINIMAL.items() if k != "issue.toml"}
    err = _error(tmp_path, cfg, files)
    assert err.where.endswith("issue.toml") and "missing issue.toml" in str(err.what)


def test_invalid_toml_names_the_line(tmp_path, cfg):
    err = _error(tmp_path, cfg, {**MINIMAL, "issue.toml": 'subject = "x"\npreheader = "y"\ndate = 2023-07-31\noops ==\n'})
    assert err.where.endswith("issue.toml") and err.line == 4 and "invalid TOML" in str(err.what)


@pytest.mark.parametrize("key", ["subject", "preheader", "date"])
def test_missing_required_issue_key(tmp_path, cfg, key):
    lines = [ln for ln in MINIMAL["issue.toml"].splitlines() if not ln.startswith(key)]
    err = _error(tmp_path, cfg, {**MINIMAL, "issue.toml": "\n".join(lines) + "\n"})
    assert key in str(err.what) and err.where.endswith("issue.toml")


def test_unknown_issue_key_is_a_typo_not_ignored(tmp_path, cfg):
    err = _error(tmp_path, cfg, {**MINIMAL, "issue.toml": MINIMAL["issue.toml"] + 'preheadr = "x"\n'})
    assert "preheadr" in str(err.what) and err.line == 4


def test_translation_for_a_language_not_configured(tmp_path, cfg):
    err = _error(tmp_path, cfg, {**MINIMAL, "issue.toml": MINIMAL["issue.toml"] + '[de]\nsubject = "x"\npreheader = "y"\n'})
    assert "[de]" in str(err.what) and err.line == 4


def test_bad_date(tmp_path, cfg):
    err = _error(tmp_path, cfg, {**MINIMAL, "issue.toml": MINIMAL["issue.toml"].replace("2023-07-31", '"juillet"')})
    assert "date" in str(err.what) and err.line == 3


def test_broken_yaml_front_matter_names_the_line(tmp_path, cfg):
    bad = "---\ntitle: ok\nplace: [Bamako\nfacts: x\n---\nTexte.\n"
    err = _error(tmp_path, cfg, {**MINIMAL, "news/01-bamako.md": bad})
    assert err.where.endswith("01-bamako.md") and "invalid YAML" in str(err.what)
    assert err.line == 4  # where the parser notices the unclosed list: the next key


def test_unclosed_front_matter(tmp_path, cfg):
    err = _error(tmp_path, cfg, {**MINIMAL, "news/01-bamako.md": "---\ntitle: x\nTexte.\n"})
    assert "closing" in str(err.what) and err.line == 1


def test_news_block_without_title(tmp_path, cfg):
    err = _error(tmp_path, cfg, {**MINIMAL, "news/01-bamako.md": "---\nplace: Bamako\n---\nTexte.\n"})
    assert err.where.endswith("01-bamako.md") and "title" in str(err.what)


def test_unknown_front_matter_key(tmp_path, cfg):
    err = _error(tmp_path, cfg, {**MINIMAL, "news/01-bamako.md": "---\ntitle: x\nimgae: a.png\n---\nTexte.\n"})
    assert "imgae" in str(err.what) and err.line == 3


def test_image_that_does_not_exist(tmp_path, cfg):
    md = "---\ntitle: x\nimage: images/absente.jpg\nimage_alt: une photo\n---\nTexte.\n"
    err = _error(tmp_path, cfg, {**MINIMAL, "news/01-bamako.md": md})
    assert "absente.jpg" in str(err.what) and "not found" in str(err.what) and err.line == 3


def test_image_outside_the_images_folder_is_refused(tmp_path, cfg):
    md = "---\ntitle: x\nimage: ../../secret.png\nimage_alt: a\n---\nTexte.\n"
    (tmp_path / "secret.png").write_bytes(png_bytes(4, 4))
    err = _error(tmp_path, cfg, {**MINIMAL, "news/01-bamako.md": md})
    assert "images/ folder" in str(err.what)


def test_body_image_that_does_not_exist(tmp_path, cfg):
    md = "---\ntitle: x\n---\nTexte.\n\n![Une carte](../images/carte.png)\n"
    err = _error(tmp_path, cfg, {**MINIMAL, "news/01-bamako.md": md})
    assert "carte.png" in str(err.what) and err.line == 6


def test_images_resolve_relative_to_the_file_or_the_issue(tmp_path, cfg):
    md = "---\ntitle: x\nimage: ../images/a.png\nimage_alt: a\n---\n![b](images/a.png)\n"
    issue = load_issue(write_issue(tmp_path, {**MINIMAL, "news/01-bamako.md": md, "images/a.png": png_bytes(8, 8)}), cfg)
    assert issue.editions["fr"].news[0].image.name == "a.png"


def _problems(tmp_path, cfg, files) -> list[str]:
    return [str(p) for p in load_issue(write_issue(tmp_path, files), cfg).problems]


def test_problems_for_check_name_file_and_line(tmp_path, cfg):
    files = {
        **MINIMAL,
        "issue.toml": MINIMAL["issue.toml"].replace("Un court résumé", "x" * 151),
        "news/01-bamako.md": "---\ntitle: Sans alt\nimage: images/a.png\n---\nVoir [le site](www.imrap-mali.org).\n",
        "news/02-vide.md": "---\ntitle: Vide\n---\n",
        "images/a.png": png_bytes(8, 8),
    }
    problems = _problems(tmp_path, cfg, files)
    joined = "\n".join(problems)
    assert "issue.toml:2: preheader is 151 characters" in joined
    assert "01-bamako.md:3: image 'images/a.png' has no alt text" in joined
    assert "01-bamako.md:5: malformed link 'www.imrap-mali.org'" in joined
    assert "02-vide.md:4: this news block has a title but no text" in joined


def test_translation_without_its_table_is_reported(tmp_path, cfg):
    problems = _problems(tmp_path, cfg, {**MINIMAL, "news/01-bamako.en.md": "---\ntitle: x\n---\ny\n"})
    assert any("no [en] table" in p for p in problems)


def test_folder_name_must_be_usable_in_a_web_address(tmp_path, cfg):
    with pytest.raises(ContentError, match="web address"):
        load_issue(write_issue(tmp_path, MINIMAL, slug="juillet 2023"), cfg)


@pytest.mark.parametrize("link", ["javascript:alert(1)", "www.imrap-mali.org", "ftp://imrap-mali.org/x"])
def test_button_link_must_be_a_web_or_mail_address(tmp_path, cfg, link):
    err = _error(tmp_path, cfg, {**MINIMAL, "news/01-bamako.md": f"---\ntitle: x\nlink: '{link}'\n---\nTexte.\n"})
    assert link in str(err.what) and err.line == 3


def test_orphan_and_missing_translations_are_reported(tmp_path, cfg):
    files = {**MINIMAL, "issue.toml": MINIMAL["issue.toml"] + '[en]\nsubject = "S"\npreheader = "P"\n',
             "news/02-kita.en.md": "---\ntitle: Kita\n---\nText.\n"}
    problems = _problems(tmp_path, cfg, files)
    assert any("02-kita.en.md: no 02-kita.md beside it" in p for p in problems), problems
    assert any("01-bamako.md: no 01-bamako.en.md: the [en] edition shows this text untranslated" in p for p in problems)
