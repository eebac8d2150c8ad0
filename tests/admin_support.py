"""Helpers of the workspace tests (no tests here): a live `bulletin serve` with a clock the test moves,
accounts, a signed-in HTTP client, and sample values for every path parameter of the /admin routes."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bulletin.services import accounts
from bulletin.services.audit import Actor
from bulletin.services.store import Store
from web_support import LiveSite, live_site

PASSWORD = "Djoliba-2023 été"  # UTF-8 on purpose
CSRF = re.compile(r'name="csrf" value="([^"]*)"')

#: A value for each path parameter of the /admin routes, so the walking tests can reach every route.
#: A page with a new parameter adds it here (the walk fails with its name otherwise).
SAMPLE_PARAMS = {"send_id": "send", "user_id": "user", "name": "admin.css", "block": "block", "lang": "lang",
                 "image": "image", "subscriber_id": "subscriber", "job_id": "job",
                 # {slug} names an issue under /admin/issues and a list under /admin/lists
                 "slug": {"/admin/issues": "issue", "/admin/lists": "list"}}
REPO = Path(__file__).resolve().parent.parent


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
    if form.status_code == 303:  # signed in already: the form's token is the session's
        form = client.get("/admin/")
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


@contextmanager
def seeded_workspace(make_config, db_url: str, tmp_path, **options) -> Iterator[Workspace]:
    """A live workspace with `seed_workspace`'s lists, people, sends, accounts and import (`params`)."""
    with live_workspace(make_config, db_url, tmp_path, **options) as w:
        w.params = seed_workspace(w)
        yield w


@pytest.fixture
def ws(make_config, db_url, tmp_path):
    """The seeded workspace on each database (import it into a test module to use it)."""
    with seeded_workspace(make_config, db_url, tmp_path) as w:
        yield w


@pytest.fixture
def sqlite_ws(make_config, sqlite_url, tmp_path):
    """The seeded workspace on SQLite only."""
    with seeded_workspace(make_config, sqlite_url, tmp_path) as w:
        yield w


def seed_workspace(ws: Workspace) -> dict[str, str]:
    """Lists, subscribers, a sent send and a scheduled one, an admin and an editor; returns the sample path
    parameters of SAMPLE_PARAMS with real ids."""
    from sqlalchemy import select

    from bulletin.store import db
    from bulletin.store.models import Send, SendEdition
    from web_support import seed

    sample = seed(ws.site.engine)
    with db.session_scope(ws.site.engine) as s:
        later = Send(issue_slug="2099-01", issue_dir="/nonexistent/2099-01", list_id=sample.actualites,
                     state="scheduled", scheduled_at=ws.clock() + dt.timedelta(days=2))
        later.editions = [SendEdition(language="fr", subject="Bulletin", html="<p>x</p>", text="x")]
        s.add(later)
        s.flush()
        scheduled = later.id
        assert s.scalar(select(Send.state).where(Send.id == sample.send)) == "done"
    admin = ws.add_user("admin@imrap-mali.org", "admin")
    editor = ws.add_user("redaction@imrap-mali.org", "editor")
    issues = ws.site.cfg.resolve_path(ws.site.cfg.web.issues_dir)
    if not (issues / "2023-07").exists():  # the issue pages' sample: a copy of the bilingual sample issue
        shutil.copytree(REPO / "issues" / "2023-07", issues / "2023-07")
    job = checked_import(ws, "actualites", "email;nom\r\nnouveau@example.org;Nouveau\r\npas-une-adresse;X\r\n")
    return {"send": str(scheduled), "user": str(editor.id), "admin": str(admin.id), "admin.css": "admin.css",
            "issue": "2023-07", "block": "01-bamako", "lang": "fr", "image": "directeur.png",
            "list": "actualites", "subscriber": str(sample.awa), "job": str(job)}


def folder_state(folder: Path) -> dict[str, str]:
    """Every file under `folder` with the SHA-256 of its bytes."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def checked_import(ws: Workspace, list_slug: str, text: str, *, encoding: str = "utf-8",
                   file_name: str = "inscrits.csv") -> int:
    """An uploaded file checked by the workspace's runner (as if an admin had sent it): the job's id."""
    import io

    from bulletin.services import imports
    from bulletin.services.audit import Actor

    stored, size = imports.save_upload(ws.site.cfg, io.BytesIO(text.encode(encoding)), max_bytes=1 << 20)
    with ws.store.unit_of_work() as uow:
        job = imports.start(uow, ws.site.cfg, list_slug=list_slug, file_name=file_name, stored_name=stored,
                            size=size, actor=Actor.cli(), now=ws.clock())
    runner = ws.site.app.state.workspace.imports
    runner.check(job.id)
    runner.drain()
    return job.id


def snapshot(ws: Workspace) -> dict:
    """Everything a refused request could have changed: accounts, sessions, the audit log, sends, deliveries,
    lists, people, their subscriptions and history, erased addresses, import jobs, and the files of the issue
    folders."""
    from sqlalchemy import func, select

    from bulletin.store import db
    from bulletin.store.models import (AdminSession, AuditEntry, Delivery, ErasedAddress, Event, ImportJob,
                                       MailingList, Send, Subscriber, Subscription, User)

    with db.session_scope(ws.site.engine) as s:
        return {
            "lists": s.execute(select(MailingList.slug, MailingList.name, MailingList.description,
                                      MailingList.archived_at).order_by(MailingList.id)).all(),
            "people": s.execute(select(Subscriber.email, Subscriber.name, Subscriber.language, Subscriber.status)
                                .order_by(Subscriber.id)).all(),
            "subscriptions": s.execute(select(Subscription.subscriber_id, Subscription.list_id, Subscription.status)
                                       .order_by(Subscription.subscriber_id, Subscription.list_id)).all(),
            "events": s.scalar(select(func.count()).select_from(Event)),
            "erased": s.scalar(select(func.count()).select_from(ErasedAddress)),
            "imports": s.execute(select(ImportJob.id, ImportJob.state).order_by(ImportJob.id)).all(),
            "users": s.execute(select(User.id, User.role, User.status, User.password_hash).order_by(User.id)).all(),
            "sessions": s.execute(select(AdminSession.token_hash, AdminSession.user_id)
                                  .order_by(AdminSession.token_hash)).all(),
            "audit": s.scalar(select(func.count()).select_from(AuditEntry)),
            "sends": s.execute(select(Send.id, Send.state, Send.finished_at).order_by(Send.id)).all(),
            "deliveries": s.execute(select(Delivery.id, Delivery.status, Delivery.next_attempt_at)
                                    .order_by(Delivery.id)).all(),
            "issues": folder_state(ws.site.cfg.resolve_path(ws.site.cfg.web.issues_dir)),
        }


def concrete(path: str, params: dict[str, str]) -> str:
    """The route's path with each {parameter} replaced by its sample value."""
    def value(m: re.Match) -> str:
        name = m.group(1)
        if name not in SAMPLE_PARAMS:
            raise AssertionError(f"no sample value for {{{name}}}: add it to SAMPLE_PARAMS in tests/admin_support.py")
        sample = SAMPLE_PARAMS[name]
        if isinstance(sample, dict):
            sample = next(v for prefix, v in sample.items() if path.startswith(prefix))
        return params[sample]
    return re.sub(r"\{(\w+)(?::\w+)?\}", value, path)


class _FormReader:
    """The fields a browser sends for one form of a page, in order (what `page.click(submit)` would post)."""

    def __init__(self, form_id: str):
        from html.parser import HTMLParser

        reader = self

        class Parser(HTMLParser):
            def handle_starttag(self, tag, attrs):
                reader.start(tag, dict(attrs))

            def handle_startendtag(self, tag, attrs):
                reader.start(tag, dict(attrs))

            def handle_endtag(self, tag):
                reader.end(tag)

            def handle_data(self, data):
                reader.data(data)

        self.parser = Parser(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self.area: list | None = None

    def start(self, tag, attrs):
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        if not self.inside or "disabled" in attrs:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("submit", "file", "button") or (kind in ("checkbox", "radio") and "checked" not in attrs):
                return
            self.fields.append((name, attrs.get("value", "")))
        elif tag == "textarea" and name:
            self.area = [name, ""]

    def data(self, text):
        if self.area is not None:
            self.area[1] += text

    def end(self, tag):
        if tag == "form":
            self.inside = False
        if tag == "textarea" and self.area is not None:
            name, value = self.area
            self.fields.append((name, value[1:] if value.startswith("\n") else value))  # as HTML parsing drops it
            self.area = None


def form_fields(html: str, form_id: str) -> list[tuple[str, str]]:
    reader = _FormReader(form_id)
    reader.parser.feed(html)
    return reader.fields
