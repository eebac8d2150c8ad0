"""Helpers of the workspace tests (no tests here): a live `bulletin serve` with a clock the test moves,
accounts, a signed-in HTTP client, and sample values for every path parameter of the /admin routes."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from bulletin.services import accounts
from bulletin.services.audit import Actor
from bulletin.services.store import Store
from web_support import LiveSite, live_site

PASSWORD = "Djoliba-2023 été"  # UTF-8 on purpose
CSRF = re.compile(r'name="csrf" value="([^"]*)"')

#: A value for each path parameter of the /admin routes, so the walking tests can reach every route.
#: A page with a new parameter adds it here (the walk fails with its name otherwise).
SAMPLE_PARAMS = {"send_id": "send", "user_id": "user", "name": "admin.css"}


class Clock:
    """The workspace's clock, moved by the test: `clock.advance(minutes=61)`."""

    def __init__(self, start: dt.datetime | None = None):
        self.now = start or dt.datetime.now(dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class Workspace:
    site: LiveSite
    clock: Clock
    store: Store

    @property
    def url(self) -> str:
        return self.site.url

    def add_user(self, email: str, role: str = "admin", password: str = PASSWORD) -> accounts.Account:
        return self.store.run(accounts.add_user, email, role, password, actor=Actor.cli(), now=self.clock())

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=30)

    def signed_in(self, email: str, password: str = PASSWORD) -> httpx.Client:
        client = self.client()
        r = sign_in(client, email, password)
        assert r.status_code == 303, r.text
        return client


def csrf_of(html: str) -> str:
    return CSRF.search(html).group(1)


def sign_in(client: httpx.Client, email: str, password: str, next_path: str = "") -> httpx.Response:
    form = client.get("/admin/login")
    data = {"csrf": csrf_of(form.text), "email": email, "password": password}
    if next_path:
        data["next"] = next_path
    return client.post("/admin/login", data=data)


@contextmanager
def live_workspace(make_config, db_url: str, tmp_path, **options) -> Iterator[Workspace]:
    clock = Clock()
    with live_site(make_config, db_url, tmp_path, **options) as site:
        site.app.state.workspace.clock = clock
        yield Workspace(site, clock, site.app.state.site.store)
