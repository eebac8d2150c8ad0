"""Property-based: generated CSV files (any encoding, delimiter, quoting, junk) never make the import raise
anything but a clear ImportFileError, never store an invalid address, and every data row and every physical line
is accounted for, whatever stray quotes, line endings and multi-line values the file holds."""

from __future__ import annotations

import csv
import io
import re
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
from bulletin.store.csvfile import MAX_ROW_LINES
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


def _fits(row) -> bool:
    """A row the reader must take as one: its values span at most MAX_ROW_LINES lines, and no line inside a value
    holds an '@' (such a line would look like a row of its own, and the row be refused as an unclosed quote)."""
    breaks = sum(len(re.findall(r"\r\n|\r|\n", v)) for v in row)
    return breaks < MAX_ROW_LINES and not any("@" in v and re.search(r"[\r\n]", v) for v in row)


ROW = st.tuples(EMAIL, TEXT, st.sampled_from(["fr", "en", "FR", "English", "xx", ""]), TEXT).filter(_fits)
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


def physical_lines(text: str) -> int:
    ends = len(re.findall(r"\r\n|\r|\n", text))
    return ends + (1 if text and not text.endswith(("\r", "\n")) else 0)


#: Free text that Windows-1252 can write: accents, spaces, apostrophes, and every delimiter.
WORDS = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz ABCÉÈéèêàçôûïŒœ€'-.,;\t|"), max_size=10)
PLAIN = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz ABCÉéèàçô'-."), min_size=1, max_size=10)
#: A value over several lines (a postal address), any line ending inside. Its first line holds text: a value that
#: starts with a line break, just below a stray quote, reads the same as that quote's closing (`"` alone on a line).
MULTI = st.tuples(PLAIN, st.lists(WORDS, min_size=1, max_size=2), st.sampled_from(["\n", "\r\n", "\r"])).map(
    lambda t: t[2].join([t[0], *t[1]]))
ENDS = st.sampled_from(["\r\n", "\n", "\r"])
KIND = st.sampled_from(["good", "good", "quoted", "multi", "stray", "inner", "blank", "separators"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([",", ";", "\t"]), st.integers(0, 2),
       st.lists(st.tuples(KIND, WORDS, PLAIN, MULTI, ENDS, st.integers(0, 2)), max_size=25),
       st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]), st.booleans())
def test_counts_add_up_for_any_file(engine, delimiter, email_at, lines, encoding, last_end):
    """Every generated row is counted once, every stray quote is refused at its own line and swallows nothing,
    and the report's lines are the file's physical lines: header + blank + rows + continuation lines."""
    header = ["nom", "ville"]
    header.insert(email_at, "email")
    out = io.StringIO(newline="")
    out.write(delimiter.join(header) + "\r\n")
    rows = added = 0
    stray_lines = []
    for i, (kind, words, plain, multi, end, at) in enumerate(lines):
        if kind in ("blank", "separators"):
            out.write((delimiter * at if kind == "separators" else "") + end)
            continue
        rows += 1
        line = physical_lines(out.getvalue()) + 1
        cells = [words, plain]
        if kind == "multi":
            cells[at % 2] = multi
        cells.insert(email_at, f"u{i}@example.org")
        if kind in ("stray", "inner"):  # written by hand: no delimiter or quote in the values
            cells = [c.replace(delimiter, " ").replace('"', "") for c in cells]
        if kind == "stray":  # a quote opens a value and is never closed
            cells[at] = '"' + cells[at]
            stray_lines.append(line)
            out.write(delimiter.join(cells) + end)
            continue
        if kind == "inner":  # a quote inside a value (not the address) that is not quoted: taken as it is
            at = [i for i in range(3) if i != email_at][at % 2]
            cells[at] = (cells[at] or "x") + ' "q" r'
        else:
            added += 1
            buf = io.StringIO(newline="")
            # Written with CRLF so that a value holding either character is quoted, then ended with `end`.
            quoting = csv.QUOTE_ALL if kind == "quoted" else csv.QUOTE_MINIMAL
            csv.writer(buf, delimiter=delimiter, lineterminator="\r\n", quoting=quoting).writerow(cells)
            out.write(buf.getvalue()[:-2] + end)
            continue
        added += 1
        out.write(delimiter.join(cells) + end)
    text = out.getvalue()
    if not last_end:
        text = text.rstrip("\r\n")
    with tempfile.NamedTemporaryFile(suffix=".csv") as f:
        f.write(text.encode(encoding))
        f.flush()
        report, stored = _import(engine, f.name)
    assert report.lines == physical_lines(text)
    assert report.lines == report.lines_accounted
    assert report.header_lines == 1
    assert report.rows == rows, report
    assert report.accounted == rows, report
    assert [n.line for n in report.rejected] == stray_lines
    assert all("a quote opened on this line" in n.reason for n in report.rejected)
    assert report.added == added == len(stored)
