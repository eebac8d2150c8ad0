"""Reading subscriber files: encodings, delimiters, header spellings, and the physical line of each row."""

from __future__ import annotations

import codecs

import pytest

from bulletin.errors import ImportFileError
from bulletin.store.csvfile import SubscriberFile, map_columns


def _open(tmp_path, data: bytes) -> SubscriberFile:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    return SubscriberFile(path)


def _rows(f: SubscriberFile) -> list[tuple[int, list[str]]]:
    """(line, values) of each row, checking that every row read is readable."""
    records = list(f.rows())
    assert [r.problem for r in records] == [None] * len(records)
    return [(r.line, r.values) for r in records]


@pytest.mark.parametrize(
    "encoding, data",
    [
        ("utf-8", "email;nom\nawa@example.org;Awa Traoré\n".encode()),
        ("utf-8-sig", codecs.BOM_UTF8 + "email;nom\nawa@example.org;Awa Traoré\n".encode()),
        ("utf-16", "email;nom\nawa@example.org;Awa Traoré\n".encode("utf-16")),
        ("cp1252", "email;nom\nawa@example.org;Awa Traoré – l’équipe\n".encode("cp1252")),
        ("mac_roman", "email;nom\nawa@example.org;Hélène Lefèvre à Ségou\n".encode("mac_roman")),
    ],
)
def test_encodings(tmp_path, encoding, data):
    with _open(tmp_path, data) as f:
        assert f.encoding == encoding
        rows = _rows(f)
    assert rows[0][1][0] == "awa@example.org"
    assert rows[0][1][1].startswith(("Awa Traoré", "Hélène Lefèvre"))


def test_accents_after_a_long_ascii_start_are_found(tmp_path):
    """Judged on the bytes where the first non-UTF-8 character is, not on a plain ASCII beginning."""
    head = "email,name\n" + "".join(f"user{i}@example.org,User {i}\n" for i in range(20000))
    with _open(tmp_path, (head + "late@example.org,Dembélé\n").encode("cp1252")) as f:
        assert f.encoding == "cp1252"
        assert _rows(f)[-1] == (20002, ["late@example.org", "Dembélé"])


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_even_when_values_hold_others(tmp_path, delimiter):
    text = delimiter.join(["email", "name", "note"]) + "\n" + delimiter.join(
        ["awa@example.org", '"Traoré, Awa"', '"a;b|c"']
    ) + "\n"
    with _open(tmp_path, text.encode()) as f:
        assert f.delimiter == delimiter
        assert _rows(f) == [(2, ["awa@example.org", "Traoré, Awa", "a;b|c"])]


def test_physical_lines_with_multiline_values_and_blank_lines(tmp_path):
    data = b'\n\nemail,note\r\n\r\na@example.org,"one\r\ntwo\r\nthree"\r\n\r\nb@example.org,x\r\n'
    with _open(tmp_path, data) as f:
        assert f.header_line == 3
        assert [(line, values[0]) for line, values in _rows(f)] == [(5, "a@example.org"), (9, "b@example.org")]


@pytest.mark.parametrize(
    "header, expected",
    [
        (["Email", "Name", "Language"], {"email": 0, "name": 1, "language": 2}),
        (["Adresse e-mail", "Prénom", "Nom", "Langue"], {"email": 0, "first_name": 1, "last_name": 2, "language": 3}),
        (["courriel", "NOM", "langue préférée"], {"email": 0, "name": 1, "language": 2}),
        (["First name", "Last name", "E-mail address", "Status"],
         {"first_name": 0, "last_name": 1, "email": 2, "status": 3}),
        (["E_MAIL", "statut", "subscriber_status"], {"email": 0, "status": 1, "subscriber_status": 2}),
    ],
)
def test_header_spellings(tmp_path, header, expected):
    cols = map_columns(header, tmp_path, 1)
    got = {k: v for k, v in vars(cols).items() if k not in ("extra", "width") and v is not None}
    assert got == expected


def test_other_columns_become_attributes_with_their_header(tmp_path):
    cols = map_columns(["email", "Ville", "", "Ville", " Organisation  du  réseau "], tmp_path, 1)
    assert cols.extra == [(1, "Ville"), (2, "column 3"), (3, "Ville (2)"), (4, "Organisation du réseau")]


@pytest.mark.parametrize(
    "header, message",
    [
        (["email", "courriel"], "two columns are the email: 'email' and 'courriel'"),
        (["email", "name", "nom complet"], "two columns are the name: 'name' and 'nom complet'"),
        (["langue", "language", "email"], "two columns are the language: 'langue' and 'language'"),
    ],
)
def test_ambiguous_headers(tmp_path, header, message):
    with pytest.raises(ImportFileError) as exc:
        map_columns(header, tmp_path, 4)
    assert message in str(exc.value.what)
    assert exc.value.line == 4


def test_no_email_column_names_what_it_found(tmp_path):
    with pytest.raises(ImportFileError) as exc:
        _open(tmp_path, "\nNom;Ville;Téléphone\nAwa;Bamako;1\n".encode())
    assert exc.value.line == 2
    assert "no email column" in str(exc.value.what) and "'Nom', 'Ville', 'Téléphone'" in str(exc.value.what)


def test_text_that_turns_invalid_later_is_an_error_at_its_line(tmp_path):
    rows = "".join(f"u{i}@example.org\n" for i in range(5000))
    with _open(tmp_path, codecs.BOM_UTF8 + b"email\n" + rows.encode() + b"caf\xe9@example.org\n") as f:
        with pytest.raises(ImportFileError) as exc:
            _rows(f)
    assert "not valid utf-8-sig text" in str(exc.value.what)
    assert exc.value.line is not None and exc.value.line > 4000


def test_title_rows_and_empty_separator_rows_above_the_header(tmp_path):
    """French Excel exports often start with a title and rows of bare semicolons."""
    data = ("Liste des abonnés IMRAP;;;\r\n;;;\r\nexportée le 03/07/2023;;;\r\n"
            "Nom;Prénom;Courriel;Ville\r\nTraoré;Awa;awa@example.org;Bamako\r\n;;;\r\n").encode("cp1252")
    with _open(tmp_path, data) as f:
        assert (f.header_line, f.delimiter, f.columns.email) == (4, ";", 2)
        assert _rows(f) == [(5, ["Traoré", "Awa", "awa@example.org", "Bamako"])]


def test_the_header_must_come_within_the_first_lines(tmp_path):
    data = "".join(f"note {i}\n" for i in range(12)) + "email\nawa@example.org\n"
    with pytest.raises(ImportFileError, match="no email column") as exc:
        _open(tmp_path, data.encode())
    assert exc.value.line == 1


def test_lines_in_utf8_and_in_windows_1252_are_each_read_right(tmp_path):
    """A list pasted together from two exports: each line is read in its own encoding, no 'TraorÃ©'."""
    data = ("email;nom\nawa@example.org;Awa Traoré\n".encode()
            + "moussa@example.org;Moussa Koné – l’équipe\n".encode("cp1252")
            + "fanta@example.org;Fanta Dembélé\n".encode())
    with _open(tmp_path, data) as f:
        assert f.encoding == "cp1252"
        rows = [values[1] for _, values in _rows(f)]
        assert f.encoding_read == "cp1252, 2 lines in utf-8"
    assert rows == ["Awa Traoré", "Moussa Koné – l’équipe", "Fanta Dembélé"]


def test_windows_1252_bytes_that_look_like_utf8_stay_windows_1252(tmp_path):
    """'Â' then a non-breaking space is valid UTF-8 on its own; the line as a whole is not, so it stays cp1252."""
    data = "email,name\nawa@example.org,Â\xa0\xa0\n".encode("cp1252")
    with _open(tmp_path, data) as f:
        assert _rows(f) == [(2, ["awa@example.org", "Â\xa0\xa0"])]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_lines_split_the_same_whatever_the_read_size(tmp_path, monkeypatch, chunk):
    """CRLF, LF and lone CR endings, a CRLF cut between two reads, quoted line breaks: same rows, same lines."""
    import bulletin.store.csvfile as csvfile

    monkeypatch.setattr(csvfile, "CHUNK", chunk)
    data = 'email;nom\r\nawa@example.org;"Awa\r\nTraoré"\rb@example.org;Bé\n\nc@example.org;Cé'.encode("cp1252")
    with _open(tmp_path, data) as f:
        assert f.encoding == "cp1252"
        assert _rows(f) == [
            (2, ["awa@example.org", "Awa\r\nTraoré"]), (4, ["b@example.org", "Bé"]), (6, ["c@example.org", "Cé"]),
        ]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_a_line_too_long_is_skipped_whatever_the_read_size(monkeypatch, chunk):
    """Bytes of a long line are dropped as they come; its first bytes stay, for the report; CRLF cut between two
    reads still ends it once."""
    import io

    import bulletin.store.csvfile as csvfile

    monkeypatch.setattr(csvfile, "CHUNK", chunk)
    monkeypatch.setattr(csvfile.TooLong, "HEAD", 4)
    data = b"short\r\n" + b"x" * 25 + b"\r\nafter\r" + b"y" * 30 + b"\nend"
    lines = list(csvfile.physical_lines(io.BytesIO(data), limit=10))
    assert lines == [b"short\r\n", b"xxxx", b"after\r", b"yyyy", b"end"]
    assert [type(line).__name__ for line in lines] == ["bytes", "LongBytes", "bytes", "LongBytes", "bytes"]


def test_a_text_line_too_long_is_skipped_in_pieces():
    import io

    from bulletin.store.csvfile import TooLong, text_lines

    text = io.StringIO("short\r\n" + "é" * 25 + "\r\nafter\r" + "y" * 30, newline="")
    lines = list(text_lines(text, limit=10))
    assert lines == ["short\r\n", "é" * 10, "after\r", "y" * 10]  # each long line: its first piece
    assert [isinstance(line, TooLong) for line in lines] == [False, True, False, True]
