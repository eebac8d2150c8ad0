"""The message catalogue: every word a person reads (email labels, web pages, CLI messages) in each language.

One gettext catalogue per language, `bulletin/locale/LANG/LC_MESSAGES/bulletin.po`, compiled with Babel the
first time a process needs it. Message ids are keys (`unsubscribe.title`), values are `str.format` strings
(`{email}`). A key a language lacks falls back to the organisation's language, then to English, so a partial
catalogue never shows a key to anyone. Adding a language is adding a `.po` file: translators never touch Python.
"""

from __future__ import annotations

import gettext
import io
import os
import threading
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

#: Folders holding LANG/LC_MESSAGES/bulletin.po; the package's own first (tests add one for a third language).
LOCALE_DIRS: list[Path] = [Path(__file__).parent / "locale"]
DOMAIN = "bulletin"
#: The language whose catalogue is complete by construction (a test checks French is too).
SOURCE_LANGUAGE = "en"

_lock = threading.Lock()
#: The language of messages printed without a reader's language (CLI output, logs): see `set_default_language`.
_default_language = SOURCE_LANGUAGE
_default_fallback = SOURCE_LANGUAGE


def available() -> tuple[str, ...]:
    """The languages that have a catalogue, sorted."""
    found = set()
    for folder in LOCALE_DIRS:
        if folder.is_dir():
            found.update(p.parent.parent.name for p in folder.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return tuple(sorted(found))


@lru_cache(maxsize=32)
def _translations(language: str) -> gettext.GNUTranslations | None:
    for folder in LOCALE_DIRS:
        po = folder / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        if po.is_file():
            with po.open("rb") as f:
                catalog = read_po(f, locale=language, domain=DOMAIN)
            mo = io.BytesIO()
            write_mo(mo, catalog)  # fuzzy and untranslated entries are left out, so they fall back
            mo.seek(0)
            return gettext.GNUTranslations(mo)
    return None


def reload() -> None:
    """Forget compiled catalogues (after LOCALE_DIRS or a .po file changed)."""
    _translations.cache_clear()


def lookup(language: str, key: str) -> str | None:
    """The raw translation of `key` in exactly `language`, or None where that catalogue lacks it."""
    t = _translations(language)
    if t is None:
        return None
    value = t.gettext(key)
    return None if value == key else value


class Catalogue:
    """The messages of one language, with its fallbacks: `t("key", name=...)` in templates and code."""

    def __init__(self, language: str, fallback: str | None = None):
        self.language = language
        chain = [language, fallback or _default_fallback, SOURCE_LANGUAGE]
        self._chain = tuple(dict.fromkeys(lang for lang in chain if lang))

    def raw(self, key: str) -> str:
        for lang in self._chain:
            value = lookup(lang, key)
            if value is not None:
                return value
        raise KeyError(f"no message {key!r} in the catalogue")

    def __call__(self, key: str, /, **values: object) -> str:
        text = self.raw(key)
        return text.format(**values) if values else text

    def plural(self, key: str, n: int, /, **values: object) -> str:
        """`key.one` or `key.other` by the count (CLDR plural rules of the language via Babel)."""
        from babel import Locale, UnknownLocaleError

        try:
            form = Locale.parse(self.language).plural_form(n)
        except (ValueError, UnknownLocaleError):
            form = "one" if n == 1 else "other"
        name = f"{key}.{form}" if form in ("one", "other") else f"{key}.other"
        return self(name, n=n, **values)

    def has(self, key: str) -> bool:
        try:
            self.raw(key)
        except KeyError:
            return False
        return True

    def mapping(self, prefix: str) -> dict[str, str]:
        """Every `prefix.NAME` message as {NAME: text}: the email template's labels, for example."""
        keys: set[str] = set()
        for lang in self._chain:
            t = _translations(lang)
            if t is not None:
                keys.update(k for k in t._catalog if isinstance(k, str) and k.startswith(prefix + "."))
        return {k[len(prefix) + 1:]: self(k) for k in sorted(keys)}


def catalogue(language: str, fallback: str | None = None) -> Catalogue:
    return Catalogue(language, fallback)


class Message:
    """A message to translate later, when the reader's language is known: errors and problems raised deep in
    the code are shown on the command line in one language and on a web page in another."""

    __slots__ = ("key", "values")

    def __init__(self, key: str, /, **values: object):
        self.key = key
        self.values = values

    def render(self, language: str | None = None, fallback: str | None = None) -> str:
        t = Catalogue(language or _default_language, fallback)
        values = {k: (v.render(t.language, fallback) if isinstance(v, Message) else v) for k, v in self.values.items()}
        return t(self.key, **values)

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Message({self.key!r}, {self.values!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and (self.key, self.values) == (other.key, other.values)

    def __hash__(self) -> int:
        return hash((self.key, tuple(sorted((k, str(v)) for k, v in self.values.items()))))


def set_default_language(language: str, fallback: str | None = None) -> None:
    """The language of messages printed without a reader (the CLI's output), and the fallback of every lookup."""
    global _default_language, _default_fallback
    with _lock:
        _default_language = language
        _default_fallback = fallback or language


def default_language() -> str:
    return _default_language


def default_catalogue() -> Catalogue:
    """The catalogue of messages printed without a reader's language: the CLI's (see `set_default_language`)."""
    return Catalogue(_default_language, _default_fallback)


def terminal_language(organisation_language: str, environ: Mapping[str, str] | None = None) -> str:
    """The CLI's language as gettext programs choose it: LANGUAGE, LC_ALL, LC_MESSAGES, then LANG. The C and
    POSIX locales (and none set) speak English, the source language; a language with no catalogue gets the
    organisation's."""
    env = os.environ if environ is None else environ
    known = available()
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var, "")
        if not value:
            continue
        for item in value.split(":"):
            code = item.split(".")[0].split("@")[0]
            if code in ("C", "POSIX", ""):
                return SOURCE_LANGUAGE
            lang = code.split("_")[0].lower()
            if lang in known:
                return lang
        return organisation_language
    return SOURCE_LANGUAGE


@lru_cache(maxsize=64)
def language_name(code: str) -> str:
    """A language's name in itself, as a language menu shows it: 'Français', 'English'."""
    from babel import Locale, UnknownLocaleError

    try:
        name = Locale.parse(code).get_display_name(code) or code
    except (ValueError, UnknownLocaleError):
        return code
    return name[:1].upper() + name[1:]


def language_in(code: str, reader: str) -> str:
    """A language's name as a sentence in the reader's language writes it: 'anglais' for French, 'English'."""
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(code).get_display_name(reader) or code
    except (ValueError, UnknownLocaleError):
        return code


def keys(language: str) -> set[str]:
    """Every key translated in exactly `language` (tests compare catalogues with this)."""
    t = _translations(language)
    return {k for k in t._catalog if isinstance(k, str) and k} if t is not None else set()


def po_entries(language: str) -> Iterable[tuple[str, str, bool]]:
    """(key, translation, fuzzy) of every entry in the language's .po file, for the completeness tests."""
    for folder in LOCALE_DIRS:
        po = folder / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        if po.is_file():
            with po.open("rb") as f:
                catalog = read_po(f, locale=language, domain=DOMAIN)
            for m in catalog:
                if m.id:
                    yield str(m.id), str(m.string or ""), m.fuzzy
            return
