"""Hostile and broken subscriber files: a stray quote never swallows the rows below it, every physical line of a
file is accounted for, and what cannot be read is a one-line error that writes nothing.

The small files are in tests/csv_corpus with their expected reports in expected.toml; the large ones (5,000 rows,
10,000 columns, lines over csv's 128 KiB limit, 50 MB) are generated here."""

from __future__ import annotations

import csv
import re
import tomllib
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bulletin.errors import ImportFileError
from bulletin.services import consent
from bulletin.store import db, queries
from bulletin.store.csvfile import MAX_ROW_LINES
from bulletin.store.importer import ImportReport, import_subscribers
from bulletin.store.models import Subscriber

CORPUS = Path(__file__).parent / "csv_corpus"
EXPECTED = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))
COUNTS = ("lines", "header_lines", "blank_lines", "continued_lines", "rows", "added", "updated", "unchanged")


def physical_lines(text: str) -> int:
    """Lines as an editor counts them: CRLF, LF and a lone CR each end one; a last line without an end counts."""
    ends = len(re.findall(r"\r\n|\r|\n", text))
    return ends + (1 if text and not text.endswith(("\r", "\n")) else 0)


@pytest.fixture
def engine(sqlite_url):
    engine = db.engine_for(sqlite_url)
    with db.session_scope(engine) as s:
        queries.create_list(s, "imrap", "IMRAP")
    return engine


def run_import(engine, path) -> tuple[ImportReport, dict[str, str]]:
    with db.session_scope(engine) as s:
        report = import_subscribers(s, path, queries.get_list(s, "imrap"), languages=["fr", "en"],
                                    default_language="fr", rules=consent)
    with db.session_scope(engine) as s:
        names = dict(s.execute(select(Subscriber.email, Subscriber.name)).all())
    return report, names


def check_counts(report: ImportReport, expected: dict) -> None:
    got = {key: getattr(report, key) for key in COUNTS}
    assert got == {key: expected.get(key, 0) for key in COUNTS}
    assert report.lines == report.lines_accounted
    assert report.accounted == report.rows


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_gives_its_expected_report(engine, name):
    path = CORPUS / name
    expected = EXPECTED[name]
    if "error" in expected:
        with pytest.raises(ImportFileError) as exc:
            run_import(engine, path)
        assert str(exc.value).startswith(str(CORPUS / expected["error"]))
        assert "\n" not in str(exc.value)
        with db.session_scope(engine) as s:
            assert s.scalar(select(func.count()).select_from(Subscriber)) == 0
        return
    report, names = run_import(engine, path)
    check_counts(report, expected)
    data = path.read_bytes()
    text = data.decode("utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else data.decode(report.encoding.split(",")[0])
    assert report.lines == physical_lines(text)
    got_rejected = [(n.line, n.email, n.reason) for n in report.rejected]
    want_rejected = expected.get("rejected", [])
    assert [(line, email) for line, email, _ in got_rejected] == [(line, email) for line, email, _ in want_rejected]
    for (_, _, reason), (_, _, words) in zip(got_rejected, want_rejected):
        assert words in reason
    for email, name in expected.get("names", {}).items():
        assert names[email] == name


def write_rows(path: Path, rows: list[list[str]], *, delimiter: str = ",", newline: str = "\r\n") -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter=delimiter, lineterminator=newline).writerows(rows)


def test_a_stray_quote_after_5000_good_rows_swallows_nothing(engine, tmp_path):
    """The probe of the issue: it used to report 'added 5001, rejected 0', the 10 rows below gone into a name."""
    path = tmp_path / "stray.csv"
    good = [[f"user{i}@example.org", f"User {i}"] for i in range(5000)]
    after = [[f"after{i}@example.org", f"After {i}"] for i in range(10)]
    body = "email,name\r\n" + "".join(f"{e},{n}\r\n" for e, n in good)
    body += 'qq@example.org,"unterminated\r\n' + "".join(f"{e},{n}\r\n" for e, n in after)
    path.write_text(body, encoding="utf-8", newline="")
    report, names = run_import(engine, path)
    check_counts(report, {"lines": 5012, "header_lines": 1, "rows": 5011, "added": 5010})
    assert [(n.line, n.email) for n in report.rejected] == [(5002, "qq@example.org")]
    assert "not closed before line 5003" in report.rejected[0].reason
    assert names["after9@example.org"] == "After 9" and "qq@example.org" not in names


def test_10000_columns(engine, tmp_path):
    path = tmp_path / "wide.csv"
    header = ["email", "name"] + [f"c{i:05}" for i in range(9998)]
    rows = [header] + [[f"p{r}@example.org", f"P {r}"] + [f"v{r}.{i}" for i in range(9998)] for r in range(3)]
    rows.append(["wider@example.org", "W"] + ["x"] * 9999)  # one value more than the header has columns
    write_rows(path, rows)
    report, _ = run_import(engine, path)
    check_counts(report, {"lines": 5, "header_lines": 1, "rows": 4, "added": 3})
    assert [(n.line, n.email) for n in report.rejected] == [(5, "wider@example.org")]
    assert "10001 values but the header has 10000 columns" in report.rejected[0].reason
    with db.session_scope(engine) as s:
        attributes = s.scalar(select(Subscriber.attributes).where(Subscriber.email == "p2@example.org"))
    assert len(attributes) == 9998 and attributes["c09997"] == "v2.9997"


def test_a_first_line_over_128_kib_above_the_header(engine, tmp_path):
    """A title line longer than csv's field limit used to raise a traceback; it is a line above the header."""
    path = tmp_path / "long-title.csv"
    path.write_text("x" * 140_000 + "\nemail,name\nawa@example.org,Awa\n", encoding="utf-8")
    report, names = run_import(engine, path)
    check_counts(report, {"lines": 3, "header_lines": 2, "rows": 1, "added": 1})
    assert names == {"awa@example.org": "Awa"}


def test_a_first_line_over_128_kib_without_a_header_is_a_one_line_error(engine, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("y" * 140_000 + "\nawa@example.org\n", encoding="utf-8")
    with pytest.raises(ImportFileError) as exc:
        run_import(engine, path)
    assert str(exc.value) == (
        f"{path}:1: no email column: a header row among the first lines must name the columns, one of them "
        "'email' (or 'e-mail', 'courriel', 'adresse e-mail'); found a value over 128 KiB"
    )


def test_a_header_value_over_128_kib_is_a_one_line_error(engine, tmp_path):
    path = tmp_path / "long-header.csv"
    path.write_text("email," + "y" * 140_000 + "\nawa@example.org,Awa\n", encoding="utf-8")
    with pytest.raises(ImportFileError) as exc:
        run_import(engine, path)
    assert exc.value.line == 1 and "found a value over 128 KiB" in str(exc.value.what)


def test_a_value_over_128_kib_rejects_its_row_only(engine, tmp_path):
    path = tmp_path / "long-value.csv"
    path.write_text("email,name\nawa@example.org,Awa\nbig@example.org," + "x" * 140_000
                    + "\nmoussa@example.org,Moussa\n", encoding="utf-8")
    report, names = run_import(engine, path)
    check_counts(report, {"lines": 4, "header_lines": 1, "rows": 3, "added": 2})
    assert [(n.line, n.email, n.reason) for n in report.rejected] == [
        (3, "big@example.org", "a value is longer than 131072 characters")
    ]


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_a_50_mb_line_is_rejected_without_being_held_in_memory(engine, tmp_path, encoding):
    """A 50 MB file generated here: 2,000 good rows around one 50 MB quoted value on one line."""
    path = tmp_path / "huge.csv"
    with open(path, "w", encoding=encoding, newline="") as f:
        f.write("email;nom\r\n")
        f.writelines(f"u{i}@example.org;Dembélé {i}\r\n" for i in range(1000))
        f.write('huge@example.org;"')
        piece = "Ségou " * 10_000
        for _ in range(50 * (1 << 20) // len(piece.encode(encoding))):
            f.write(piece)
        f.write('"\r\n')
        f.writelines(f"v{i}@example.org;Koné {i}\r\n" for i in range(1000))
    assert path.stat().st_size > 50 * 10**6
    tracemalloc.start()
    try:
        report, names = run_import(engine, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    check_counts(report, {"lines": 2002, "header_lines": 1, "rows": 2001, "added": 2000})
    assert [(n.line, n.email, n.reason) for n in report.rejected] == [
        (1002, "huge@example.org", "the line is longer than 4 MiB")
    ]
    assert names["v999@example.org"] == "Koné 999"
    assert peak < 40 * (1 << 20), f"peak {peak >> 20} MiB while reading a 50 MB file"


def test_quoted_values_over_a_few_lines_are_kept(engine, tmp_path):
    """A value over MAX_ROW_LINES lines is the limit: one line fewer is read as one row."""
    path = tmp_path / "notes.csv"
    note = "\n".join(f"ligne {i}" for i in range(MAX_ROW_LINES))
    write_rows(path, [["email", "note"], ["awa@example.org", note], ["moussa@example.org", "ok"]], newline="\n")
    report, _ = run_import(engine, path)
    check_counts(report, {"lines": MAX_ROW_LINES + 2, "header_lines": 1, "rows": 2, "added": 2,
                          "continued_lines": MAX_ROW_LINES - 1})
    with db.session_scope(engine) as s:
        attributes = s.scalar(select(Subscriber.attributes).where(Subscriber.email == "awa@example.org"))
    assert attributes == {"note": note}
