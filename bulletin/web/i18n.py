"""The strings of the web pages in French and English, and the choice of language for a request."""

from __future__ import annotations

import re

from babel.core import Locale, UnknownLocaleError, negotiate_locale
from babel.dates import format_date

CATALOGUE: dict[str, dict[str, str]] = {
    "fr": {
        "unsubscribe.title": "Se désinscrire",
        "unsubscribe.question": "Voulez-vous vous désinscrire de «\u00a0{list}\u00a0»\u00a0?",
        "unsubscribe.address": "Adresse\u00a0: {email}",
        "unsubscribe.button": "Me désinscrire",
        "unsubscribe.done.title": "Vous êtes désinscrit",
        "unsubscribe.done": "{email} ne recevra plus «\u00a0{list}\u00a0».",
        "unsubscribe.undo": "C'était une erreur\u00a0? Vous pouvez vous réinscrire.",
        "unsubscribe.undo.button": "Me réinscrire",
        "unsubscribe.not_subscribed": "{email} ne reçoit pas «\u00a0{list}\u00a0» actuellement.",
        "resubscribe.done.title": "Vous êtes de nouveau inscrit",
        "resubscribe.done": "{email} recevra de nouveau «\u00a0{list}\u00a0».",
        "subscribe.title": "S'abonner",
        "subscribe.intro": "Recevez chaque mois les nouvelles de {org} par courriel.",
        "subscribe.email": "Adresse électronique",
        "subscribe.name": "Nom (facultatif)",
        "subscribe.language": "Langue",
        "subscribe.list": "Bulletin",
        "subscribe.button": "M'abonner",
        "subscribe.closed": "Aucun bulletin n'est ouvert aux abonnements pour le moment.",
        "subscribe.bad_email": "Cette adresse électronique n'est pas valide.",
        "subscribe.bad_list": "Choisissez un bulletin de la liste.",
        "subscribe.sent.title": "Vérifiez votre boîte de réception",
        "subscribe.sent": "Si l'adresse {email} peut être abonnée, un message vient de lui être envoyé. "
        "Cliquez sur le lien qu'il contient pour confirmer votre abonnement.",
        "subscribe.mail.subject": "Confirmez votre abonnement à «\u00a0{list}\u00a0»",
        "subscribe.mail.body": "Bonjour,\n\nQuelqu'un (vous, espérons-le) a demandé l'abonnement de cette adresse à "
        "«\u00a0{list}\u00a0» de {org}.\n\nPour confirmer, ouvrez ce lien\u00a0:\n{url}\n\nSi vous n'avez rien demandé, "
        "ignorez ce message\u00a0: vous ne serez pas abonné.\n\n{org}\n",
        "confirm.title": "Confirmer l'abonnement",
        "confirm.question": "Confirmez-vous l'abonnement de {email} à «\u00a0{list}\u00a0»\u00a0?",
        "confirm.button": "Confirmer mon abonnement",
        "confirm.done.title": "Abonnement confirmé",
        "confirm.done": "Merci\u00a0! {email} recevra «\u00a0{list}\u00a0».",
        "error.title": "Lien non valide",
        "error.token": "Ce lien n'est pas valide ou a expiré. Vérifiez que vous l'avez copié en entier.",
        "error.not_found.title": "Page introuvable",
        "error.not_found": "Cette page n'existe pas.",
        "error.rate.title": "Trop de demandes",
        "error.rate": "Trop de demandes depuis votre connexion. Réessayez dans une heure.",
        "error.mail.title": "Envoi impossible",
        "error.mail": "Le message de confirmation n'a pas pu être envoyé. Réessayez plus tard.",
        "archive.title": "Archives",
        "archive.intro": "Les bulletins déjà envoyés.",
        "archive.empty": "Aucun bulletin n'a encore été envoyé.",
        "archive.back": "Toutes les archives",
        "footer.subscribe": "S'abonner",
        "footer.archive": "Archives",
    },
    "en": {
        "unsubscribe.title": "Unsubscribe",
        "unsubscribe.question": "Do you want to unsubscribe from “{list}”?",
        "unsubscribe.address": "Address: {email}",
        "unsubscribe.button": "Unsubscribe me",
        "unsubscribe.done.title": "You are unsubscribed",
        "unsubscribe.done": "{email} will no longer receive “{list}”.",
        "unsubscribe.undo": "Was that a mistake? You can subscribe again.",
        "unsubscribe.undo.button": "Subscribe me again",
        "unsubscribe.not_subscribed": "{email} does not currently receive “{list}”.",
        "resubscribe.done.title": "You are subscribed again",
        "resubscribe.done": "{email} will receive “{list}” again.",
        "subscribe.title": "Subscribe",
        "subscribe.intro": "Get the news of {org} by email every month.",
        "subscribe.email": "Email address",
        "subscribe.name": "Name (optional)",
        "subscribe.language": "Language",
        "subscribe.list": "Newsletter",
        "subscribe.button": "Subscribe",
        "subscribe.closed": "No newsletter is open for subscription at the moment.",
        "subscribe.bad_email": "This email address is not valid.",
        "subscribe.bad_list": "Choose a newsletter from the list.",
        "subscribe.sent.title": "Check your inbox",
        "subscribe.sent": "If {email} can be subscribed, a message has just been sent to it. "
        "Click the link in it to confirm your subscription.",
        "subscribe.mail.subject": "Confirm your subscription to “{list}”",
        "subscribe.mail.body": "Hello,\n\nSomeone (hopefully you) asked to subscribe this address to “{list}” from "
        "{org}.\n\nTo confirm, open this link:\n{url}\n\nIf you did not ask for it, ignore this message: you will "
        "not be subscribed.\n\n{org}\n",
        "confirm.title": "Confirm your subscription",
        "confirm.question": "Do you confirm the subscription of {email} to “{list}”?",
        "confirm.button": "Confirm my subscription",
        "confirm.done.title": "Subscription confirmed",
        "confirm.done": "Thank you! {email} will receive “{list}”.",
        "error.title": "Invalid link",
        "error.token": "This link is not valid or has expired. Check that you copied all of it.",
        "error.not_found.title": "Page not found",
        "error.not_found": "This page does not exist.",
        "error.rate.title": "Too many requests",
        "error.rate": "Too many requests from your connection. Try again in an hour.",
        "error.mail.title": "Could not send",
        "error.mail": "The confirmation message could not be sent. Try again later.",
        "archive.title": "Archive",
        "archive.intro": "The newsletters sent so far.",
        "archive.empty": "No newsletter has been sent yet.",
        "archive.back": "The whole archive",
        "footer.subscribe": "Subscribe",
        "footer.archive": "Archive",
    },
}

LANGUAGE_NAMES = {"fr": "Français", "en": "English"}

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
    offered = [lang for lang in available if lang in CATALOGUE] or ["fr"]
    if wanted in offered:
        return wanted  # type: ignore[return-value]
    prefs = accepted(header)
    found = negotiate_locale(prefs, offered, sep="_") or negotiate_locale(
        [p.split("_")[0] for p in prefs], offered, sep="_"
    )
    if found:
        return found
    return default if default in offered else offered[0]


class Strings:
    """The catalogue of one language, as templates use it: `t("key", list=...)`."""

    def __init__(self, language: str):
        self.language = language if language in CATALOGUE else "fr"
        self._table = CATALOGUE[self.language]

    def __call__(self, key: str, **values: object) -> str:
        return self._table[key].format(**values)

    def date(self, value) -> str:
        try:
            locale = Locale.parse(self.language)
        except (UnknownLocaleError, ValueError):
            locale = Locale.parse("fr")
        return format_date(value, format="long", locale=locale)
