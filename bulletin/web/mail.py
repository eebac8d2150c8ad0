"""The confirmation mail of a double opt-in, sent through the configured transport."""

from __future__ import annotations

from bulletin.config import Config


def send_confirmation(cfg: Config, to: str, subject: str, text: str) -> None:
    """Send one plain-text message to `to`; raises DeliveryError or TransportFailure when it cannot."""
    from bulletin.deliver.message import send_simple

    send_simple(cfg, to, subject, text)
