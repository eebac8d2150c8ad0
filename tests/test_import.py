"""CSV import, checked row by row on SQLite and PostgreSQL: a messy French Excel export, the same rows in every
encoding and delimiter, files that are not CSV at all, and the never-re-subscribe rule."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bulletin.errors import ImportFileError
from bulletin.store import db, queries
from bulletin.services import consent
from bulletin.store.importer import import_subscribers
from bulletin.store.models import Event, MailingList, Subscriber, Subscription, utcnow

DATA = Path(__file__).parent / "data"
LANGS = ["fr", "en"]


def state(session) -> dict[str, tuple]:
    """Everything an import may change: each subscriber with its subscriptions, keyed by address."""
    out = {}
    for s in session.scalars(select(Subscriber)):
        subs = {
            (ml_slug, status)
            for ml_slug, status in session.execute(
                select(MailingList.slug, Subscription.status)
                .join(Subscription, Subscription.list_id == MailingList.id)
                .where(Subscription.subscriber_id == s.id)
            )
        }
        out[s.email] = (s.name, s.language, s.status, dict(s.attributes), frozenset(subs), s.updated_at)
    return out


def run_import(engine, path, slug="imrap", **kw):
    with db.session_scope(engine) as session:
        ml = queries.get_list(session, slug)
        return import_subscribers(session, path, ml, languages=LANGS, default_language="fr", rules=consent, **kw)


def seed(engine):
    """Before the import: someone who left, someone whose address bounced, a known subscriber, one on another list."""
    with db.session_scope(engine) as s:
        imrap = queries.create_list(s, "imrap", "IMRAP")
        partners = queries.create_list(s, "partners", "Partenaires")
        people = {
            "left@example.org": ("Parti", "fr", "active", imrap, "subscribed"),
            "bounced@example.org": ("", "en", "bounced", imrap, "subscribed"),
            "known@example.org": ("Known", "fr", "active", imrap, "subscribed"),
            "ibrahim@example.org": ("Ibrahim Touré", "fr", "active", partners, "subscribed"),
        }
        for email, (name, lang, status, ml, sub_status) in people.items():
            p = Subscriber(email=email, email_key=email, name=name, language=lang, status=status, attributes={})
            s.add(p)
            s.flush()
            s.add(Subscription(subscriber_id=p.id, list_id=ml.id, status=sub_status))
            s.flush()
            if email == "left@example.org":
                queries.unsubscribe(s, p.id, imrap.id, source="web")


@pytest.mark.parametrize("batch_size", [1000, 2], ids=["one-batch", "batches-of-2"])
def test_messy_french_excel_file_row_by_row(db_url, batch_size):
    """Row by row; with batches of 2 rows, a duplicate meets its first line in an earlier batch."""
    engine = db.engine_for(db_url)
    seed(engine)
    report = run_import(engine, DATA / "messy-fr-excel.csv", batch_size=batch_size)

    assert (report.encoding, report.delimiter) == ("cp1252", ";")
    assert report.rows == 16
    assert (report.added, report.updated, report.unchanged) == (8, 1, 0)
    assert [(n.line, n.email) for n in report.rejected] == [
        (5, "fanta@@example.org"), (7, ""), (12, "oumar@example.com"), (19, "cheikh@example"),
    ]
    reasons = [n.reason for n in report.rejected]
    assert "not a valid email address" in reasons[0]
    assert reasons[1] == "no email address"
    assert "8 values but the header has 6 columns" in reasons[2]
    assert "not a valid email address" in reasons[3]
    assert [(n.line, n.reason) for n in report.duplicates] == [(9, "same address as line 2: merged")]
    assert [(n.line, n.email) for n in report.not_resubscribed] == [
        (14, "left@example.org"), (15, "bounced@example.org"),
    ]
    assert "unsubscribed from 'imrap' before" in report.not_resubscribed[0].reason
    assert "bounced before" in report.not_resubscribed[1].reason
    assert [(n.line, n.email) for n in report.warnings] == [(8, "mariam@example.org")]
    assert "unknown language 'bambara'" in report.warnings[0].reason
    assert report.accounted == report.rows

    with db.session_scope(engine) as s:
        got = {email: v[:5] for email, v in state(s).items()}
    imrap = lambda status="subscribed": frozenset({("imrap", status)})  # noqa: E731
    assert got == {
        # lines 2 and 9 merged: the later name and city win, the phone from line 2 is kept
        "awa@example.org": ("Awa Kadi Traoré", "fr", "active", {"Ville": "Kati", "Téléphone": "+223 70 00 00 01"},
                            imrap()),
        # quoted fields, spaces trimmed, domain lower-cased, a delimiter inside quotes
        "MOUSSA.Kone@example.org": ("Moussa Koné", "fr", "active", {"Ville": "Ségou; quartier Médine"}, imrap()),
        "rachel@example.com": ("Rachel Smith", "en", "active", {"Ville": "London"}, imrap()),
        # unknown language: kept, in the organisation's language
        "mariam@example.org": ("Mariam Dembélé", "fr", "active", {"Ville": "Bamako"}, imrap()),
        # a quoted value over two lines (CRLF inside)
        "seydou@example.org": ("Seydou Keïta", "fr", "active", {"Ville": "Kita\r\ncercle de Kita"}, imrap()),
        # trailing empty values are not an error
        "kadiatou@example.com": ("Kadiatou Cissé", "fr", "active", {"Ville": "Bamako"}, imrap()),
        "aissata@example.org": ("Aïssata Maïga", "fr", "active", {"Ville": "Gao"}, imrap()),
        # unchanged: they left, and the import does not bring them back (nor changes their name)
        "left@example.org": ("Parti", "fr", "active", {}, imrap("unsubscribed")),
        "bounced@example.org": ("", "en", "bounced", {}, imrap()),
        "known@example.org": ("Person Known", "en", "active", {"Ville": "Paris"}, imrap()),
        "ibrahim@example.org": ("Ibrahim Touré", "fr", "active", {"Ville": "Tombouctou"},
                                frozenset({("imrap", "subscribed"), ("partners", "subscribed")})),
    }


def test_same_file_twice_changes_nothing_the_second_time(db_url):
    engine = db.engine_for(db_url)
    seed(engine)
    run_import(engine, DATA / "messy-fr-excel.csv")
    with db.session_scope(engine) as s:
        before = state(s)
        events = s.scalar(select(func.count()).select_from(Event))
    again = run_import(engine, DATA / "messy-fr-excel.csv")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 9)
    assert len(again.rejected) == 4 and len(again.not_resubscribed) == 2 and len(again.duplicates) == 1
    with db.session_scope(engine) as s:
        assert state(s) == before  # updated_at included: not even touched
        assert s.scalar(select(func.count()).select_from(Event)) == events


ROWS = [
    ["awa@example.org", "Awa Traoré", "fr", "Bamako"],
    ["John.Doe@Example.COM", "John “JD” Doe, Jr.", "en", "Londres; UK"],
    ["not-an-address", "Personne", "fr", ""],
    ["fanta@example.org", "Fanta «la grande» Diarra", "", "Mopti"],
]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("header", [["email", "name", "language", "city"],
                                    ["Adresse e-mail", "Nom", "Langue", "Ville"],
                                    ["E-mail", "Name", "LANGUAGE", "City"]])
def test_every_encoding_delimiter_and_header_language(sqlite_url, tmp_path, encoding, delimiter, header):
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(ROWS)
    path = tmp_path / "list.csv"
    path.write_bytes(buf.getvalue().encode(encoding))
    engine = db.engine_for(sqlite_url)
    with db.session_scope(engine) as s:
        queries.create_list(s, "imrap", "IMRAP")
    report = run_import(engine, path)
    assert report.delimiter == delimiter
    assert (report.added, [n.line for n in report.rejected]) == (3, [4])
    with db.session_scope(engine) as s:
        got = {e: v[:4] for e, v in state(s).items()}
    assert got == {
        "awa@example.org": ("Awa Traoré", "fr", "active", {header[3]: "Bamako"}),
        "John.Doe@example.com": ("John “JD” Doe, Jr.", "en", "active", {header[3]: "Londres; UK"}),
        "fanta@example.org": ("Fanta «la grande» Diarra", "fr", "active", {header[3]: "Mopti"}),
    }


def test_blank_lines_before_the_header_and_lone_cr_line_ends(sqlite_url, tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(b"\r\r\nemail,name\rawa@example.org,Awa\r\rbad,Bad\r")
    engine = db.engine_for(sqlite_url)
    with db.session_scope(engine) as s:
        queries.create_list(s, "imrap", "IMRAP")
    report = run_import(engine, path)
    assert report.added == 1
    assert [(n.line, n.email) for n in report.rejected] == [(6, "bad")]


def _count(engine):
    with db.session_scope(engine) as s:
        return (
            s.scalar(select(func.count()).select_from(Subscriber)),
            s.scalar(select(func.count()).select_from(Subscription)),
        )


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "the file is empty"),
        (b"\r\n\r\n  \r\n", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06", "not a CSV file"),
        (gzip.compress(b"email\nawa@example.org\n" * 40), "not a CSV file"),
        (b"nom;ville\nAwa;Bamako\n", "no email column"),
        ("courriel;Adresse e-mail\nawa@example.org;x@example.org\n".encode(), "two columns are the email"),
    ],
    ids=["empty", "blank-lines", "png", "gzip", "no-email-column", "two-email-columns"],
)
def test_not_a_csv_file_is_a_clear_error_and_writes_nothing(db_url, tmp_path, content, message):
    engine = db.engine_for(db_url)
    seed(engine)
    before = _count(engine)
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError) as exc:
        run_import(engine, path)
    assert message in str(exc.value.what)
    assert exc.value.where == str(path)
    assert _count(engine) == before


def test_an_error_late_in_the_file_undoes_the_batches_before_it(db_url, tmp_path):
    """All or nothing: 30 batches are written, then an undecodable line: none of them stay."""
    engine = db.engine_for(db_url)
    seed(engine)
    before = _count(engine)
    lines = [b"email,name"] + [f"user{i}@example.org,User {i}".encode() for i in range(3000)]
    lines.append(b"late@example.org,Caf\xe9 au lait")  # Windows-1252 in a file that began as UTF-8
    path = tmp_path / "late.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"\n".join(lines) + b"\n")
    with pytest.raises(ImportFileError) as exc:
        run_import(engine, path, batch_size=100)
    assert "not valid utf-8-sig text" in str(exc.value.what)
    assert _count(engine) == before


def test_missing_file_and_folder(sqlite_url, tmp_path):
    engine = db.engine_for(sqlite_url)
    seed(engine)
    with pytest.raises(ImportFileError, match="no such file"):
        run_import(engine, tmp_path / "nope.csv")
    with pytest.raises(ImportFileError, match="folder"):
        run_import(engine, tmp_path)


def test_status_column_stops_mail_but_never_starts_it(db_url, tmp_path):
    engine = db.engine_for(db_url)
    seed(engine)
    path = tmp_path / "statuses.csv"
    path.write_text(
        "email,status,subscriber_status\n"
        "known@example.org,unsubscribed,\n"       # stops mail: applied, with an event
        "left@example.org,subscribed,active\n"   # would restart it: refused
        "new@example.org,unsubscribed,\n"        # a new address may come in as unsubscribed
        "other@example.org,maybe,\n"             # unknown status: rejected
        "third@example.org,,complained\n",       # a new address that complained
        encoding="utf-8",
    )
    report = run_import(engine, path)
    assert (report.added, report.updated) == (2, 1)
    assert [n.line for n in report.not_resubscribed] == [3]
    assert [(n.line, n.reason.split(" (")[0]) for n in report.rejected] == [(5, "unknown status 'maybe'")]
    with db.session_scope(engine) as s:
        got = {e: (v[2], v[4]) for e, v in state(s).items()}
        kinds = sorted(s.scalars(select(Event.kind).where(Event.source == "import:statuses.csv")))
    assert got["known@example.org"] == ("active", frozenset({("imrap", "unsubscribed")}))
    assert got["left@example.org"] == ("active", frozenset({("imrap", "unsubscribed")}))
    assert got["new@example.org"] == ("active", frozenset({("imrap", "unsubscribed")}))
    assert got["third@example.org"] == ("complained", frozenset({("imrap", "subscribed")}))
    assert kinds == ["unsubscribe", "unsubscribe"]


def test_batched_writes_store_what_the_models_store(db_url, tmp_path):
    """The bulk paths bypass the ORM: their timestamps and attributes must read back like the ORM's own."""
    engine = db.engine_for(db_url)
    seed(engine)
    start = utcnow()
    path = tmp_path / "one.csv"
    path.write_text("email,ville\nnew@example.org,Bamako\nknown@example.org,Paris\n", encoding="utf-8")
    run_import(engine, path)
    with db.session_scope(engine) as s:
        for email in ("new@example.org", "known@example.org"):
            p = queries.find_subscriber(s, email)
            assert p.updated_at.tzinfo is not None and 0 <= (p.updated_at - start).total_seconds() < 60
            assert p.attributes == {"ville": p.attributes["ville"]}
        # Compared in SQL, as delivery and status queries do: the import's rows sort with the ORM's rows.
        assert s.scalar(select(func.count()).select_from(Subscriber).where(Subscriber.updated_at >= start)) == 2
        if engine.dialect.name == "sqlite":
            raw = dict(s.execute(text(
                "SELECT email, updated_at FROM subscribers WHERE email IN ('new@example.org', 'left@example.org')"
            )).all())
            assert len(raw["new@example.org"]) == len(raw["left@example.org"])  # same text format
            assert raw["new@example.org"][10] == raw["left@example.org"][10] == " "


@pytest.mark.postgres
def test_an_address_added_meanwhile_aborts_the_import_cleanly(pg_url, tmp_path):
    """A web sign-up commits an address while the import is inserting it: a clear error, nothing imported."""
    import threading
    import time

    from bulletin.errors import BulletinError

    engine = db.engine_for(pg_url)
    seed(engine)
    before = _count(engine)
    path = tmp_path / "race.csv"
    path.write_text("email\nfirst@example.org\nrace@example.org\n", encoding="utf-8")
    other = engine.connect()
    tx = other.begin()
    other.execute(Subscriber.__table__.insert().values(
        email="race@example.org", email_key="race@example.org", name="", language="fr", status="active",
        attributes={}, created_at=func.now(), updated_at=func.now()))
    outcome: list[BaseException | object] = []

    def run():
        try:
            outcome.append(run_import(engine, path))
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            outcome.append(e)

    t = threading.Thread(target=run)
    t.start()
    time.sleep(1.0)  # the import is now waiting on the uncommitted row's unique key
    tx.commit()
    other.close()
    t.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], BulletinError)
    assert "added by someone else during the import" in str(outcome[0].what)
    assert _count(engine) == (before[0] + 1, before[1])  # only the other writer's row


def test_the_sample_list_imports_cleanly(sqlite_url, repo_root):
    engine = db.engine_for(sqlite_url)
    with db.session_scope(engine) as s:
        queries.create_list(s, "imrap", "IMRAP")
    report = run_import(engine, repo_root / "subscribers" / "imrap-sample.csv")
    assert (report.rows, report.added, report.rejected, report.warnings) == (31, 31, [], [])
    with db.session_scope(engine) as s:
        languages = dict(s.execute(select(Subscriber.language, func.count()).group_by(Subscriber.language)).all())
        awa = queries.find_subscriber(s, "awa.traore@example.org")
        assert (awa.name, awa.attributes) == ("Awa Traoré", {"Ville": "Bamako", "Organisation": "IMRAP"})
    assert languages == {"fr": 22, "en": 9}


def test_a_nul_character_in_utf16_text_rejects_its_row(db_url, tmp_path):
    engine = db.engine_for(db_url)
    seed(engine)
    path = tmp_path / "unicode.csv"
    path.write_bytes("email\tname\r\nawa@example.org\tAwa\r\nfanta@example.org\tFan\x00ta\r\n".encode("utf-16"))
    report = run_import(engine, path)
    assert report.added == 1
    assert [(n.line, n.reason) for n in report.rejected] == [(3, "the row holds a NUL character")]
