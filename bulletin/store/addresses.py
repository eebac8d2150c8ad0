"""What makes an address and a language acceptable, shared by the CSV import and `subscribers add`."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from email.utils import parseaddr
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT, EMAIL_MAX_LENGTH

from bulletin.errors import InvalidAddress
from bulletin.i18n import Message

__all__ = ["InvalidAddress", "normalise_email", "normalise_language", "plain", "search_key"]

_MAILBOX_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


def plain(text: str) -> str:
    """Lower-case, accents and punctuation folded: how people's spellings of a header or language compare."""
    decomposed = unicodedata.normalize("NFKD", text)
    out = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    for sep in "-_.:*'’/":
        out = out.replace(sep, " ")
    return " ".join(out.split())


def search_key(text: str) -> str:
    """How a name or address is searched: lower-case, accents folded, spaces collapsed, punctuation kept
    ("Traoré" is found by "traore", "N'Diaye" by "n'diaye" and "diaye")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


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
        raise InvalidAddress(Message("address.missing"))
    if "\n" in value or "\r" in value:
        raise InvalidAddress(Message("address.multiline"))
    fast = _plain_ascii(value)
    if fast is not None:
        return fast
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise InvalidAddress(Message("address.invalid", reason=str(e))) from None


@lru_cache(maxsize=4096)
def _domain(domain: str) -> tuple[str, str] | None:
    """email-validator's verdict on a domain: (normalised, ASCII) or None. A list shares a few domains, and the
    domain check is most of the cost of validating an address (100,000 rows must import in seconds)."""
    try:
        checked = validate_email("a@" + domain, check_deliverability=False)
    except EmailNotValidError:
        return None
    return checked.domain, checked.ascii_domain


def _plain_ascii(value: str) -> str | None:
    """The normalised form of the common address (ASCII dot-atom before the @), using the same rule and limits
    as email-validator, with the domain decided by it once; None sends anything else through email-validator.
    tests/test_store_addresses.py checks both paths agree."""
    local, at, domain = value.rpartition("@")
    if not (at and value.isascii() and DOT_ATOM_TEXT.match(local)) or local.lower() in _MAILBOX_NAMES:
        return None
    checked = _domain(domain)
    if checked is None:
        return None
    normalised = f"{local}@{checked[0]}"
    if max(len(value), len(normalised), len(local) + 1 + len(checked[1])) > EMAIL_MAX_LENGTH:
        return None
    return normalised


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
    return _language(raw, tuple(languages))


@lru_cache(maxsize=1024)
def _language(raw: str, languages: tuple[str, ...]) -> str | None:
    # Cached: a list of 100,000 rows spells its languages a handful of ways.
    key = plain(raw)
    if not key:
        return None
    names = _language_names(languages)
    if key in names:
        return names[key]
    region_less = key.replace(" ", "_").split("_")[0]
    return names.get(region_less)
