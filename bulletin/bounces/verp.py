"""VERP: a return path per recipient, `bounces+TOKEN@domain`, so that any bounce maps to a send and a subscriber.

The token is `S.R.MAC`: send id, subscriber id (base 36) and a 10-character HMAC, short enough for the
64-character limit of a local part and case-insensitive (some servers lower-case addresses).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

_TOKEN = re.compile(r"^([0-9a-z]+)\.([0-9a-z]+)\.([0-9a-z]{10})$")
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if n == 0:
            return out


def _mac(secret: bytes, body: str) -> str:
    digest = hmac.new(secret, b"bulletin.verp:" + body.encode(), hashlib.sha256).digest()
    return _b36(int.from_bytes(digest[:8], "big")).rjust(10, "0")[-10:]


@dataclass(frozen=True)
class VerpToken:
    send_id: int
    subscriber_id: int


def encode(secret: bytes, send_id: int, subscriber_id: int) -> str:
    body = f"{_b36(send_id)}.{_b36(subscriber_id)}"
    return f"{body}.{_mac(secret, body)}"


def decode(secret: bytes, token: str) -> VerpToken | None:
    """The send and subscriber of a token, or None when it is not one of ours (forged, altered, truncated)."""
    m = _TOKEN.match(token.strip().lower())
    if not m:
        return None
    body = f"{m.group(1)}.{m.group(2)}"
    if not hmac.compare_digest(_mac(secret, body), m.group(3)):
        return None
    return VerpToken(int(m.group(1), 36), int(m.group(2), 36))


def return_path(template: str, secret: bytes, send_id: int, subscriber_id: int) -> str:
    """Fill `{token}` in a configured return path such as `bounces+{token}@example.org`."""
    if "{token}" not in template:
        return template
    return template.replace("{token}", encode(secret, send_id, subscriber_id))


def token_from_address(template: str, address: str) -> str | None:
    """The token inside `address` when it has the shape of `template` (`bounces+{token}@domain`)."""
    if "{token}" not in template:
        return None
    prefix, _, suffix = template.lower().partition("{token}")
    addr = address.strip().strip("<>").lower()
    if addr.startswith(prefix) and addr.endswith(suffix) and len(addr) > len(prefix) + len(suffix):
        return addr[len(prefix) : len(addr) - len(suffix)]
    return None
