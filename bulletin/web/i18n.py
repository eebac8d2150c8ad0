"""The language of a web request, and the catalogue of the pages (the strings live in bulletin/locale)."""

from __future__ import annotations

import re

from babel.core import Locale, UnknownLocaleError, negotiate_locale
from babel.dates import format_date

from bulletin import i18n


_RANGE = re.compile(r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$")


def accepted(header: str | None) -> list[str]:
    """The languages of an Accept-Language header, most wanted first (RFC 9110 quality values)."""
    ranges: list[tuple[float, int, str]] = []
    for i, item in enumerate((header or "").split(",")):
        m = _RANGE.match(item)
        if not m or m.group(1) == "*":
            continue
        try:
            q = float(m.group(2)) if m.group(2) else 1.0
        except ValueError:
            continue
        if q > 0:
            ranges.append((-q, i, m.group(1).replace("-", "_")))
    return [tag for _, _, tag in sorted(ranges)]


def choose(available: list[str], default: str, *, wanted: str | None = None, header: str | None = None) -> str:
    """`wanted` if available, else the best match for Accept-Language, else `default`."""
    offered = [lang for lang in available if lang in i18n.available()] or [default]
    if wanted in offered:
        return wanted  # type: ignore[return-value]
    prefs = accepted(header)
    found = negotiate_locale(prefs, offered, sep="_") or negotiate_locale(
        [p.split("_")[0] for p in prefs], offered, sep="_"
    )
    if found:
        return found
    return default if default in offered else offered[0]


class Strings(i18n.Catalogue):
    """The catalogue of one language, as templates use it: `t("key", list=...)`; dates in that language."""

    def date(self, value) -> str:
        try:
            locale = Locale.parse(self.language)
        except (UnknownLocaleError, ValueError):
            locale = Locale.parse(i18n.SOURCE_LANGUAGE)
        return format_date(value, format="long", locale=locale)
