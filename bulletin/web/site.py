"""What every request handler shares: the configuration, the store, the token signer, pages and limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from bulletin import i18n
from bulletin.config import Config
from bulletin.services.invitations import Invitations
from bulletin.services.store import Store
from bulletin.tokens import Tokens
from bulletin.web.i18n import Strings, choose
from bulletin.web.pages import Pages
from bulletin.web.ratelimit import RateLimit


@dataclass
class Site:
    cfg: Config
    store: Store
    tokens: Tokens
    pages: Pages
    per_ip: RateLimit = field(init=False)
    per_address: RateLimit = field(init=False)
    invitations: Invitations = field(init=False)

    def __post_init__(self) -> None:
        self.per_ip = RateLimit(self.cfg.web.subscribe_limit_per_ip)
        self.per_address = RateLimit(self.cfg.web.subscribe_limit_per_address)
        self.invitations = Invitations(self.cfg, self.tokens)

    @classmethod
    def for_config(cls, cfg: Config) -> Site:
        # Opening the store here migrates the database and fails at start-up, not on the first click.
        return cls(cfg, Store.open(cfg), Tokens(cfg.signing_secret()), Pages(cfg))

    def url(self, path: str) -> str:
        return f"{self.cfg.web.base_url}{path}"

    def language(self, request: Request, wanted: str | None = None) -> str:
        """`wanted` (a subscriber's or ?lang=) where the site speaks it, else the browser's Accept-Language."""
        org = self.cfg.organisation
        return choose(org.languages, org.language, wanted=wanted, header=request.headers.get("accept-language"))

    def strings(self, language: str) -> Strings:
        """The catalogue in `language`, falling back to the organisation's."""
        return Strings(language, self.cfg.organisation.language)

    def message(self, message: i18n.Message, language: str) -> str:
        return message.render(language, self.cfg.organisation.language)


def get_site(request: Request) -> Site:
    return request.app.state.site
