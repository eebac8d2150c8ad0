"""The words the template prints around the author's text, per edition language, and dates via Babel."""

from __future__ import annotations

from datetime import date

from babel.dates import format_date

LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "news": "ACTUALITÉS",
        "read_more": "Lire la suite",
        "unsubscribe": "Se désinscrire",
        "view_in_browser": "Voir dans le navigateur",
        "newsletter": "Bulletin d'information",
        "director": "Mot du Directeur exécutif",
        "highlights": "Ce mois-ci",
        "follow_us": "Suivez-nous",
        "phone": "Tél.",
        "website": "Site web",
        "why": "Vous recevez ce bulletin parce que vous y êtes abonné(e).",
        "back_to_top": "Retour au sommaire",
    },
    "en": {
        "news": "NEWS",
        "read_more": "Read more",
        "unsubscribe": "Unsubscribe",
        "view_in_browser": "View in your browser",
        "newsletter": "Newsletter",
        "director": "A word from the Executive Director",
        "highlights": "This month",
        "follow_us": "Follow us",
        "phone": "Tel.",
        "website": "Website",
        "why": "You receive this newsletter because you subscribed to it.",
        "back_to_top": "Back to contents",
    },
}


def labels_for(language: str) -> dict[str, str]:
    """Labels in `language`; a language without its own labels gets the English ones."""
    return LABELS.get(language, LABELS["en"])


def issue_month(day: date, language: str) -> str:
    """'juillet 2023' / 'July 2023': the stand-alone month name in the edition's language."""
    return format_date(day, "LLLL y", locale=language)
