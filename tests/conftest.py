"""Shared fixtures: a fresh database on SQLite and on a real PostgreSQL, and configurations in tmp dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bulletin import config as config_mod
from bulletin import i18n
from bulletin.store import db

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BULLETIN_TEST_PG_URL")
IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(autouse=True)
def _fresh_engines():
    yield
    db.dispose_all()


@pytest.fixture(autouse=True)
def _english_terminal(monkeypatch):
    """The CLI speaks the terminal's language: the tests read its English, whatever the machine's locale."""
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    yield
    i18n.set_default_language(i18n.SOURCE_LANGUAGE)


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("BULLETIN_SECRET", "test-secret-0123456789abcdef0123456789")


@pytest.fixture
def repo_root() -> Path:
    return REPO


def _require_pg() -> str:
    if not PG_URL:
        if IN_CI:
            pytest.fail("BULLETIN_TEST_PG_URL is not set in CI: .ci/run must start PostgreSQL")
        pytest.skip("no PostgreSQL (set BULLETIN_TEST_PG_URL, as .ci/run does)")
    return PG_URL


def reset_pg(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def pg_url() -> str:
    url = _require_pg()
    reset_pg(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'bulletin.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """Each test that takes this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bulletin.db'}"
    url = _require_pg()
    reset_pg(url)
    return url


@pytest.fixture
def make_config(tmp_path):
    """Write a bulletin.toml in a tmp dir from TOML text and load it: `make_config('[delivery]\\nrate = 5')`."""

    def make(toml_text: str = "", *, db_url: str | None = None, name: str = "bulletin.toml") -> config_mod.Config:
        body = toml_text
        if db_url is not None and "[database]" not in body:
            body = f'[database]\nurl = "{db_url}"\n' + body
        path = tmp_path / name
        path.write_text(body, encoding="utf-8")
        return config_mod.load(path)

    return make
