"""Reading subscriber CSV files as people really export them: any common encoding, delimiter and header language.

Excel in French saves Windows-1252 with semicolons, LibreOffice UTF-8 with commas, Google Sheets UTF-8 without a
BOM; the headers may be English or French. This module finds the encoding, the delimiter and the columns, then
streams the rows with the physical line each starts on, so a report can point at the line an admin must fix.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import charset_normalizer

from bulletin.errors import ImportFileError
from bulletin.store.addresses import plain

SAMPLE_BYTES = 64 << 10
CHUNK = 1 << 18
DELIMITERS = ",;\t|"
#: How many non-blank lines may stand above the header (a title, a date, an empty row of separators).
HEADER_SEARCH = 10
#: What office software in French- and English-speaking places writes when it does not write UTF-8.
LEGACY_ENCODINGS = ["cp1252", "mac_roman", "cp850", "latin_1"]
BOMS = [(codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")]

#: Header spellings, compared after `plain()` (lower case, no accents, punctuation as spaces).
EMAIL = {"email", "e mail", "courriel", "mail", "adresse e mail", "adresse email", "adresse mail",
         "adresse electronique", "adresse courriel", "email address", "e mail address"}
NAME = {"name", "nom", "full name", "nom complet", "nom et prenom", "nom prenom", "prenom nom", "display name"}
FIRST_NAME = {"prenom", "first name", "firstname", "given name"}
LAST_NAME = {"last name", "lastname", "surname", "family name", "nom de famille"}
LANGUAGE = {"language", "langue", "lang", "preferred language", "langue preferee"}
STATUS = {"status", "statut"}
SUBSCRIBER_STATUS = {"subscriber status", "statut abonne"}


@dataclass
class Columns:
    """Where each known field is in a row (None when the file has no such column); the rest are attributes."""

    email: int
    name: int | None = None
    first_name: int | None = None
    last_name: int | None = None
    language: int | None = None
    status: int | None = None
    subscriber_status: int | None = None
    #: (position, header) of the columns kept as free attributes
    extra: list[tuple[int, str]] = field(default_factory=list)
    width: int = 0


def detect_encoding(fh: BinaryIO, where: Path) -> str:
    """The file's text encoding: a BOM if there is one, else UTF-8 if the whole file decodes, else a legacy one."""
    head = fh.read(4)
    fh.seek(0)
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    decoder = codecs.getincrementaldecoder("utf-8")()
    sample = b""
    while chunk := fh.read(CHUNK):
        if b"\x00" in chunk:
            raise ImportFileError("this is not a CSV file (it holds binary data)", where=where)
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as e:
            # Judge the legacy encoding on bytes that contain the accented text, not only a pure-ASCII header.
            start = max(0, e.start - SAMPLE_BYTES // 2)
            sample = chunk[start:start + SAMPLE_BYTES]
            break
    else:
        try:
            decoder.decode(b"", final=True)
            fh.seek(0)
            return "utf-8"
        except UnicodeDecodeError:
            fh.seek(0)
            sample = fh.read(SAMPLE_BYTES)
    fh.seek(0)
    best = charset_normalizer.from_bytes(sample, cp_isolation=LEGACY_ENCODINGS).best()
    if best is not None:
        return best.encoding
    # charset-normalizer judges a stray control character (a vertical tab from an Excel cell) as noise; a text
    # that Windows-1252 decodes with hardly any of them is still the French Excel export it looks like.
    try:
        text = sample.decode("cp1252")
    except UnicodeDecodeError:
        text = None
    if text is not None and sum(c < " " and c not in "\t\r\n" for c in text) <= len(text) // 20 + 2:
        return "cp1252"
    raise ImportFileError(
        "this is not a CSV file, or its text encoding is unknown: save it as 'CSV UTF-8' and import again",
        where=where,
    )


def physical_lines(fh: BinaryIO) -> Iterator[bytes]:
    """The file's lines with their endings (CRLF, LF or a lone CR, as csv expects with newline='')."""
    rest = b""
    while chunk := fh.read(CHUNK):
        lines = (rest + chunk).splitlines(keepends=True)
        last = lines.pop()
        yield from lines
        if last.endswith(b"\n"):
            yield last
            rest = b""
        else:
            rest = last  # a line that goes on in the next read, or a CR that may be the first half of CRLF
    if rest:
        yield rest


class LineDecoder:
    """Decodes a legacy-encoded file line by line, taking a line as UTF-8 when it is valid UTF-8.

    A list pasted together from two exports often holds both; read wholly as Windows-1252, its UTF-8 names would
    turn into 'TraorÃ©'. A genuine Windows-1252 line with accents is almost never valid UTF-8 by chance."""

    def __init__(self, fh: BinaryIO, encoding: str):
        self.fh = fh
        self.encoding = encoding
        self.utf8_lines = 0

    def __iter__(self) -> Iterator[str]:
        for raw in physical_lines(self.fh):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield raw.decode(self.encoding)
                continue
            if not raw.isascii():
                self.utf8_lines += 1
            yield line


def _header_cells(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter), [])


def _has_email_column(cells: list[str]) -> bool:
    return any(plain(c) in EMAIL for c in cells)


def sniff_delimiter(lines: list[str]) -> str:
    """csv.Sniffer's guess among the usual delimiters, else the one the first line holds most of."""
    try:
        return csv.Sniffer().sniff("".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        return max(DELIMITERS, key=lines[0].count)


def header_delimiter(line: str, sniffed: str) -> str | None:
    """The delimiter under which `line` names an email column (the sniffed one first), or None."""
    for delimiter in [sniffed, *DELIMITERS]:
        if _has_email_column(_header_cells(line, delimiter)):
            return delimiter
    return None


def find_header(lines: list[tuple[int, str]], where: Path) -> tuple[int, str]:
    """The header among the first non-blank lines (a title row above it is common in spreadsheets) and the delimiter:
    (its index in `lines`, delimiter). Raises ImportFileError naming what the first line holds."""
    sniffed = sniff_delimiter([text for _, text in lines])
    for index, (_, text) in enumerate(lines[:HEADER_SEARCH]):
        delimiter = header_delimiter(text, sniffed)
        if delimiter is not None:
            if index:
                delimiter = header_delimiter(text, sniff_delimiter([t for _, t in lines[index:]])) or delimiter
            return index, delimiter
    found = ", ".join(repr(c.strip()) for c in _header_cells(lines[0][1], sniffed) if c.strip())[:200]
    raise ImportFileError(
        "no email column: a header row among the first lines must name the columns, one of them 'email' "
        f"(or 'e-mail', 'courriel', 'adresse e-mail'); found {found or 'nothing'}",
        where=where,
        line=lines[0][0],
    )


def map_columns(cells: list[str], where: Path, line: int) -> Columns:
    """Which column is which, by header; every other non-empty header becomes an attribute of that name."""
    found: dict[str, int] = {}
    extra: list[tuple[int, str]] = []
    taken: set[str] = set()
    plains = [plain(c) for c in cells]
    has_first = any(p in FIRST_NAME for p in plains)
    for i, (cell, key) in enumerate(zip(cells, plains)):
        role = None
        if key in EMAIL:
            role = "email"
        elif key in FIRST_NAME:
            role = "first_name"
        elif key in LAST_NAME or (key == "nom" and has_first):
            role = "last_name"
        elif key in NAME:
            role = "name"
        elif key in LANGUAGE:
            role = "language"
        elif key in STATUS:
            role = "status"
        elif key in SUBSCRIBER_STATUS:
            role = "subscriber_status"
        if role is not None:
            if role in found:
                first, again = cells[found[role]].strip(), cell.strip()
                raise ImportFileError(
                    f"two columns are the {role.replace('_', ' ')}: {first!r} and {again!r}",
                    where=where,
                    line=line,
                )
            found[role] = i
            continue
        header = " ".join(cell.split()) or f"column {i + 1}"
        name, n = header, 2
        while name in taken:
            name, n = f"{header} ({n})", n + 1
        taken.add(name)
        extra.append((i, name))
    return Columns(**found, extra=extra, width=len(cells))


class SubscriberFile:
    """An open subscriber CSV: its encoding, delimiter and columns, and its data rows with their line numbers."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._raw: BinaryIO = open(self.path, "rb")
        except FileNotFoundError:
            raise ImportFileError("no such file", where=self.path)
        except IsADirectoryError:
            raise ImportFileError("this is a folder, not a CSV file", where=self.path)
        except OSError as e:
            raise ImportFileError(f"cannot read the file: {e.strerror}", where=self.path)
        self._text: io.TextIOWrapper | None = None
        self._decoder: LineDecoder | None = None
        try:
            self.size = self.path.stat().st_size
            self.encoding = detect_encoding(self._raw, self.path)
            self._reader, self.header_line, self.delimiter, self.columns = self._open_reader()
        except BaseException:
            self._raw.close()
            raise

    @property
    def encoding_read(self) -> str:
        """The encoding as the report shows it, saying so when some lines were UTF-8."""
        if self._decoder is not None and self._decoder.utf8_lines:
            return f"{self.encoding}, {self._decoder.utf8_lines} lines in utf-8"
        return self.encoding

    def _lines(self) -> Iterator[str]:
        """The file's lines from the start, as text."""
        if self._text is not None:
            self._text.detach()  # keep the binary file open: the wrapper would close it when dropped
            self._text = None
        self._raw.seek(0)
        if self.encoding in LEGACY_ENCODINGS:
            self._decoder = LineDecoder(self._raw, self.encoding)
            return iter(self._decoder)
        self._text = io.TextIOWrapper(self._raw, encoding=self.encoding, newline="")
        return self._text

    def _open_reader(self):
        # Read whole physical lines to find the header and delimiter, then start again so the csv reader sees all.
        sample: list[tuple[int, str]] = []
        try:
            for number, line in enumerate(self._lines(), start=1):
                if line.strip(" \t\r\n,;|"):  # a row of empty cells is blank too
                    sample.append((number, line))
                    if len(sample) >= 50:
                        break
        except UnicodeDecodeError:
            raise ImportFileError(f"the file is not valid {self.encoding} text", where=self.path)
        if not sample:
            raise ImportFileError("the file is empty", where=self.path)
        index, delimiter = find_header(sample, self.path)
        header_line = sample[index][0]
        reader = csv.reader(self._lines(), delimiter=delimiter, quotechar='"', doublequote=True)
        self._line = 0
        header: list[str] = []
        while self._line < header_line:
            header = self._next(reader)
        header[0] = header[0].lstrip("\ufeff")
        return reader, header_line, delimiter, map_columns(header, self.path, header_line)

    def _next(self, reader) -> list[str]:
        try:
            row = next(reader)
        except csv.Error as e:
            raise ImportFileError(f"unreadable CSV: {e} (a quote is not closed?)", where=self.path, line=self._line + 1)
        except UnicodeDecodeError:
            raise ImportFileError(
                f"the file is not valid {self.encoding} text after this line (does it mix encodings?)",
                where=self.path,
                line=self._line,
            )
        self._line = reader.line_num
        return row

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Each non-blank data row with the physical line it starts on."""
        while True:
            start = self._line + 1
            try:
                row = self._next(self._reader)
            except StopIteration:
                return
            if any(c.strip() for c in row):
                yield start, row

    def bytes_read(self) -> int:
        """How far into the file the reader is (for a progress bar; the text layer reads ahead a little)."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return self.size

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> SubscriberFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
