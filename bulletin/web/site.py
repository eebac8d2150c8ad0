"""What every request handler shares: the configuration, the database, the token signer, pages and limits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bulletin.config import Config
from bulletin.store import db
from bulletin.tokens import Tokens
from bulletin.web.i18n import choose
from bulletin.web.pages import Pages
from bulletin.web.ratelimit import RateLimit


@dataclass
class Site:
    cfg: Config
    engine: Engine
    tokens: Tokens
    pages: Pages
    per_ip: RateLimit = field(init=False)
    per_address: RateLimit = field(init=False)

    def __post_init__(self) -> None:
        self.per_ip = RateLimit(self.cfg.web.subscribe_limit_per_ip)
        self.per_address = RateLimit(self.cfg.web.subscribe_limit_per_address)

    @classmethod
    def for_config(cls, cfg: Config) -> Site:
        # Opening the engine here migrates the database and fails at start-up, not on the first click.
        return cls(cfg, db.engine_for(cfg.database_url), Tokens(cfg.signing_secret()), Pages(cfg))

    @contextmanager
    def session(self) -> Iterator[Session]:
        with db.session_scope(self.engine) as session:
            yield session

    def url(self, path: str) -> str:
        return f"{self.cfg.web.base_url}{path}"

    def language(self, request: Request, wanted: str | None = None) -> str:
        """`wanted` (a subscriber's or ?lang=) where the site speaks it, else the browser's Accept-Language."""
        org = self.cfg.organisation
        return choose(org.languages, org.language, wanted=wanted, header=request.headers.get("accept-language"))


def get_site(request: Request) -> Site:
    return request.app.state.site
