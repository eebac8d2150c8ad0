"""Mails to the team ([schedule].remind): the monthly reminder, and the alerts when an issue does not go.

Written in the organisation's language through the catalogue, sent through the configured transport. A mail
that cannot be sent raises: the caller's unit of work rolls back, so the step is tried again at the worker's
next pass instead of being recorded as done.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from zoneinfo import ZoneInfo

from bulletin.i18n import Message

log = logging.getLogger(__name__)

#: send(cfg, to, subject, text): deliver.message.send_simple unless a test gives another
SendMail = Callable[[object, str, str, str], None]


def local_time(cfg, at: dt.datetime) -> dict[str, str]:
    """{date, time, zone} of `at` in the organisation's time zone, as the mails and the CLI print them."""
    zone = cfg.organisation.timezone
    local = at.astimezone(ZoneInfo(zone))
    return {"date": f"{local:%Y-%m-%d}", "time": f"{local:%H:%M}", "zone": zone}


def mail_team(cfg, subject: Message, body: Message, *, send: SendMail | None = None) -> tuple[str, ...]:
    """The mail to each [schedule].remind address; returns them (none configured: nobody, and it is logged)."""
    if send is None:
        from bulletin.deliver.message import send_simple as send
    language = cfg.organisation.language
    to = tuple(cfg.schedule.remind)
    if not to:
        log.warning("no [schedule].remind address to mail: %s", subject.render(language, language))
    for address in to:
        send(cfg, address, subject.render(language, language), body.render(language, language))
    return to


def reason(kind: str, cfg, folder, *, by: str | None = None, at: dt.datetime | None = None,
           what: str = "") -> Message:
    """Why an issue does not go, for a mail or `bulletin status`: `kind` is an ApprovalState or a WaitReason
    value ("not_approved", "changed", "missing", "errors"), or "other" with `what`."""
    if kind == "changed" and by is not None and at is not None:
        return Message("notice.reason.changed", folder=str(folder), by=by, **local_time(cfg, at))
    if kind == "changed":
        return Message("notice.reason.changed_scheduled", folder=str(folder))
    if kind in ("not_approved", "missing", "errors"):
        return Message(f"notice.reason.{kind}", folder=str(folder))
    return Message("notice.reason.other", what=what)
