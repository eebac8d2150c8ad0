"""`send` (test, now, scheduled) and `approve` run `check` first (issue 12: an issue that `check` rejected was
test-sent and scheduled without a word): errors refuse it, one line per problem in the terminal's language, and
nothing is written; warnings are shown and do not stop it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from bulletin import i18n
from bulletin.cli import main
from bulletin.store.db import engine_for, session_scope
from bulletin.store.models import Approval, Delivery, PublishedFile, Send
from compose_helpers import MINIMAL, write_issue
from tests.deliver_support import Recorder, SmtpServer, populate, smtp_toml

#: The two mistakes of issue 12 as they were seen: an unquoted title with a colon, a date written 15/12/2026.
BROKEN = {**MINIMAL, "issue.toml": MINIMAL["issue.toml"].replace("2023-07-31", "15/12/2026"),
          "news/01-bamako.md": "---\ntitle: Mali: Lancement du projet\nplace: Bamako\n---\nTexte.\n"}
EN_TABLE = '\n[en]\nsubject = "Test issue"\npreheader = "A short summary"\n'
#: A warning only: the English file leaves out `place:` (shown from the French, and said).
WARNING_ONLY = {**MINIMAL, "issue.toml": MINIMAL["issue.toml"] + EN_TABLE,
                "news/01-bamako.en.md": "---\ntitle: News from Bamako\n---\nThe text.\n"}
LATER = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)).strftime("%Y-%m-%dT08:00")


def _counts(cfg) -> tuple[int, int, int, int]:
    with session_scope(engine_for(cfg.database_url)) as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in (Send, Delivery, PublishedFile, Approval))


@pytest.fixture
def server():
    with SmtpServer(Recorder()) as server:
        yield server


@pytest.mark.parametrize("args, doing", [
    (["--to", "officer@imrap-mali.org,director@imrap-mali.org"], "nothing was sent or scheduled"),
    (["--list", "news"], "nothing was sent or scheduled"),
    (["--list", "news", "--at", LATER], "nothing was sent or scheduled"),
    ([], "it was not approved"),
], ids=["test send", "send now", "send --at", "approve"])
def test_an_issue_with_errors_is_refused_with_each_problem_and_nothing_is_written(
        sqlite_url, make_config, tmp_path, capsys, server, args, doing):
    populate(sqlite_url, 3)
    cfg = make_config(smtp_toml(server.port), db_url=sqlite_url)
    issue = write_issue(tmp_path / "issues", BROKEN)
    command = ["send", str(issue), *args] if args else ["approve", str(issue)]
    capsys.readouterr()
    assert main(["--config", str(cfg.path), *command]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{issue}/issue.toml:3: error: invalid TOML: Expected newline or end of document after a statement",
        f"{issue}/news/01-bamako.md:2: error: invalid YAML front matter: mapping values are not allowed in this "
        "context",
        f"error: {issue}: `bulletin check` finds 2 error(s) in this issue (above): {doing}",
    ]
    assert _counts(cfg) == (0, 0, 0, 0)
    assert server.handler.received == []
    assert not (tmp_path / "outbox").exists()


def test_the_refusal_is_in_the_terminal_s_language(sqlite_url, make_config, tmp_path, capsys, server, monkeypatch):
    populate(sqlite_url, 1)
    cfg = make_config(smtp_toml(server.port), db_url=sqlite_url)
    issue = write_issue(tmp_path / "issues", BROKEN)
    monkeypatch.setenv("LANG", "fr_ML.UTF-8")
    try:
        assert main(["--config", str(cfg.path), "send", str(issue), "--to", "officer@imrap-mali.org"]) == 1
    finally:
        i18n.set_default_language("en")
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"{issue}/issue.toml:3: erreur\u00a0: TOML non valide\u00a0: Expected newline or end of document after a "
        "statement",
        f"{issue}/news/01-bamako.md:2: erreur\u00a0: en-tête YAML non valide\u00a0: mapping values are not allowed "
        "in this context",
        f"error: {issue}: `bulletin check` trouve 2 erreur(s) dans ce numéro (ci-dessus)\u00a0: rien n'a été envoyé "
        "ni programmé",
    ]
    assert _counts(cfg) == (0, 0, 0, 0) and server.handler.received == []


@pytest.mark.parametrize("args", [["--to", "officer@imrap-mali.org"], ["--list", "news"]], ids=["test", "now"])
def test_warnings_are_shown_once_and_do_not_stop_the_send(sqlite_url, make_config, tmp_path, capsys, server, args):
    populate(sqlite_url, 2)
    cfg = make_config(smtp_toml(server.port), db_url=sqlite_url)
    issue = write_issue(tmp_path / "issues", WARNING_ONLY)
    assert main(["--config", str(cfg.path), "send", str(issue), *args]) == 0
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if ": warning: " in line] == [
        f"{issue}/news/01-bamako.en.md: warning: place is in news/01-bamako.md but not here: the en edition shows "
        "the fr value"]
    assert len(server.handler.received) == 2, "two editions to one address, or one message to each subscriber"
