"""Signed tokens: unsubscribe links and opt-in confirmations, HMAC-signed with the configured secret.

A token names its subscriber and list (and, for unsubscribe, the send it came from); it cannot be forged,
altered, or used for another purpose, because each purpose has its own salt.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeSerializer, URLSafeTimedSerializer

from bulletin.errors import TokenError


@dataclass(frozen=True)
class UnsubscribeToken:
    subscriber_id: int
    list_id: int
    send_id: int | None = None


@dataclass(frozen=True)
class ConfirmToken:
    """A double opt-in request: who asked, for which list, in which language, and when the link was made
    (a consent given before the person last left is spent: see services.consent)."""

    email: str
    list_id: int
    language: str
    name: str
    issued_at: dt.datetime


@dataclass(frozen=True)
class TestSendLink:
    """The unsubscribe link of a test send (`send --to`): it unsubscribes nobody, and its page says it was a
    test, in the language of the edition it came in."""

    __test__ = False  # not a pytest test class

    language: str
    slug: str


class Tokens:
    """Makes and reads the tokens of one installation (one secret)."""

    def __init__(self, secret: bytes | str):
        self._unsubscribe = URLSafeSerializer(secret, salt="bulletin.unsubscribe")
        self._confirm = URLSafeTimedSerializer(secret, salt="bulletin.confirm")
        self._test = URLSafeSerializer(secret, salt="bulletin.test-send")

    def unsubscribe(self, subscriber_id: int, list_id: int, send_id: int | None = None) -> str:
        payload = [subscriber_id, list_id] if send_id is None else [subscriber_id, list_id, send_id]
        return self._unsubscribe.dumps(payload)

    def read_unsubscribe(self, token: str) -> UnsubscribeToken:
        try:
            payload = self._unsubscribe.loads(token)
        except BadData:
            raise TokenError("this unsubscribe link is not valid")
        if not (isinstance(payload, list) and len(payload) in (2, 3) and all(isinstance(v, int) for v in payload)):
            raise TokenError("this unsubscribe link is not valid")
        return UnsubscribeToken(*payload)

    def test_send(self, language: str, slug: str) -> str:
        return self._test.dumps([language, slug])

    def read_test_send(self, token: str) -> TestSendLink | None:
        """The test send a link comes from, or None when it is not a test send's link (it may be a real one)."""
        try:
            payload = self._test.loads(token)
        except BadData:
            return None
        if not (isinstance(payload, list) and len(payload) == 2 and all(isinstance(v, str) for v in payload)):
            return None
        return TestSendLink(*payload)

    def confirm(self, email: str, list_id: int, language: str, name: str = "") -> str:
        return self._confirm.dumps([email, list_id, language, name])

    def read_confirm(self, token: str, max_age_seconds: int = 7 * 24 * 3600) -> ConfirmToken:
        try:
            payload, issued_at = self._confirm.loads(token, max_age=max_age_seconds, return_timestamp=True)
        except BadData:
            raise TokenError("this confirmation link is not valid or has expired")
        if not (isinstance(payload, list) and len(payload) == 4 and isinstance(payload[1], int)):
            raise TokenError("this confirmation link is not valid or has expired")
        email, list_id, language, name = payload
        return ConfirmToken(str(email), list_id, str(language), str(name), issued_at)
