"""An issue folder as the editor's form and back (content/form.py, content/writer.py): a form saved unchanged
writes nothing; a changed field rewrites its own lines and nothing else, in the folder's own format; a file
changed on disk since the page was opened is never overwritten; blocks renumber with their translations."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from bulletin.config import Config
from bulletin.content import read_issue
from bulletin.content.form import (FACTS, Submission, field_name, moved, plan, read_form, renames, version_field,
                                   version_of)
from bulletin.content.starter import create_issue
from bulletin.content.writer import mapping_key, scalar, update_markdown, update_toml
from bulletin.render.pipeline import TEMPLATES_DIR
from compose_helpers import REPO, write_issue

SAMPLES = sorted(p.name for p in (REPO / "issues").iterdir() if (p / "issue.toml").is_file())


def _form(folder: Path):
    return read_form(folder, "fr", ["fr", "en"])


def as_submitted(form) -> dict[str, list[str]]:
    """What a browser sends for the form as shown: every field with its value, and each file's version."""
    out: dict[str, list[str]] = {}
    for ff in form.files():
        out[version_field(ff.rel)] = [ff.version]
        for key in ff.keys:
            if key == FACTS:
                out[field_name(ff.rel, FACTS)] = ["1"]
                out[field_name(ff.rel, "facts.label")] = [k for k, _ in ff.facts] + [""]
                out[field_name(ff.rel, "facts.value")] = [v for _, v in ff.facts] + [""]
            else:
                value = ff.value(key)
                out[field_name(ff.rel, key)] = [value.replace("\n", "\r\n") if key in ("body", "source") else value]
    return out


def _starter(tmp_path) -> Path:
    folder, _ = create_issue(tmp_path, "2026-12", Config(), TEMPLATES_DIR / "starter", today=date(2026, 11, 20))
    return folder


@pytest.fixture(params=[*SAMPLES, "starter"])
def issue(request, tmp_path) -> Path:
    if request.param == "starter":
        return _starter(tmp_path)
    import shutil

    return Path(shutil.copytree(REPO / "issues" / request.param, tmp_path / request.param))


def test_every_sample_saved_unchanged_writes_nothing(issue):
    form = _form(issue)
    assert not any(ff.raw for ff in form.files())
    done = plan(form, as_submitted(form))
    assert done.writes == [] and done.conflicts == []


def test_every_file_reads_back_as_written(issue):
    for path in sorted(issue.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        kind = "news" if path.parent.name == "news" else path.name.split(".")[0]
        assert update_markdown(text, kind, {}) == text
    toml = (issue / "issue.toml").read_text(encoding="utf-8")
    assert update_toml(toml, {}) == toml


def _set(form, submitted: Submission, rel: str, key: str, value: str) -> None:
    submitted[field_name(rel, key)] = [value]


def test_a_changed_title_rewrites_its_line_only_and_keeps_the_comments(tmp_path):
    folder = _starter(tmp_path)
    before = (folder / "news/01-exemple.md").read_text(encoding="utf-8")
    form = _form(folder)
    sent = as_submitted(form)
    _set(form, sent, "news/01-exemple.md", "title", "Mali : le marché de Mopti rouvre")
    done = plan(form, sent)
    assert [w.rel for w in done.writes] == ["news/01-exemple.md"]
    after = done.writes[0].text
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert changed == [('title: "Mali : titre de la nouvelle"', 'title: "Mali : le marché de Mopti rouvre"')]
    assert len(before.splitlines()) == len(after.splitlines())
    assert "# Le titre (obligatoire)." in after


def test_values_are_quoted_only_where_yaml_needs_it():
    assert scalar("Bamako") == "Bamako"
    assert scalar("l'IMRAP à Ségou") == "l'IMRAP à Ségou"
    assert scalar("Non") == "Non"  # text for the issue reader, and a string for standard YAML too
    for value in ("Mali: lancement", "Mali : lancement", "#paix", "yes", "12:30", "2026-12-01", "[x]", "- x",
                  "x #y", "@imrap", "'guillemets'", '"H2I" est lancé', " espace"):
        written = scalar(value)
        assert written[0] in "'\"" and yaml.safe_load(f"k: {written}") == {"k": value}, value
    assert scalar('"H2I" est lancé') == "'\"H2I\" est lancé'"
    assert scalar('le projet "H2I"') == 'le projet "H2I"' and scalar("a\\b") == "a\\b"
    assert mapping_key("Durée du projet") == "Durée du projet"
    assert mapping_key("Zone : nord") == '"Zone : nord"'


def test_what_is_written_reads_back_as_typed_through_the_loader(tmp_path):
    folder = write_issue(tmp_path, {"issue.toml": 'subject = "S"\npreheader = "P"\ndate = 2026-12-31\n',
                                    "news/01-a.md": "---\ntitle: A\n---\nTexte.\n"})
    form = _form(folder)
    sent = as_submitted(form)
    values = {"title": "Mali : « la paix » d'abord", "place": "Non", "link": "https://www.imrap-mali.org/a?b=c#d",
              "link_label": "Lire : la suite", "image_alt": "#1"}
    for key, value in values.items():
        _set(form, sent, "news/01-a.md", key, value)
    sent[field_name("news/01-a.md", "facts.label")] = ["Durée", "Zone : nord", ""]
    sent[field_name("news/01-a.md", "facts.value")] = ["12 mois", "Tombouctou: Gao", ""]
    done = plan(form, sent)
    (folder / "news/01-a.md").write_text(done.writes[0].text, encoding="utf-8")
    block = read_issue(folder, Config()).issue.edition("fr").news[0]
    assert (block.title, block.place, block.link, block.link_label) == (
        values["title"], "Non", values["link"], values["link_label"])
    assert block.facts == {"Durée": "12 mois", "Zone : nord": "Tombouctou: Gao"}
    assert done.writes[0].text.splitlines()[:6] == ["---", 'title: "Mali : « la paix » d\'abord"', "place: Non",
                                                   'image_alt: "#1"', "link: https://www.imrap-mali.org/a?b=c#d",
                                                   'link_label: "Lire : la suite"']


def test_a_new_key_goes_where_its_kind_puts_it():
    text = "---\ntitle: Titre\nlink: https://x.org\n---\nCorps\n"
    assert update_markdown(text, "news", {"place": "Gao"}) == "---\ntitle: Titre\nplace: Gao\nlink: https://x.org\n---\nCorps\n"
    assert update_markdown(text, "news", {"link": None}) == "---\ntitle: Titre\n---\nCorps\n"
    assert update_markdown("Corps seul\n", "news", {"title": "T"}) == "---\ntitle: T\n---\nCorps seul\n"


def test_the_body_is_kept_byte_for_byte_unless_it_changed(tmp_path):
    text = "---\r\ntitle: T\r\n---\r\n\r\nPremier  paragraphe.\r\n\r\n\r\n- un\r\n"
    folder = write_issue(tmp_path, {"issue.toml": 'subject = "S"\npreheader = "P"\ndate = 2026-12-31\n',
                                    "news/01-a.md": text.encode("utf-8")})
    form = _form(folder)
    sent = as_submitted(form)
    assert plan(form, sent).writes == []
    _set(form, sent, "news/01-a.md", "title", "Nouveau")
    done = plan(form, sent)
    assert done.writes[0].text == text.replace("title: T", "title: Nouveau")  # the CRLF file stays CRLF
    sent = as_submitted(form)
    _set(form, sent, "news/01-a.md", "body", "Autre texte.\r\n")
    assert plan(form, sent).writes[0].text == "---\r\ntitle: T\r\n---\r\n\r\nAutre texte.\r\n"


def test_a_facts_row_edited_keeps_the_others_as_written():
    text = ("---\ntitle: T\nfacts:\n    # la durée\n    Durée:   9 mois\n    Lieux:\n      - Kayes\n      - Kita\n"
            "    Financé par: USAID\n---\n")
    out = update_markdown(text, "news", {"facts": [("Durée", "9 mois"), ("Lieux", "Kayes, Kita"),
                                                   ("Financé par", "Humanity United")]})
    assert out == ("---\ntitle: T\nfacts:\n    # la durée\n    Durée:   9 mois\n    Lieux:\n      - Kayes\n"
                   "      - Kita\n    Financé par: Humanity United\n---\n")
    assert update_markdown(text, "news", {"facts": []}) == "---\ntitle: T\n---\n"


def test_issue_toml_keeps_its_comments_and_gains_an_english_table(tmp_path):
    folder = write_issue(tmp_path, {"issue.toml": '# Le numéro d\'août.\nsubject = "S"  # l\'objet\n'
                                                  'preheader = "P"\ndate = 2022-08-31\n'})
    form = _form(folder)
    sent = as_submitted(form)
    _set(form, sent, "issue.toml", "date", "2022-08-30")
    _set(form, sent, "issue.toml", "en.subject", "IMRAP Newsletter")
    _set(form, sent, "issue.toml", "en.preheader", "News")
    text = plan(form, sent).writes[0].text
    assert text == ('# Le numéro d\'août.\nsubject = "S"  # l\'objet\npreheader = "P"\ndate = 2022-08-30\n\n'
                    '[en]\nsubject = "IMRAP Newsletter"\npreheader = "News"\n')


def test_a_file_changed_on_disk_since_the_page_opened_is_not_overwritten(tmp_path):
    folder = write_issue(tmp_path, {"issue.toml": 'subject = "S"\npreheader = "P"\ndate = 2026-12-31\n',
                                    "news/01-a.md": "---\ntitle: A\nplace: Kayes\n---\nTexte.\n",
                                    "news/02-b.md": "---\ntitle: B\n---\nTexte.\n"})
    opened = _form(folder)
    seen = {ff.version: ff.data for ff in opened.files() if ff.data is not None}
    sent = as_submitted(opened)
    _set(opened, sent, "news/01-a.md", "title", "A, corrigé dans le navigateur")
    _set(opened, sent, "news/02-b.md", "title", "B, corrigé dans le navigateur")
    (folder / "news/01-a.md").write_text("---\ntitle: A\nplace: Kita\n---\nTexte.\n", encoding="utf-8")
    done = plan(_form(folder), sent, seen.get)
    assert [w.rel for w in done.writes] == ["news/02-b.md"]
    (conflict,) = done.conflicts
    assert conflict.rel == "news/01-a.md"
    assert conflict.theirs == "---\ntitle: A\nplace: Kita\n---\nTexte.\n"
    assert conflict.mine == "---\ntitle: A, corrigé dans le navigateur\nplace: Kayes\n---\nTexte.\n"
    assert conflict.version == version_of((folder / "news/01-a.md").read_bytes())


def test_a_file_changed_on_disk_that_the_form_did_not_touch_is_left_to_the_disk(tmp_path):
    folder = write_issue(tmp_path, {"issue.toml": 'subject = "S"\npreheader = "P"\ndate = 2026-12-31\n',
                                    "news/01-a.md": "---\ntitle: A\n---\nTexte.\n"})
    opened = _form(folder)
    seen = {ff.version: ff.data for ff in opened.files() if ff.data is not None}
    sent = as_submitted(opened)
    _set(opened, sent, "issue.toml", "subject", "Objet corrigé")
    (folder / "news/01-a.md").write_text("---\ntitle: A modifié dans un éditeur\n---\nTexte.\n", encoding="utf-8")
    done = plan(_form(folder), sent, seen.get)
    assert [w.rel for w in done.writes] == ["issue.toml"] and done.conflicts == []
    # Without the version the page was opened with (the server restarted), any difference is a conflict.
    done = plan(_form(folder), sent, lambda version: None)
    assert [c.rel for c in done.conflicts] == ["news/01-a.md"]


def test_a_file_created_on_disk_meanwhile_is_a_conflict(tmp_path):
    folder = write_issue(tmp_path, {"issue.toml": 'subject = "S"\npreheader = "P"\ndate = 2026-12-31\n'})
    opened = _form(folder)
    sent = as_submitted(opened)
    _set(opened, sent, "highlights.md", "title", "Ce mois-ci")
    (folder / "highlights.md").write_text("---\ntitle: Déjà là\n---\n- un\n", encoding="utf-8")
    done = plan(_form(folder), sent)
    assert done.writes == [] and [c.rel for c in done.conflicts] == ["highlights.md"]


def test_a_field_not_sent_is_left_alone_and_a_form_without_versions_writes_nothing(tmp_path):
    folder = write_issue(tmp_path, {"issue.toml": 'subject = "S"\npreheader = "P"\ndate = 2026-12-31\n',
                                    "news/01-a.md": "---\ntitle: A\nplace: Kayes\n---\nTexte.\n"})
    form = _form(folder)
    done = plan(form, {version_field("news/01-a.md"): [form.file("news/01-a.md").version],
                       field_name("news/01-a.md", "title"): ["A2"]})
    assert done.writes[0].text == "---\ntitle: A2\nplace: Kayes\n---\nTexte.\n"
    assert plan(form, {field_name("news/01-a.md", "title"): ["A2"]}).writes == []


def test_the_translation_follows_a_new_image_of_its_original(tmp_path):
    import shutil

    folder = Path(shutil.copytree(REPO / "issues/2023-07", tmp_path / "2023-07"))
    form = _form(folder)
    done = plan(form, as_submitted(form), overrides={"news/02-mopti.md": {"image": "images/nouvelle.jpg"}})
    texts = {w.rel: w.text for w in done.writes}
    assert set(texts) == {"news/02-mopti.md", "news/02-mopti.en.md"}
    assert "image: images/nouvelle.jpg\n" in texts["news/02-mopti.en.md"]
    assert texts["news/02-mopti.en.md"].count("\n") == (folder / "news/02-mopti.en.md").read_text().count("\n")


def test_a_file_the_form_cannot_show_key_by_key_is_edited_as_text(tmp_path):
    broken = "---\ntitle: Mali: lancement\n---\nTexte.\n"
    folder = write_issue(tmp_path, {"issue.toml": 'subject = "S"\npreheader = "P"\ndate = 2026-12-31\n',
                                    "news/01-a.md": broken})
    form = _form(folder)
    ff = form.file("news/01-a.md")
    assert ff.raw and ff.keys == ("source",)
    sent = as_submitted(form)
    assert plan(form, sent).writes == []
    _set(form, sent, "news/01-a.md", "source", broken.replace("Mali: lancement", '"Mali: lancement"'))
    assert plan(form, sent).writes[0].text == '---\ntitle: "Mali: lancement"\n---\nTexte.\n'


def test_blocks_renumber_with_their_translations(tmp_path):
    import shutil

    folder = Path(shutil.copytree(REPO / "issues/2023-07", tmp_path / "2023-07"))
    (folder / "news/03-gao.md").write_text("---\ntitle: Gao\n---\nx\n", encoding="utf-8")
    form = _form(folder)
    order = moved([b.stem for b in form.news], "03-gao", -2)
    assert order == ["03-gao", "01-bamako", "02-mopti"]
    assert renames(form, order) == [
        ("news/03-gao.md", "news/01-gao.md"),
        ("news/01-bamako.md", "news/02-bamako.md"), ("news/01-bamako.en.md", "news/02-bamako.en.md"),
        ("news/02-mopti.md", "news/03-mopti.md"), ("news/02-mopti.en.md", "news/03-mopti.en.md")]
    assert moved(order, "02-mopti", 5) == order
