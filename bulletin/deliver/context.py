"""What one send's messages share: the editions ready to personalise, the links, the return path, the signer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.utils import formataddr

from bulletin.bounces import verp
from bulletin.deliver import claims
from bulletin.deliver.dkim import DkimSigner
from bulletin.deliver.message import MessageTemplate, Recipient, domain_of
from bulletin.errors import DeliveryError
from bulletin.render.edition import RenderedEdition
from bulletin.tokens import Tokens


@dataclass
class SendContext:
    """Everything a connection needs to build any recipient's copy of one send."""

    send_id: int
    list_id: int
    slug: str
    templates: dict[str, MessageTemplate]
    primary: str
    started_at: dt.datetime
    base_url: str
    tokens: Tokens
    secret: bytes
    return_path: str
    domain: str

    def message(self, c: claims.Claimed) -> tuple[str, bytes]:
        """(envelope sender, message bytes) for one claimed recipient."""
        template = self.templates.get(c.language) or self.templates[self.primary]
        token = self.tokens.unsubscribe(c.subscriber_id, self.list_id, self.send_id)
        recipient = Recipient(
            email=c.email,
            name=c.name,
            message_id=f"bulletin.{self.send_id}.{c.subscriber_id}@{self.domain}",
            unsubscribe_url=f"{self.base_url}/unsubscribe/{token}",
            archive_url=f"{self.base_url}/archive/{self.slug}",
        )
        envelope = verp.return_path(self.return_path, self.secret, self.send_id, c.subscriber_id)
        return envelope, template.build(recipient)


def list_id_header(ml, domain: str) -> str:
    """RFC 2919: the list's name as a phrase (encoded when not ASCII) and `<slug.domain>`, which stays readable.
    `ml` is anything with the list's `name` and `slug`."""
    return _list_id(ml.name, ml.slug, domain)


def _list_id(name: str, slug: str, domain: str) -> str:
    return formataddr((name, f"{slug}.{domain}"), charset="utf-8")


def build_context(cfg, material: claims.SendMaterial, *, now: dt.datetime) -> SendContext:
    """The editions of a send (as stored when it was created) ready to personalise, signed as configured."""
    signer = DkimSigner.from_config(cfg)
    d = cfg.delivery
    domain = domain_of(d.from_address)
    templates = {
        e.language: MessageTemplate(
            RenderedEdition(slug=material.issue_slug, language=e.language, subject=e.subject, preheader=e.preheader,
                            html=e.html, text=e.text),
            from_name=d.from_name,
            from_address=d.from_address,
            reply_to=d.reply_to,
            list_id=_list_id(material.list_name, material.list_slug, domain),
            send_id=material.send_id,
            signer=signer,
        )
        for e in material.editions
    }
    if not templates:
        raise DeliveryError(f"send {material.send_id} has no stored edition", where="SEND_ID")
    primary = material.language if material.language in templates else next(iter(templates))
    secret = cfg.signing_secret()
    return SendContext(
        send_id=material.send_id,
        list_id=material.list_id,
        slug=material.issue_slug,
        templates=templates,
        primary=primary,
        started_at=material.started_at or now,
        base_url=cfg.web.base_url,
        tokens=Tokens(secret),
        secret=secret,
        return_path=d.return_path or d.from_address,
        domain=domain,
    )
