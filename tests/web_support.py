"""Helpers of the web tests: a live server on a free port, sample subscribers, and a snapshot of what can change.

(No tests here; the web test modules import it.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from bulletin.config import Config
from bulletin.store import db
from bulletin.store.models import Event, MailingList, Send, SendEdition, Subscriber, Subscription
from bulletin.tokens import Tokens
from bulletin.web.app import create_app
from bulletin.web.server import background, free_port


@dataclass
class LiveSite:
    url: str
    cfg: Config
    engine: Engine
    tokens: Tokens
    outbox: Path
    app: object = None

    def drain(self) -> None:
        """Wait until the confirmation mails queued by the requests so far are sent."""
        self.app.state.site.invitations.drain()


@contextmanager
def live_site(make_config, db_url: str, tmp_path: Path, extra: str = "", sections: str = "",
              delivery: str = "") -> Iterator[LiveSite]:
    """`bulletin serve` on a free port of 127.0.0.1, its base_url pointing at itself, mail to a maildir.

    `extra`: more [web] keys; `delivery`: more [delivery] keys; `sections`: more TOML sections."""
    sock = free_port()
    port = sock.getsockname()[1]
    outbox = tmp_path / "outbox"
    cfg = make_config(
        f'[web]\nbase_url = "http://127.0.0.1:{port}"\n{extra}\n[delivery]\noutbox = "{outbox}"\n{delivery}\n{sections}',
        db_url=db_url,
    )
    app = create_app(cfg)
    with background(app, sock) as url:
        yield LiveSite(url, cfg, db.engine_for(cfg.database_url), Tokens(cfg.signing_secret()), outbox, app)


@dataclass
class Sample:
    awa: int  # French, on both lists
    john: int  # English, on "actualites" only
    actualites: int
    partenaires: int
    send: int  # "2023-06" sent to "actualites"


def seed(engine: Engine) -> Sample:
    with db.session_scope(engine) as s:
        actualites = MailingList(slug="actualites", name="Actualités de l'IMRAP")
        partenaires = MailingList(slug="partenaires", name="Lettre aux partenaires")
        awa = Subscriber(email="Awa.Traore@example.org", email_key="awa.traore@example.org", name="Awa Traoré",
                         language="fr")
        john = Subscriber(email="john@example.com", email_key="john@example.com", name="John", language="en")
        s.add_all([actualites, partenaires, awa, john])
        s.flush()
        s.add_all([
            Subscription(subscriber_id=awa.id, list_id=actualites.id, status="subscribed"),
            Subscription(subscriber_id=awa.id, list_id=partenaires.id, status="subscribed"),
            Subscription(subscriber_id=john.id, list_id=actualites.id, status="subscribed"),
        ])
        send = Send(issue_slug="2023-06", issue_dir="/nonexistent/2023-06", list_id=actualites.id, state="done",
                    started_at=dt.datetime(2023, 7, 15, 9, tzinfo=dt.timezone.utc))
        send.editions = [SendEdition(language="fr", subject="Bulletin de juillet", html="<p>x</p>", text="x")]
        s.add(send)
        s.flush()
        return Sample(awa.id, john.id, actualites.id, partenaires.id, send.id)


def snapshot(engine: Engine) -> tuple[list, list]:
    """Every subscription's status and every event: what a request that must change nothing could change."""
    with db.session_scope(engine) as s:
        subs = s.execute(
            select(Subscription.subscriber_id, Subscription.list_id, Subscription.status, Subscription.source)
            .order_by(Subscription.subscriber_id, Subscription.list_id)
        ).all()
        events = s.execute(select(Event.subscriber_id, Event.list_id, Event.send_id, Event.kind).order_by(Event.id)).all()
        subscribers = s.execute(select(Subscriber.email_key).order_by(Subscriber.id)).all()
        return [tuple(r) for r in subs] + [tuple(r) for r in subscribers], [tuple(r) for r in events]


def status(engine: Engine, subscriber_id: int, list_id: int) -> str:
    with db.session_scope(engine) as s:
        return s.get(Subscription, (subscriber_id, list_id)).status


def events(engine: Engine) -> list[Event]:
    with db.session_scope(engine) as s:
        return list(s.scalars(select(Event).order_by(Event.id)))
