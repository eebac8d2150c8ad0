"""Exports: formulas neutralised, the organisation's delimiter, only the attributes rows have, written atomically
(an error or a SIGKILL leaves nothing behind), and read back by the importer to the same state."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import insert, select

from bulletin.cli import main
from bulletin.errors import BulletinError
from bulletin.services import consent
from bulletin.store import db, queries
from bulletin.store.csvfile import FORMULA_START
from bulletin.store.exporter import CsvFormat, csv_format, export_subscribers, export_to_file
from bulletin.store.importer import import_subscribers
from bulletin.store.models import Subscriber, Subscription

HYPERLINK = '=HYPERLINK("http://x.example/","click me")'
PEOPLE = {
    # email: (name, language, subscriber status, attributes, subscription status)
    "awa@example.org": (HYPERLINK, "fr", "active", {"ville": "Bamako", "note": "=1+1"}, "subscribed"),
    "moussa@example.org": ("@SUM(A1:A2)", "fr", "active",
                           {"telephone": "+223 20 22 18 48", "ville": "Ségou", "cmd": "+cmd|' /C calc'!A0"},
                           "subscribed"),
    "fanta@example.org": ("-Fanta", "fr", "active", {"=key": "-1", "ville": "Mopti"}, "unsubscribed"),
    "john@example.com": ("John 'Jack' Smith", "en", "bounced", {}, "subscribed"),
    "mariam@example.org": ("Mariam; Diarra, \"Mimi\"", "fr", "active", {"ville": "Kayes"}, "unconfirmed"),
}


def seed(engine) -> None:
    with db.session_scope(engine) as s:
        imrap = queries.create_list(s, "imrap", "IMRAP")
        other = queries.create_list(s, "partners", "Partenaires")
        for email, (name, language, status, attributes, sub_status) in PEOPLE.items():
            p = Subscriber(email=email, email_key=email, name=name, language=language, status=status,
                           attributes=attributes)
            s.add(p)
            s.flush()
            s.add(Subscription(subscriber_id=p.id, list_id=imrap.id, status=sub_status))
        # Someone on another list only: their attribute is no column of imrap's export.
        p = Subscriber(email="ibrahim@example.org", email_key="ibrahim@example.org", name="Ibrahim", language="fr",
                       attributes={"partner_only": "x"})
        s.add(p)
        s.flush()
        s.add(Subscription(subscriber_id=p.id, list_id=other.id, status="subscribed"))


def state(engine, slug: str = "imrap") -> list[tuple]:
    with db.session_scope(engine) as s:
        ml = queries.get_list(s, slug)
        return sorted(
            (p.email, p.name, p.language, p.status, p.attributes, sub.status)
            for p, sub in s.execute(select(Subscriber, Subscription).join(Subscription)
                                    .where(Subscription.list_id == ml.id))
        )


def export_bytes(engine, **options) -> bytes:
    out = io.BytesIO()
    with db.session_scope(engine) as s:
        export_subscribers(s, queries.get_list(s, "imrap"), out, **options)
    return out.getvalue()


def cells(data: bytes, delimiter: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=delimiter))


def test_formulas_are_neutralised_and_read_back_to_the_same_state(db_url, tmp_path):
    engine = db.engine_for(db_url)
    seed(engine)
    path = tmp_path / "imrap.csv"
    with db.session_scope(engine) as s:
        assert export_to_file(s, queries.get_list(s, "imrap"), path, fmt=CsvFormat(";")) == 5
    rows = cells(path.read_bytes(), ";")
    flat = [c for row in rows for c in row]
    assert not [c for c in flat if c.startswith(FORMULA_START)]
    by_email = {row[0]: row for row in rows[1:]}
    assert by_email["awa@example.org"][1] == "'" + HYPERLINK
    assert by_email["moussa@example.org"][1] == "'@SUM(A1:A2)"
    assert "'+223 20 22 18 48" in by_email["moussa@example.org"]
    assert "'=key" in rows[0] and "'-1" in by_email["fanta@example.org"]

    # Opened back by the importer, into a fresh database: the same state, formulas as they were stored.
    copy = db.engine_for(f"sqlite:///{tmp_path / 'copy.db'}")
    with db.session_scope(copy) as s:
        report = import_subscribers(s, path, queries.create_list(s, "imrap", "IMRAP"), languages=["fr", "en"],
                                    default_language="fr", rules=consent)
    assert (report.added, report.rejected) == (5, [])
    assert state(copy) == state(engine)


def test_raw_export_writes_formulas_as_they_are(db_url):
    engine = db.engine_for(db_url)
    seed(engine)
    rows = cells(export_bytes(engine, fmt=CsvFormat(","), raw=True), ",")
    assert {row[0]: row[1] for row in rows[1:]}["awa@example.org"] == HYPERLINK


def test_only_attributes_of_exported_rows_the_most_common_first_and_rows_stop_at_their_last_value(db_url):
    engine = db.engine_for(db_url)
    seed(engine)
    data = export_bytes(engine, fmt=CsvFormat(","))
    assert data.startswith(b"\xef\xbb\xbf")
    rows = cells(data, ",")
    assert rows[0] == ["email", "name", "language", "status", "subscriber_status",
                       "ville", "'=key", "cmd", "note", "telephone"]
    lengths = {row[0]: len(row) for row in rows[1:]}
    assert lengths == {"awa@example.org": 9, "fanta@example.org": 7, "john@example.com": 5, "mariam@example.org": 6,
                       "moussa@example.org": 10}


def test_an_error_while_writing_leaves_the_old_file_and_nothing_else(db_url, tmp_path):
    engine = db.engine_for(db_url)
    seed(engine)
    with db.engine_for(db_url).begin() as conn:  # enough rows for a progress call in the middle
        ml_id = conn.scalar(select(Subscription.list_id).limit(1))
        ids = conn.execute(insert(Subscriber).returning(Subscriber.id), [
            {"email": f"u{i}@example.org", "email_key": f"u{i}@example.org", "name": "", "language": "fr",
             "attributes": {}} for i in range(2500)]).scalars().all()
        conn.execute(insert(Subscription), [{"subscriber_id": i, "list_id": ml_id, "status": "subscribed"}
                                            for i in ids])
    folder = tmp_path / "exports"
    folder.mkdir()
    path = folder / "imrap.csv"
    path.write_bytes(b"the previous export\n")

    def fail(n: int) -> None:
        raise OSError(28, "No space left on device")

    with db.session_scope(engine) as s, pytest.raises(BulletinError) as exc:
        export_to_file(s, queries.get_list(s, "imrap"), path, progress=fail)
    assert str(exc.value) == f"{path}: cannot write: No space left on device"
    assert os.listdir(folder) == ["imrap.csv"]
    assert path.read_bytes() == b"the previous export\n"


def test_a_folder_or_a_missing_folder_is_a_clear_error(sqlite_url, tmp_path):
    engine = db.engine_for(sqlite_url)
    seed(engine)
    with db.session_scope(engine) as s:
        ml = queries.get_list(s, "imrap")
        with pytest.raises(BulletinError) as exc:
            export_to_file(s, ml, tmp_path)
        assert str(exc.value) == f"{tmp_path}: cannot write: this is a folder"
        with pytest.raises(BulletinError) as exc:
            export_to_file(s, ml, tmp_path / "nope" / "x.csv")
        assert str(exc.value) == f"{tmp_path / 'nope' / 'x.csv'}: cannot write: no such folder"


KILLED_EXPORT = textwrap.dedent("""
    import sys
    from bulletin.store import db, queries
    from bulletin.store.exporter import export_to_file

    def pause(n):
        print("writing", n, flush=True)
        sys.stdin.read()  # until killed

    with db.session_scope(db.engine_for(sys.argv[1])) as s:
        export_to_file(s, queries.get_list(s, "big"), sys.argv[2], progress=pause)
""")


@pytest.mark.parametrize("unnamed", [True, False], ids=["O_TMPFILE", "named-temporary-file"])
def test_a_killed_export_leaves_the_old_file_and_no_part_file(sqlite_url, tmp_path, unnamed):
    """A real SIGKILL in the middle of writing: the previous export is intact and no partial file is left.

    Without O_TMPFILE (other systems, some file systems) a named temporary file is unavoidable and stays after
    a SIGKILL: that case is shown, not hidden."""
    engine = db.engine_for(sqlite_url)
    with db.session_scope(engine) as s:
        queries.create_list(s, "big", "Big")
    with engine.begin() as conn:
        ml_id = conn.scalar(select(Subscription.list_id).limit(1)) or 1
        ids = conn.execute(insert(Subscriber).returning(Subscriber.id), [
            {"email": f"u{i}@example.org", "email_key": f"u{i}@example.org", "name": f"U {i}", "language": "fr",
             "attributes": {"ville": "Bamako"}} for i in range(5000)]).scalars().all()
        conn.execute(insert(Subscription), [{"subscriber_id": i, "list_id": ml_id, "status": "subscribed"}
                                            for i in ids])
    out = tmp_path / "exports"
    out.mkdir()
    target = out / "big.csv"
    target.write_bytes(b"the previous export\n")
    script = KILLED_EXPORT if unnamed else KILLED_EXPORT.replace(
        "import sys\n", "import sys\nimport bulletin.files\nbulletin.files._unnamed_file = lambda folder: None\n", 1)
    child = subprocess.Popen([sys.executable, "-c", script, sqlite_url, str(target)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "writing 2000\n"  # 2000 rows are written, 3000 to go
        during = sorted(os.listdir(out))
        child.kill()  # SIGKILL: no handler, no cleanup runs
        assert child.wait(timeout=30) == -9
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
        child.stdin.close()
    assert target.read_bytes() == b"the previous export\n"
    if unnamed:
        assert during == ["big.csv"] and sorted(os.listdir(out)) == ["big.csv"]
    else:
        left = [n for n in os.listdir(out) if n != "big.csv"]
        assert len(left) == 1 and left[0].startswith(".big.csv.") and left[0].endswith(".part")


def test_the_delimiter_follows_the_organisation_language_and_can_be_chosen(tmp_path, make_config, capsys):
    def export(language: str, *args: str) -> tuple[int, bytes, str]:
        cfg_path = tmp_path / f"{language}.toml"
        cfg_path.write_text(f'[organisation]\nlanguage = "{language}"\n[database]\n'
                            f'url = "sqlite:///{tmp_path / "b.db"}"\n', encoding="utf-8")
        out = tmp_path / f"{language}-{'-'.join(args).replace(chr(9), 'tab')}.csv"
        status = main(["--config", str(cfg_path), "subscribers", "export", "--list", "imrap", "--out", str(out),
                       *args])
        err = capsys.readouterr().err
        return status, out.read_bytes() if out.exists() else b"", err

    engine = db.engine_for(f"sqlite:///{tmp_path / 'b.db'}")
    seed(engine)
    status, fr, _ = export("fr")
    assert status == 0 and fr.startswith("\ufeffemail;name;language;".encode())
    status, en, _ = export("en")
    assert status == 0 and en.startswith("\ufeffemail,name,language,".encode())
    assert cells(fr, ";") == cells(en, ",")
    status, tab, _ = export("fr", "--delimiter", "tab")
    assert status == 0 and cells(tab, "\t") == cells(fr, ";")
    status, data, err = export("fr", "--delimiter", ":")
    assert status == 1 and data == b""
    assert err == "error: --delimiter: not a delimiter the import reads: ':' (one of ',', ';', '\\t', '|')\n"


def test_csv_format_by_language():
    assert csv_format("fr") == CsvFormat(";", True)
    assert csv_format("en") == CsvFormat(",", True)
    assert csv_format("fr", "|") == CsvFormat("|", True)
