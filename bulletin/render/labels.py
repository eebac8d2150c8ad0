"""The words the template prints around the author's text, per edition language (from the message catalogue),
and dates via Babel."""

from __future__ import annotations

from datetime import date

from babel.dates import format_date

from bulletin import i18n


def labels_for(language: str, fallback: str | None = None) -> dict[str, str]:
    """The `email.*` messages in `language`; what that language lacks comes from `fallback` (the organisation's
    language), then English."""
    return i18n.catalogue(language, fallback).mapping("email")


def issue_month(day: date, language: str) -> str:
    """'juillet 2023' / 'July 2023': the stand-alone month name in the edition's language."""
    return format_date(day, "LLLL y", locale=language)
