"""Property-based: generated CSV files (any encoding, delimiter, quoting, junk) never make the import raise
anything but a clear ImportFileError, never store an invalid address, and every data row is accounted for."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bulletin.errors import ImportFileError
from bulletin.store import db, queries
from bulletin.store.addresses import normalise_email
from bulletin.services import consent
from bulletin.store.importer import import_subscribers
from bulletin.store.models import Subscriber
from conftest import _require_pg, reset_pg

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
EMAIL = st.one_of(
    st.builds(lambda a, d: f"{a}@{d}", st.from_regex(r"[a-zA-Z0-9._+-]{1,12}", fullmatch=True),
              st.sampled_from(["example.org", "EXAMPLE.com", "example", "exa mple.org", "example.org."])),
    st.sampled_from(["awa@example.org", "AWA@example.org", " fanta@example.org ", "not an address", ""]),
    TEXT,
)
ROW = st.tuples(EMAIL, TEXT, st.sampled_from(["fr", "en", "FR", "English", "xx", ""]), TEXT)
HEADERS = st.sampled_from([["email", "name", "language", "city"], ["Courriel", "Nom", "Langue", "Ville"],
                           ["E-mail", "Prénom", "lang", "x"]])


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request):
    """One database per backend for all examples: each example rolls back what it wrote."""
    with tempfile.TemporaryDirectory() as d:
        if request.param == "sqlite":
            url = f"sqlite:///{Path(d) / 'props.db'}"
        else:
            url = _require_pg()
            reset_pg(url)
        engine = db.engine_for(url)
        with db.session_scope(engine) as s:
            queries.create_list(s, "imrap", "IMRAP")
        yield engine
        db.dispose_all()


def _import(engine, path):
    """Import, check the invariants inside the transaction, then roll back so every example starts empty."""
    with db.session_scope(engine) as s:
        report = import_subscribers(s, path, queries.get_list(s, "imrap"), languages=["fr", "en"],
                                    default_language="fr", rules=consent)
        stored = s.execute(select(Subscriber.email, Subscriber.email_key, Subscriber.language)).all()
        s.rollback()
    return report, stored


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(HEADERS, st.lists(ROW, max_size=15), st.sampled_from([",", ";", "\t"]),
       st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]), st.sampled_from(["\r\n", "\n"]),
       st.lists(st.integers(0, 20), max_size=3))
def test_generated_files(engine, header, rows, delimiter, encoding, newline, blank_at):
    buf = io.StringIO(newline="")
    # A lone CR in a value must be quoted when lines end in LF alone (csv quotes only the line ending's own characters).
    quoting = csv.QUOTE_ALL if newline == "\n" else csv.QUOTE_MINIMAL
    w = csv.writer(buf, delimiter=delimiter, lineterminator=newline, quoting=quoting)
    w.writerow(header)
    lines = [header]
    for r in rows:
        w.writerow(r)
        lines.append(list(r))
    text = buf.getvalue()
    for at in blank_at:  # blank lines anywhere after the header
        parts = text.split(newline)
        parts.insert(min(at + 1, len(parts)), "")
        text = newline.join(parts)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    with tempfile.NamedTemporaryFile(suffix=".csv") as f:
        f.write(data)
        f.flush()
        report, stored = _import(engine, f.name)
    data_rows = sum(1 for r in rows if any(c.strip() for c in r))
    assert report.rows == data_rows
    assert report.accounted == report.rows
    for email, key, language in stored:
        assert normalise_email(email) == email and key == email.lower()
        assert language in ("fr", "en")
    assert len({k for _, k, _ in stored}) == len(stored)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300), st.sampled_from([b"", b"email\n", b"courriel;nom\r\n"]))
def test_arbitrary_bytes_never_crash(engine, junk, prefix):
    with tempfile.NamedTemporaryFile(suffix=".csv") as f:
        f.write(prefix + junk)
        f.flush()
        try:
            report, stored = _import(engine, f.name)
        except ImportFileError as e:
            assert e.what and e.where == f.name
            return
    assert report.accounted == report.rows
    for email, key, _ in stored:
        assert normalise_email(email) == email and key == email.lower()
