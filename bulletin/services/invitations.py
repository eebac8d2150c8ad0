"""Confirmation mails of the double opt-in, sent from a background thread.

The answer to the subscribe form must not tell who is on a list: not by its words, its status or its time.
Sending the mail inline made a new address answer in ~65 ms and a bounced one in ~9 ms, and a mail server that
was down turned only the mailable ones into errors. Here the request only queues the mail; one thread sends
the queue, and a failure is logged (the person can ask again), never shown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bulletin.errors import BulletinError
from bulletin.i18n import Catalogue
from bulletin.services.background import Background
from bulletin.services.subscriptions import Invitation
from bulletin.tokens import Tokens

log = logging.getLogger(__name__)

SendMail = Callable[..., None]


class Invitations:
    """A queue of confirmation mails and the thread that sends them, one `bulletin serve` process each."""

    def __init__(self, cfg, tokens: Tokens, send: SendMail | None = None):
        from bulletin.deliver.message import send_simple

        self.cfg = cfg
        self.tokens = tokens
        self._send = send or send_simple
        self._background: Background[Invitation] = Background("bulletin-invitations", self._deliver)

    def submit(self, invitation: Invitation) -> None:
        """Queue the mail; it goes within moments, after the answer to the form."""
        self._background.submit(invitation)

    def drain(self) -> None:
        """Wait until every queued mail was sent or failed."""
        self._background.drain()

    def close(self) -> None:
        self._background.close()

    def send_now(self, invitation: Invitation) -> None:
        """Send the mail in this thread, failures raised (the command line's `subscribers invite`)."""
        subject, body = self.message(invitation)
        self._send(self.cfg, invitation.email, subject, body)

    def message(self, invitation: Invitation) -> tuple[str, str]:
        """(subject, body) of the mail, in the language the person asked in."""
        t = Catalogue(invitation.language, self.cfg.organisation.language)
        token = self.tokens.confirm(invitation.email, invitation.list_id, invitation.language, invitation.name)
        org = self.cfg.organisation.short_name or self.cfg.organisation.name
        url = f"{self.cfg.web.base_url}/confirm/{token}"
        return (t("subscribe.mail.subject", list=invitation.list_name),
                t("subscribe.mail.body", list=invitation.list_name, org=org, url=url))

    def _deliver(self, invitation: Invitation) -> None:
        try:
            subject, body = self.message(invitation)
            self._send(self.cfg, invitation.email, subject, body)
        except (BulletinError, OSError) as e:  # the server's refusal or absence: one line, no traceback
            log.error("confirmation mail not sent: %s", e)
