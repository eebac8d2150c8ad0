"""Test sends (`send --to`): every edition to one address, subject marked [TEST], no delivery rows."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence

from bulletin.deliver.dkim import DkimSigner
from bulletin.deliver.context import list_id_header
from bulletin.deliver.message import MessageTemplate, Recipient, domain_of
from bulletin.deliver.transports import open_transport
from bulletin.errors import BulletinError
from bulletin.render.edition import RenderedEdition
from bulletin.store import queries
from bulletin.store.db import session_scope
from bulletin.tokens import Tokens


def send_test(cfg, editions: Sequence[RenderedEdition], to: str, *, engine=None, list_slug: str | None = None
              ) -> Iterator[str]:
    """Send each edition to `to`. With a list, the links are the address's own if it is on the list (so the
    test shows the real unsubscribe link), else a link that unsubscribes nobody."""
    if "@" not in to or any(c.isspace() for c in to.strip()):
        raise BulletinError(f"{to!r} is not an email address", where="--to")
    to = to.strip()
    d = cfg.delivery
    domain = domain_of(d.from_address)
    subscriber_id, list_id, name, list_header = 0, 0, "", ""
    if engine is not None and list_slug:
        with session_scope(engine) as session:
            ml = queries.get_list(session, list_slug)
            list_id, list_header = ml.id, list_id_header(ml.name, ml.slug, domain)
            found = queries.find_subscriber(session, to)
            if found is not None:
                subscriber_id, name = found.id, found.name
    token = Tokens(cfg.signing_secret()).unsubscribe(subscriber_id, list_id)
    signer = DkimSigner.from_config(cfg)
    transport = open_transport(cfg)
    try:
        for e in editions:
            template = MessageTemplate(e, from_name=d.from_name, from_address=d.from_address, reply_to=d.reply_to,
                                       list_id=list_header, signer=signer, subject_prefix="[TEST] ")
            recipient = Recipient(email=to, name=name, message_id=f"test.{secrets.token_hex(8)}@{domain}",
                                  unsubscribe_url=f"{cfg.web.base_url}/unsubscribe/{token}",
                                  archive_url=f"{cfg.web.base_url}/archive/{e.slug}")
            transport.send(d.from_address, [to], template.build(recipient))
            yield f"test send: {e.slug} ({e.language}) to {to}"
    finally:
        transport.close()
