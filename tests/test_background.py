"""The background queue of a `bulletin serve` process (services/background.py) and the confirmation mails sent
through it: in order, one failure logged without stopping the next, drain and close."""

from __future__ import annotations

import logging
import threading

from bulletin.errors import BulletinError
from bulletin.services.background import Background
from bulletin.services.invitations import Invitations
from bulletin.services.subscriptions import Invitation
from bulletin.tokens import Tokens


def test_items_are_handled_in_order_and_a_failure_does_not_stop_the_next(caplog):
    handled, threads = [], set()

    def handle(item: int) -> None:
        threads.add(threading.current_thread().name)
        if item == 2:
            raise ValueError("item 2 is broken")
        handled.append(item)

    background: Background[int] = Background("bulletin-test", handle)
    with caplog.at_level(logging.ERROR, logger="bulletin.services.background"):
        for item in range(5):
            background.submit(item)
        background.drain()
    assert handled == [0, 1, 3, 4]
    assert threads == {"bulletin-test"}, "one thread of its own, not the caller's"
    assert [r.getMessage() for r in caplog.records] == ["bulletin-test: an item failed"]
    assert "item 2 is broken" in caplog.text
    background.close()
    assert not any(t.name == "bulletin-test" for t in threading.enumerate()), "close ends the thread"
    background.submit(5)  # a closed queue starts a new thread at the next item
    background.drain()
    assert handled[-1] == 5
    background.close()


def test_a_confirmation_mail_the_server_refuses_is_logged_and_the_next_one_goes(make_config, caplog):
    cfg = make_config('[organisation]\nname = "IMRAP"\nlanguage = "fr"\n')
    sent: list[tuple[str, str]] = []

    def send(_cfg, to: str, subject: str, body: str) -> None:
        if to.startswith("down"):
            raise OSError("connection refused")
        if to.startswith("refused"):
            raise BulletinError("550 5.7.1 relaying denied")
        sent.append((to, subject))

    invitations = Invitations(cfg, Tokens(cfg.signing_secret()), send)
    with caplog.at_level(logging.ERROR):
        for who in ("down@example.org", "refused@example.org", "awa@example.org"):
            invitations.submit(Invitation(email=who, list_id=1, list_name="Actualités", language="fr", name="Awa"))
        invitations.drain()
    assert [to for to, _ in sent] == ["awa@example.org"]
    assert [r.getMessage() for r in caplog.records] == [
        "confirmation mail not sent: connection refused",
        "confirmation mail not sent: 550 5.7.1 relaying denied",
    ]
    assert all(r.exc_info is None for r in caplog.records), "the server's refusal is one line, no traceback"
    invitations.close()
