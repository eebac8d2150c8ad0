"""Opens the configured transport: maildir (the default, `.eml` files under the outbox) or SMTP."""

from __future__ import annotations

from bulletin.deliver.smtp import SmtpTransport
from bulletin.deliver.transport import MaildirTransport, Transport


def open_transport(cfg) -> Transport:
    """A new transport for one delivery thread (an SMTP connection is not shared between threads)."""
    if cfg.delivery.transport == "smtp":
        return SmtpTransport.from_config(cfg)
    return MaildirTransport(cfg.resolve_path(cfg.delivery.outbox))
