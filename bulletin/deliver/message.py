"""Per-recipient message bytes: the edition is encoded once; a recipient costs a few joins, a hash and a signature.

Bodies are quoted-printable. The edition's static parts are encoded (and DKIM-canonicalised) once; each personal
value (unsubscribe link, name, ...) is encoded on its own and set between soft line breaks (`=` CRLF), which
decode to nothing, so the joined body is exactly the encoding of the personalised text.
"""

from __future__ import annotations

import binascii
import hashlib
import html as html_mod
import secrets
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.utils import formatdate, parseaddr

from bulletin.deliver import headers
from bulletin.deliver.dkim import SIGNED_HEADERS, DkimSigner, relaxed_body_piece, relaxed_header
from bulletin.render.edition import RenderedEdition
from bulletin.render.personal import PersonalTemplate

CRLF = b"\r\n"
SOFT_BREAK = b"=\r\n"


def _qp(text: str, *, quote_spaces: bool = False) -> bytes:
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(data, quotetabs=quote_spaces, istext=True).replace(b"\n", CRLF)


def encode_header(value: str, header: str = "Subject") -> bytes:
    """An unstructured header value as ASCII: folded, encoded words where needed (bulletin.deliver.headers)."""
    return headers.unstructured(header, value)


def address_header(name: str, email: str, header: str = "To") -> bytes:
    """`Name <email>` for an address header, folded, the name encoded when it must be."""
    return headers.address(header, name, email)


def list_id_value(list_id: str) -> bytes:
    """List-Id (RFC 2919): the list's name as a phrase, encoded if needed, then `<id>`. Accepts the name already
    encoded by email.utils.formataddr, and re-encodes it into words of at most 75 characters."""
    name, ident = parseaddr(list_id)
    if not ident:
        return headers.unstructured("List-Id", list_id)
    decoded = str(make_header(decode_header(name))) if "=?" in name else name
    return headers.address("List-Id", decoded, ident)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip("<> ").lower() or "localhost"


@dataclass(frozen=True)
class Recipient:
    """What one copy differs in."""

    email: str
    name: str
    message_id: str
    unsubscribe_url: str
    archive_url: str = ""


class _Body:
    """A body split into static pieces (encoded once) and personal values: multipart/alternative when there is
    a `boundary`, else the single part's quoted-printable text."""

    def __init__(self, parts: list[tuple[str, PersonalTemplate]], boundary: str | None):
        # Each item: bytes (static, raw) with its canonical form, or (key, is_html) for a personal value.
        self.items: list[tuple[bytes, bytes] | tuple[str, bool]] = []
        pending = b""
        for content_type, template in parts:
            if boundary:
                pending += (
                    f"--{boundary}\r\nContent-Type: {content_type}; charset=\"utf-8\"\r\n"
                    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                ).encode("ascii")
            for i, part in enumerate(template.parts):
                if i > 0:
                    self._static(pending)
                    pending = b""
                    self.items.append((template.keys[i - 1], template.html))
                encoded = _qp(part)
                if i < len(template.parts) - 1 and not encoded.endswith(CRLF):
                    encoded += SOFT_BREAK
                pending += encoded
            if not pending.endswith(CRLF):
                pending += CRLF
        if boundary:
            pending += f"--{boundary}--\r\n".encode("ascii")
        self._static(pending)
        first_value = next((i for i, item in enumerate(self.items) if isinstance(item[0], str)), len(self.items))
        self.prefix = b"".join(item[0] for item in self.items[:first_value])  # type: ignore[misc]
        self.prefix_hash = hashlib.sha256(b"".join(item[1] for item in self.items[:first_value]))  # type: ignore[misc]
        self.rest = self.items[first_value:]

    def _static(self, raw: bytes) -> None:
        if raw:
            self.items.append((raw, relaxed_body_piece(raw)))

    def render(self, values: dict[str, str], *, signed: bool = True) -> tuple[bytes, bytes]:
        """(body bytes, sha256 of its relaxed canonical form, or b"" when not `signed`)."""
        encoded: dict[tuple[str, bool], bytes] = {}
        out = [self.prefix]
        digest = self.prefix_hash.copy() if signed else None
        for a, b in self.rest:
            if isinstance(a, str):
                key = (a, b)
                piece = encoded.get(key)
                if piece is None:
                    value = headers.one_line(values.get(a, ""))
                    if b:
                        value = html_mod.escape(value, quote=True)
                    # Spaces encoded too: a value piece has no white space, so it is its own canonical form.
                    piece = _qp(value, quote_spaces=True) + SOFT_BREAK
                    encoded[key] = piece
                out.append(piece)
                if digest is not None:
                    digest.update(piece)
            else:
                out.append(a)
                if digest is not None:
                    digest.update(b)  # type: ignore[arg-type]
        return b"".join(out), digest.digest() if digest is not None else b""


class MessageTemplate:
    """One edition of one send, ready to be personalised: `build(recipient)` gives the exact bytes to send."""

    def __init__(
        self,
        edition: RenderedEdition,
        *,
        from_name: str,
        from_address: str,
        reply_to: str = "",
        list_id: str = "",
        send_id: int | None = None,
        signer: DkimSigner | None = None,
        subject_prefix: str = "",
        one_click: bool = True,
    ):
        self.signer = signer
        boundary = "=_bulletin_" + secrets.token_hex(12)  # "=_" never occurs in quoted-printable text
        parts = [("text/plain", PersonalTemplate.compile(edition.text, is_html=False))]
        if edition.html:
            parts.append(("text/html", PersonalTemplate.compile(edition.html, is_html=True)))
        self.one_click = one_click
        if len(parts) > 1:
            self.body = _Body(parts, boundary)
            content_type = f'multipart/alternative; boundary="{boundary}"'.encode("ascii")
            encoding = None
        else:  # text only (a confirmation mail): one part, no multipart wrapper
            self.body = _Body(parts, None)
            content_type, encoding = b'text/plain; charset="utf-8"', b"quoted-printable"
        self._static = {
            "from": address_header(from_name, from_address, "From"),
            "subject": encode_header(subject_prefix + edition.subject),
            "reply-to": address_header("", reply_to, "Reply-To") if reply_to else None,
            "list-id": list_id_value(list_id) if list_id else None,
            "list-unsubscribe-post": b"List-Unsubscribe=One-Click" if one_click else None,
            "x-bulletin-send": str(send_id).encode("ascii") if send_id is not None else None,
            "mime-version": b"1.0",
            "content-type": content_type,
            "content-transfer-encoding": encoding,
        }
        self._canonical = {k: relaxed_header(k, v) for k, v in self._static.items() if v is not None}

    _NAMES = {
        "from": "From",
        "to": "To",
        "subject": "Subject",
        "date": "Date",
        "message-id": "Message-ID",
        "reply-to": "Reply-To",
        "list-id": "List-Id",
        "list-unsubscribe": "List-Unsubscribe",
        "list-unsubscribe-post": "List-Unsubscribe-Post",
        "x-bulletin-send": "X-Bulletin-Send",
        "mime-version": "MIME-Version",
        "content-type": "Content-Type",
        "content-transfer-encoding": "Content-Transfer-Encoding",
    }

    def build(self, recipient: Recipient, *, date: str | None = None) -> bytes:
        personal = {
            "to": address_header(recipient.name, recipient.email),
            "date": (date or formatdate(usegmt=True)).encode("ascii"),
            "message-id": f"<{recipient.message_id}>".encode("ascii"),
            "list-unsubscribe": f"<{recipient.unsubscribe_url}>".encode("ascii") if recipient.unsubscribe_url else None,
        }
        if not self.one_click:
            personal["list-unsubscribe"] = None
        body, body_hash = self.body.render(
            {
                "unsubscribe_url": recipient.unsubscribe_url,
                "archive_url": recipient.archive_url,
                "name": recipient.name,
                "email": recipient.email,
            },
            signed=self.signer is not None,
        )
        lines = []
        for key, name in self._NAMES.items():
            value = personal[key] if key in personal else self._static[key]
            if value is not None:
                lines.append(name.encode("ascii") + b": " + value + CRLF)
        head = b"".join(lines)
        if self.signer is not None:
            names, canonical = [], []
            for key in SIGNED_HEADERS:
                if key in personal:
                    if personal[key] is None:
                        continue
                    canonical.append(relaxed_header(key, personal[key]))
                elif key in self._canonical:
                    canonical.append(self._canonical[key])
                else:
                    continue
                names.append(key)
            head = self.signer.header(b"".join(canonical), names, body_hash) + head
        return head + CRLF + body


def send_simple(cfg, to: str, subject: str, text: str, html: str | None = None) -> None:
    """One plain message (an opt-in confirmation, say) through the configured transport, DKIM-signed when set."""
    from bulletin.deliver.transports import open_transport

    edition = RenderedEdition(slug="", language=cfg.organisation.language, subject=subject, preheader="",
                              html=html or "", text=text)
    template = MessageTemplate(
        edition,
        from_name=cfg.delivery.from_name,
        from_address=cfg.delivery.from_address,
        reply_to=cfg.delivery.reply_to,
        signer=DkimSigner.from_config(cfg),
        one_click=False,
    )
    message_id = f"{secrets.token_hex(12)}@{domain_of(cfg.delivery.from_address)}"
    data = template.build(Recipient(email=to, name="", message_id=message_id, unsubscribe_url=""))
    transport = open_transport(cfg)
    try:
        # A VERP return path needs a subscriber; these mails have none, so bounces go to the plain sender.
        envelope_from = cfg.delivery.return_path if "{token}" not in cfg.delivery.return_path else ""
        transport.send(envelope_from or cfg.delivery.from_address, [to], data)
    finally:
        transport.close()
