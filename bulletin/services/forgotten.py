"""Erased addresses, recognised without being kept: a keyed hash of each (HMAC-SHA256 of the address lower-cased,
with a key derived from the signing secret), so that no import, form or admin brings an erased person back.

The address itself is nowhere in the database, and a copy of the database alone cannot test an address against
the hashes: that needs the secret too. Changing the signing secret (`[web].secret_env`) makes the erased
addresses unrecognisable, as it makes every unsubscribe link already mailed stop working: keep it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable

from bulletin.services.store import UnitOfWork
from bulletin.store import people, queries


def hasher(cfg) -> Callable[[str], str]:
    """The function from an address to its digest, for this installation (the key is derived once)."""
    key = hmac.new(cfg.signing_secret(), b"bulletin.erased-address", hashlib.sha256).digest()

    def digest(address: str) -> str:
        return hmac.new(key, queries.email_key(address).encode("utf-8"), hashlib.sha256).hexdigest()

    return digest


def is_erased(uow: UnitOfWork, cfg, address: str) -> bool:
    return bool(people.erased(uow.session, [hasher(cfg)(address)]))


def erased_among(uow: UnitOfWork, digest: Callable[[str], str], addresses: Iterable[str]) -> set[str]:
    """Those of `addresses` that were erased."""
    by_digest = {digest(a): a for a in addresses}
    return {by_digest[d] for d in people.erased(uow.session, list(by_digest))}


def remember(uow: UnitOfWork, cfg, address: str, *, now=None) -> None:
    people.remember_erased(uow.session, hasher(cfg)(address), now=now)
