"""The store's commands end to end, through `bulletin.cli.main` on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from bulletin.cli import main
from bulletin.cli import store as store_cli
from bulletin.store import db, queries
from bulletin.store.models import Event, Subscriber, Subscription

SAMPLE = Path(__file__).resolve().parent.parent / "subscribers" / "imrap-sample.csv"
MESSY = Path(__file__).resolve().parent / "data" / "messy-fr-excel.csv"


@pytest.fixture
def cli(tmp_path, db_url, make_config, capsys):
    """Run `bulletin ARGS` against a configuration on this test's database: (exit status, stdout, stderr)."""
    make_config(db_url=db_url)
    config = str(tmp_path / "bulletin.toml")

    def run(*args: str) -> tuple[int, str, str]:
        status = main(["--config", config, *args])
        out, err = capsys.readouterr()
        return status, out, err

    run.url = db_url
    return run


def snapshot(url: str) -> dict:
    """Subscribers, subscriptions and events as plain values (timestamps included: nothing may be touched)."""
    with db.session_scope(db.engine_for(url)) as s:
        people = {r.email: (r.name, r.language, r.status, r.attributes, r.updated_at)
                  for r in s.scalars(select(Subscriber))}
        subs = sorted(s.execute(select(Subscription.subscriber_id, Subscription.list_id, Subscription.status,
                                       Subscription.updated_at)).all())
        events = s.scalar(select(func.count()).select_from(Event))
    return {"people": people, "subs": subs, "events": events}


def test_lists_add_and_counts(cli):
    status, out, err = cli("lists")
    assert status == 0 and out == "" and "no lists yet" in err
    assert cli("lists", "add", "imrap", "--name", "IMRAP - Bulletin mensuel")[0] == 0
    status, out, _ = cli("subscribers", "import", str(SAMPLE), "--list", "imrap")
    assert status == 0
    assert "31 rows (cp1252, delimiter ';')" in out and "added 31," in out and "rejected 0" in out
    cli("subscribers", "unsubscribe", "rachel.smith@example.com")
    status, out, _ = cli("lists")
    assert out.splitlines() == ["imrap — IMRAP - Bulletin mensuel: 30 subscribed, 1 unsubscribed"]
    assert out.startswith("imrap ")


@pytest.mark.parametrize(
    "args, message",
    [
        (["lists", "add", "imrap", "--name", "again"], "error: imrap: a list named 'imrap' exists already"),
        (["lists", "add", "Bad Slug", "--name", "x"], "error: Bad Slug: a list slug is lower-case letters"),
        (["lists", "add", "news", "--name", "  "], "error: --name: a list needs a name"),
        (["subscribers", "import", "MISSING", "--list", "imrap"], "error: MISSING: no such file"),
        (["subscribers", "import", str(SAMPLE), "--list", "nope"], "error: --list: no list named 'nope'"),
        (["subscribers", "export", "--list", "nope"], "error: --list: no list named 'nope'"),
        (["subscribers", "export", "--list", "imrap", "--out", "MISSING/x.csv"],
         "error: MISSING/x.csv: cannot write: no such folder"),
        (["subscribers", "export", "--list", "imrap", "--delimiter", "::"], "error: --delimiter: not a delimiter"),
        (["subscribers", "add", "awa@@example.org", "--list", "imrap"], "not a valid email address"),
        (["subscribers", "add", "new@example.org", "--list", "imrap", "--language", "klingon"],
         "error: --language: unknown language 'klingon' (known: fr, en)"),
        (["subscribers", "add", "awa.traore@example.org", "--list", "imrap"],
         "error: awa.traore@example.org: unsubscribed from 'imrap' before: only they can subscribe again"),
        (["subscribers", "unsubscribe", "nobody@example.org"], "error: nobody@example.org: no subscriber with"),
        (["subscribers", "unsubscribe", "moussa.kone@example.org", "--list", "other"],
         "error: moussa.kone@example.org: not on the list 'other'"),
    ],
)
def test_mistakes_are_clear_errors_that_change_nothing(cli, tmp_path, args, message):
    cli("lists", "add", "imrap", "--name", "IMRAP")
    cli("lists", "add", "other", "--name", "Other")
    cli("subscribers", "import", str(SAMPLE), "--list", "imrap")
    cli("subscribers", "unsubscribe", "awa.traore@example.org", "--list", "imrap")
    before = snapshot(cli.url)
    status, out, err = cli(*[a.replace("MISSING", str(tmp_path / "missing.csv")) for a in args])
    assert status == 1
    assert err.startswith("error: ") and message.replace("MISSING", str(tmp_path / "missing.csv")) in err
    assert "Traceback" not in err
    assert snapshot(cli.url) == before


def test_not_a_csv_changes_nothing(cli, tmp_path):
    cli("lists", "add", "imrap", "--name", "IMRAP")
    cli("subscribers", "import", str(SAMPLE), "--list", "imrap")
    before = snapshot(cli.url)
    photo = tmp_path / "photo.csv"
    photo.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" * 20)
    status, _, err = cli("subscribers", "import", str(photo), "--list", "imrap")
    assert status == 1 and err == f"error: {photo}: this is not a CSV file (it holds binary data)\n"
    assert snapshot(cli.url) == before


def test_import_report_and_dry_run(cli):
    cli("lists", "add", "imrap", "--name", "IMRAP")
    status, out, _ = cli("subscribers", "import", str(MESSY), "--list", "imrap", "--dry-run")
    assert status == 0 and out.startswith("dry run, nothing written: ")
    assert "added 11, updated 0, unchanged 0, duplicates merged 1, not re-subscribed 0, rejected 4" in out
    assert snapshot(cli.url)["people"] == {}
    status, out, _ = cli("subscribers", "import", str(MESSY), "--list", "imrap")
    lines = out.splitlines()
    assert "added 11," in lines[1]
    assert lines[lines.index("rejected:") + 1] == (
        "  line 5: 'fanta@@example.org': not a valid email address: "
        "The part after the @-sign contains invalid characters: '@'."
    )
    assert "  line 7: '': no email address" in lines
    assert "  line 9: 'AWA@example.org': same address as line 2: merged" in lines
    assert any(line.startswith("  line 8: 'mariam@example.org': unknown language 'bambara'") for line in lines)
    assert len(snapshot(cli.url)["people"]) == 11


def test_progress_bar_on_stderr_for_large_files(cli, monkeypatch):
    cli("lists", "add", "imrap", "--name", "IMRAP")
    monkeypatch.setattr(store_cli, "PROGRESS_BYTES", 1)
    status, out, err = cli("subscribers", "import", str(SAMPLE), "--list", "imrap")
    assert status == 0 and "importing imrap-sample.csv" in err and "importing" not in out


def test_add_and_unsubscribe_one(cli):
    cli("lists", "add", "imrap", "--name", "IMRAP")
    cli("lists", "add", "partners", "--name", "Partenaires")
    assert cli("subscribers", "add", "Rachel@Example.com", "--list", "imrap", "--name", "Rachel",
               "--language", "English")[1] == "Rachel@example.com subscribed to imrap\n"
    assert cli("subscribers", "add", "rachel@example.com", "--list", "imrap")[1] == \
        "Rachel@example.com already subscribed to imrap\n"
    assert cli("subscribers", "add", "rachel@example.com", "--list", "partners")[0] == 0
    assert cli("subscribers", "unsubscribe", "RACHEL@example.com")[1] == \
        "RACHEL@example.com unsubscribed from imrap, partners\n"
    assert cli("subscribers", "unsubscribe", "rachel@example.com")[1] == "rachel@example.com was already unsubscribed\n"
    with db.session_scope(db.engine_for(cli.url)) as s:
        kinds = sorted(s.scalars(select(Event.kind)))
        person = queries.find_subscriber(s, "rachel@example.com")
        assert (person.name, person.language) == ("Rachel", "en")
    assert kinds == ["subscribe", "subscribe", "unsubscribe", "unsubscribe"]


def test_export_then_import_gives_the_same_state(cli, tmp_path, make_config, capsys):
    cli("lists", "add", "imrap", "--name", "IMRAP")
    cli("subscribers", "import", str(MESSY), "--list", "imrap")
    cli("subscribers", "unsubscribe", "rachel@example.com")
    with db.session_scope(db.engine_for(cli.url)) as s:
        s.scalar(select(Subscriber).where(Subscriber.email_key == "mariam@example.org")).status = "bounced"
    out_file = tmp_path / "export.csv"
    status, out, err = cli("subscribers", "export", "--list", "imrap", "--out", str(out_file))
    assert status == 0 and "11 subscribers of imrap written" in err
    # The organisation is French: semicolons, as French Excel splits on them.
    assert out_file.read_bytes().startswith(b"\xef\xbb\xbfemail;name;language;status;subscriber_status;")

    # Into a fresh SQLite database, whatever the first one was.
    other = tmp_path / "other"
    other.mkdir()
    other_config = other / "bulletin.toml"
    other_config.write_text(f'[database]\nurl = "sqlite:///{other / "b.db"}"\n')
    assert main(["--config", str(other_config), "lists", "add", "imrap", "--name", "IMRAP"]) == 0
    assert main(["--config", str(other_config), "subscribers", "import", str(out_file), "--list", "imrap"]) == 0
    assert "added 11," in capsys.readouterr().out

    def state(url):
        with db.session_scope(db.engine_for(url)) as s:
            return sorted(
                (p.email, p.name, p.language, p.status, p.attributes, sub.status)
                for p, sub in s.execute(select(Subscriber, Subscription).join(Subscription))
            )

    assert state(f"sqlite:///{other / 'b.db'}") == state(cli.url)
    # and exporting the copy gives the same file
    again = tmp_path / "again.csv"
    assert main(["--config", str(other_config), "subscribers", "export", "--list", "imrap", "--out", str(again)]) == 0
    assert again.read_bytes() == out_file.read_bytes()


def test_export_to_stdout(cli):
    cli("lists", "add", "imrap", "--name", "IMRAP")
    cli("subscribers", "add", "awa@example.org", "--list", "imrap", "--name", "Awa Traoré")
    status, out, _ = cli("subscribers", "export", "--list", "imrap")
    assert status == 0
    assert out.splitlines() == [
        "\ufeffemail;name;language;status;subscriber_status",
        "awa@example.org;Awa Traoré;fr;subscribed;active",
    ]
