"""Test sends (`send --to`): every edition to a few addresses, subject marked [TEST], no delivery rows."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bulletin.deliver.dkim import DkimSigner
from bulletin.deliver.message import MessageTemplate, Recipient, domain_of
from bulletin.deliver.transports import open_transport
from bulletin.render.edition import RenderedEdition
from bulletin.tokens import Tokens


@dataclass(frozen=True)
class TestRecipient:
    """Who a test goes to: the address, and with a list, the name it has there and the list's List-Id. Its
    unsubscribe link unsubscribes nobody: it leads to a page that says the message was a test."""

    email: str
    name: str = ""
    #: the List-Id header of the list, or "" without a list
    list_header: str = ""


def send_test(cfg, editions: Sequence[RenderedEdition], recipients: Sequence[TestRecipient]
              ) -> Iterator[tuple[str, str, str]]:
    """Send each edition to each recipient over one transport; yields (slug, language, address) per message."""
    d = cfg.delivery
    domain = domain_of(d.from_address)
    tokens = Tokens(cfg.signing_secret())
    signer = DkimSigner.from_config(cfg)
    transport = open_transport(cfg)
    try:
        for e in editions:
            for to in recipients:
                template = MessageTemplate(e, from_name=d.from_name, from_address=d.from_address,
                                           reply_to=d.reply_to, list_id=to.list_header, signer=signer,
                                           subject_prefix="[TEST] ")
                token = tokens.test_send(e.language, e.slug)
                recipient = Recipient(email=to.email, name=to.name, message_id=f"test.{secrets.token_hex(8)}@{domain}",
                                      unsubscribe_url=f"{cfg.web.base_url}/unsubscribe/{token}",
                                      archive_url=f"{cfg.web.base_url}/archive/{e.slug}")
                transport.send(d.from_address, [to.email], template.build(recipient))
                yield e.slug, e.language, to.email
    finally:
        transport.close()
