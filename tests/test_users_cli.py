"""`bulletin users add/list/disable` through `bulletin.cli.main` on SQLite and PostgreSQL: the password from
an environment variable (never an argument), Argon2id hashes, clear one-line errors that change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bulletin.cli import main
from bulletin.store import db
from bulletin.store.models import AdminSession, AuditEntry, User


@pytest.fixture
def cli(tmp_path, db_url, make_config, capsys, monkeypatch):
    make_config(db_url=db_url)
    config = str(tmp_path / "bulletin.toml")
    monkeypatch.setenv("NEW_PASSWORD", "Bamako-2026 sûr")

    def run(*args: str) -> tuple[int, str, str]:
        status = main(["--config", config, *args])
        out, err = capsys.readouterr()
        return status, out, err

    run.url = db_url
    return run


def _users(url: str) -> list[tuple]:
    with db.session_scope(db.engine_for(url)) as s:
        return s.execute(select(User.email, User.role, User.status, User.password_hash).order_by(User.id)).all()


def test_add_list_and_disable(cli):
    assert cli("users", "add", "Awa.Traore@imrap-mali.org", "--role", "admin", "--password-env", "NEW_PASSWORD") == (
        0, "account Awa.Traore@imrap-mali.org added (admin)\n", "")
    assert cli("users", "add", "redaction@imrap-mali.org", "--role", "editor", "--password-env", "NEW_PASSWORD")[0] == 0
    [(email, role, status, hashed), _] = _users(cli.url)
    assert (email, role, status) == ("Awa.Traore@imrap-mali.org", "admin", "active")
    assert hashed.startswith("$argon2id$") and "Bamako" not in hashed
    status, out, _ = cli("users", "list")
    assert status == 0 and out.splitlines() == [
        "Awa.Traore@imrap-mali.org  admin  active  last sign-in: never",
        "redaction@imrap-mali.org  editor  active  last sign-in: never",
    ]
    assert cli("users", "disable", "REDACTION@imrap-mali.org") == (
        0, "account redaction@imrap-mali.org disabled, its sessions ended\n", "")
    assert [u[2] for u in _users(cli.url)] == ["active", "disabled"]
    with db.session_scope(db.engine_for(cli.url)) as s:
        audit = s.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.object_id).order_by(AuditEntry.id)).all()
    assert audit == [("cli", "user.add", "Awa.Traore@imrap-mali.org"), ("cli", "user.add", "redaction@imrap-mali.org"),
                     ("cli", "user.disable", "redaction@imrap-mali.org")]


@pytest.mark.parametrize("args, error", [
    (("users", "add", "not-an-address", "--role", "admin", "--password-env", "NEW_PASSWORD"),
     "error: email: “not-an-address” is not an email address:"),
    (("users", "add", "a@imrap-mali.org", "--role", "admin", "--password-env", "UNSET_VARIABLE"),
     "error: --password-env: environment variable UNSET_VARIABLE is not set"),
    (("users", "add", "a@imrap-mali.org", "--role", "admin", "--password-env", "SHORT_PASSWORD"),
     "error: password: The password must be at least 10 characters long."),
    (("users", "add", "a@imrap-mali.org", "--role", "admin"),
     "error: --password-env: no terminal to ask for the password: use --password-env NAME"),
    (("users", "disable", "nobody@imrap-mali.org"), "error: email: No account for nobody@imrap-mali.org."),
])
def test_mistakes_are_one_line_errors_that_change_nothing(cli, monkeypatch, args, error):
    monkeypatch.setenv("SHORT_PASSWORD", "court")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    before = _users(cli.url)
    status, out, err = cli(*args)
    assert status == 1 and out == "" and err.startswith(error) and err.count("\n") == 1, err
    assert _users(cli.url) == before


def test_a_role_that_is_not_one_is_a_usage_error(cli, capsys):
    with pytest.raises(SystemExit) as stop:
        cli("users", "add", "a@imrap-mali.org", "--role", "owner", "--password-env", "NEW_PASSWORD")
    assert stop.value.code == 2
    assert _users(cli.url) == []


def test_the_same_address_twice_and_the_last_admin(cli):
    assert cli("users", "add", "awa@imrap-mali.org", "--role", "admin", "--password-env", "NEW_PASSWORD")[0] == 0
    status, _, err = cli("users", "add", "AWA@imrap-mali.org", "--role", "editor", "--password-env", "NEW_PASSWORD")
    assert status == 1 and err == "error: email: An account exists already for AWA@imrap-mali.org.\n"
    status, _, err = cli("users", "disable", "awa@imrap-mali.org")
    assert status == 1 and "last active admin" in err
    assert [u[1:3] for u in _users(cli.url)] == [("admin", "active")]


def test_disabling_ends_the_accounts_sessions(cli):
    from bulletin.services import accounts
    from bulletin.services.store import Store
    import datetime as dt

    cli("users", "add", "admin@imrap-mali.org", "--role", "admin", "--password-env", "NEW_PASSWORD")
    cli("users", "add", "awa@imrap-mali.org", "--role", "editor", "--password-env", "NEW_PASSWORD")
    store = Store(db.engine_for(cli.url))
    now = dt.datetime.now(dt.timezone.utc)
    with store.unit_of_work() as uow:
        signed = accounts.sign_in(uow, "awa@imrap-mali.org", "Bamako-2026 sûr", ip="127.0.0.1", now=now)
    assert isinstance(signed, accounts.SignedIn)
    assert cli("users", "disable", "awa@imrap-mali.org")[0] == 0
    with db.session_scope(db.engine_for(cli.url)) as s:
        assert s.scalars(select(AdminSession)).all() == []
    with store.unit_of_work() as uow:
        assert accounts.current_session(uow, signed.token, now=now, policy=accounts.SessionPolicy()) is None
