"""`bulletin new SLUG`: a commented French starter with an English edition that `check` passes as it is, every
front matter key shown; a bad or taken name is refused and nothing is written."""

from __future__ import annotations

import argparse
from datetime import date

import pytest

from bulletin import config
from bulletin.cli import main
from bulletin.cli.compose import new
from bulletin.content import load_issue
from bulletin.content.loader import DIRECTOR_KEYS, HIGHLIGHTS_KEYS, ISSUE_KEYS, NEWS_KEYS
from compose_helpers import REPO

EXAMPLE = str(REPO / "config.example.toml")


def _new(tmp_path, capsys, slug, today=date(2026, 11, 20)) -> tuple[int, str]:
    cfg = config.load(EXAMPLE)
    args = argparse.Namespace(slug=slug, dir=tmp_path / "issues", templates=None)
    rc = new(args, cfg, today=today)
    return rc, capsys.readouterr().out


def test_the_starter_passes_check_in_both_editions(tmp_path, capsys):
    rc, out = _new(tmp_path, capsys, "2026-12")
    folder = tmp_path / "issues" / "2026-12"
    assert rc == 0 and out.splitlines()[0] == f"created {folder}:"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "director.en.md", "director.md", "highlights.en.md", "highlights.md", "images/exemple.jpg",
        "images/portrait.png", "issue.toml", "news/01-exemple.en.md", "news/01-exemple.md"]
    assert main(["--config", EXAMPLE, "check", str(folder)]) == 0
    check_out = capsys.readouterr().out
    assert check_out.splitlines()[-1] == f"ok: {folder}", check_out
    issue = load_issue(folder, config.load(EXAMPLE))
    assert issue.languages == ("fr", "en") and issue.date == date(2026, 12, 31)  # a month slug: its last day
    fr, en = issue.editions["fr"], issue.editions["en"]
    assert fr.subject == "Bulletin d'information de l'IMRAP — décembre 2026"
    assert en.subject == "IMRAP Newsletter — December 2026"
    assert fr.news[0].title == "Mali : titre de la nouvelle" and en.news[0].title == "Mali: title of the news"
    assert fr.news[0].link == "https://www.imrap-mali.org"  # the organisation's website
    assert len(fr.news[0].facts) == len(en.news[0].facts) == 3


def test_every_key_is_shown_with_an_example_and_a_comment(tmp_path, capsys):
    _new(tmp_path, capsys, "2026-12")
    folder = tmp_path / "issues" / "2026-12"
    for name, keys in (("issue.toml", ISSUE_KEYS), ("director.md", DIRECTOR_KEYS), ("news/01-exemple.md", NEWS_KEYS),
                       ("highlights.md", HIGHLIGHTS_KEYS)):
        text = (folder / name).read_text(encoding="utf-8")
        lines = text.splitlines()
        for key in keys:
            at = next(i for i, ln in enumerate(lines) if ln.startswith((f"{key}:", f"{key} =")))
            # a comment just above it, or above the pair it belongs to (image and image_alt, link and link_label)
            assert any(ln.startswith("#") for ln in lines[max(0, at - 2):at]), (name, key)
    assert "[en]" in (folder / "issue.toml").read_text(encoding="utf-8")


def test_another_slug_takes_todays_date(tmp_path, capsys):
    _new(tmp_path, capsys, "special-paix", today=date(2026, 11, 20))
    issue = load_issue(tmp_path / "issues" / "special-paix", config.load(EXAMPLE))
    assert issue.date == date(2026, 11, 20)


@pytest.mark.parametrize("slug", ["juillet 2026", "../2026-12", "2026/12", ".cache", "_x", "é"])
def test_a_bad_slug_is_refused_and_nothing_written(tmp_path, capsys, slug, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["--config", EXAMPLE, "new", slug])
    _out, err = capsys.readouterr()
    assert rc == 1 and err.startswith(f"error: {slug}: '{slug}' cannot be an issue's folder name")
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_refused_and_left_as_it_was(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    existing = tmp_path / "issues" / "2026-12"
    existing.mkdir(parents=True)
    (existing / "notes.txt").write_text("mes notes")
    rc = main(["--config", EXAMPLE, "new", "2026-12"])
    _out, err = capsys.readouterr()
    assert rc == 1 and err == "error: issues/2026-12: already exists: choose another name, or edit that issue\n"
    assert [p.name for p in existing.iterdir()] == ["notes.txt"]
    assert [p.name for p in (tmp_path / "issues").iterdir()] == ["2026-12"]  # no half-written folder beside it


def test_messages_in_french_for_a_french_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    try:
        assert main(["--config", EXAMPLE, "new", "2026-12"]) == 0
        assert capsys.readouterr().out.startswith("issues/2026-12 créé\u00a0:")
    finally:
        from bulletin import i18n

        i18n.set_default_language("en")
