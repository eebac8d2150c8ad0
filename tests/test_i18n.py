"""The message catalogue: French and English complete, every key the code uses present, a third language by
adding a .po file, and the fallback to the organisation's language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from bulletin import i18n
from bulletin.render.labels import labels_for

PACKAGE = Path(i18n.__file__).parent
REPO = PACKAGE.parent
#: t("key"), t.plural("key", ...), Message("key") and labels.NAME in code and templates
USES = re.compile(r"""(?:\bt(?:\.plural)?|\bMessage|\bmsg)\(\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']""")
LABEL_USES = re.compile(r"\blabels\.([a-z_]+)")


def _sources():
    for folder in (PACKAGE, REPO / "templates"):
        for path in folder.rglob("*"):
            if path.suffix in (".py", ".html", ".j2", ".txt") and path.is_file():
                yield path


def test_french_and_english_have_the_same_keys_all_translated():
    entries = {lang: list(i18n.po_entries(lang)) for lang in ("fr", "en")}
    for lang, rows in entries.items():
        assert rows, lang
        assert [k for k, v, fuzzy in rows if not v or fuzzy] == [], f"untranslated or fuzzy entries in {lang}"
    assert {k for k, _, _ in entries["fr"]} == {k for k, _, _ in entries["en"]}


def test_every_key_the_code_uses_is_in_the_catalogue():
    known = i18n.keys("en")
    used: dict[str, Path] = {}
    for path in _sources():
        text = path.read_text(encoding="utf-8", errors="replace")
        for key in USES.findall(text):
            used.setdefault(key, path)
        for name in LABEL_USES.findall(text):
            used.setdefault(f"email.{name}", path)
    plural_bases = {k.rsplit(".", 1)[0] for k in known if k.endswith((".one", ".other"))}
    missing = {k: str(p) for k, p in used.items() if k not in known and k not in plural_bases}
    assert used and missing == {}


def test_the_placeholders_agree_between_languages():
    fields = re.compile(r"\{(\w+)\}")
    en = dict((k, v) for k, v, _ in i18n.po_entries("en"))
    for key, value, _ in i18n.po_entries("fr"):
        assert set(fields.findall(value)) == set(fields.findall(en[key])), key


@pytest.fixture
def third_language(tmp_path, monkeypatch):
    """A Spanish catalogue that translates two labels only, in a locale folder of its own."""
    cat = Catalog(locale="es", domain="bulletin")
    cat.add("email.read_more", "Leer más")
    cat.add("email.unsubscribe", "Darse de baja")
    po = tmp_path / "es" / "LC_MESSAGES" / "bulletin.po"
    po.parent.mkdir(parents=True)
    with po.open("wb") as f:
        write_po(f, cat)
    monkeypatch.setattr(i18n, "LOCALE_DIRS", [*i18n.LOCALE_DIRS, tmp_path])
    i18n.reload()
    yield "es"
    i18n.reload()


def test_a_third_language_is_a_po_file_and_falls_back_to_the_organisations(third_language):
    assert "es" in i18n.available()
    labels = labels_for("es", fallback="fr")
    assert labels["read_more"] == "Leer más"
    assert labels["unsubscribe"] == "Darse de baja"
    assert labels["news"] == "ACTUALITÉS"  # not translated: the organisation's language, French
    assert labels_for("es", fallback="en")["news"] == "NEWS"
    assert set(labels) == set(labels_for("fr"))


def test_a_missing_key_is_an_error_not_a_key_shown_to_someone():
    with pytest.raises(KeyError):
        i18n.catalogue("fr")("no.such.key")


def test_lazy_messages_render_in_the_readers_language():
    m = i18n.Message("unsubscribe.done", email="a@example.org", list="News")
    assert m.render("fr") == "a@example.org ne recevra plus «\u00a0News\u00a0»."
    assert m.render("en") == "a@example.org will no longer receive “News”."


@pytest.mark.parametrize("environ, expected", [
    ({}, "en"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "fr_FR.UTF-8"}, "fr"),
    ({"LANG": "en_GB.UTF-8", "LC_MESSAGES": "fr_ML.UTF-8"}, "fr"),
    ({"LANGUAGE": "de:en", "LANG": "de_DE.UTF-8"}, "en"),
    ({"LANG": "de_DE.UTF-8"}, "fr"),  # no German catalogue: the organisation's language
])
def test_the_cli_speaks_the_terminals_language(environ, expected):
    assert i18n.terminal_language("fr", environ) == expected


def test_language_names_come_from_babel():
    assert i18n.language_name("fr") == "Français"
    assert i18n.language_name("en") == "English"
