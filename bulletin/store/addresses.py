"""What makes an address and a language acceptable, shared by the CSV import and `subscribers add`."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from email.utils import parseaddr
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email

from bulletin.errors import BulletinError


class InvalidAddress(BulletinError, ValueError):
    """An email address that is not one (syntax only: no DNS lookups, imports must work offline)."""


def plain(text: str) -> str:
    """Lower-case, accents and punctuation folded: how people's spellings of a header or language compare."""
    decomposed = unicodedata.normalize("NFKD", text)
    out = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    for sep in "-_.:*'’/":
        out = out.replace(sep, " ")
    return " ".join(out.split())


def normalise_email(raw: str) -> str:
    """The address as it will be stored; raises InvalidAddress saying what is wrong with it.

    Accepts what spreadsheets hold besides the bare address: spaces around it, `mailto:`, `Name <address>`.
    """
    value = raw.strip().strip('"').strip()
    if value.lower().startswith("mailto:"):
        value = value[7:].strip()
    if "<" in value and value.endswith(">"):
        value = parseaddr(value)[1] or value
    if not value:
        raise InvalidAddress("no email address")
    if "\n" in value or "\r" in value:
        raise InvalidAddress("the address runs over several lines (a quote is not closed?)")
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise InvalidAddress(f"not a valid email address: {e}") from None


@lru_cache(maxsize=32)
def _language_names(languages: tuple[str, ...]) -> dict[str, str]:
    """Every spelling that names one of `languages`: its code, and its name in each of them ('anglais', 'French')."""
    names: dict[str, str] = {}
    for code in languages:
        names[plain(code)] = code
        try:
            locale = Locale.parse(code)
        except (ValueError, UnknownLocaleError):
            continue
        for display in {*languages, "en", code}:
            try:
                name = locale.get_display_name(display)
            except (ValueError, UnknownLocaleError):
                continue
            if name:
                names[plain(name)] = code
    return names


def normalise_language(raw: str, languages: Sequence[str]) -> str | None:
    """The configured language code that `raw` names ('FR', 'fr-FR', 'Français', 'English'), or None."""
    key = plain(raw)
    if not key:
        return None
    names = _language_names(tuple(languages))
    if key in names:
        return names[key]
    region_less = key.replace(" ", "_").split("_")[0]
    return names.get(region_less)
