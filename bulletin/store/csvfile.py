"""Reading subscriber CSV files as people really export them: any common encoding, delimiter and header language.

Excel in French saves Windows-1252 with semicolons, LibreOffice UTF-8 with commas, Google Sheets UTF-8 without a
BOM; the headers may be English or French. This module finds the encoding, the delimiter and the columns, then
streams the rows with the physical line each starts on, so a report can point at the line an admin must fix.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import charset_normalizer

from bulletin.errors import ImportFileError
from bulletin.i18n import Message
from bulletin.store.addresses import plain

SAMPLE_BYTES = 64 << 10
CHUNK = 1 << 18
#: A line longer than this is rejected without being read into memory (10,000 columns of a few words fit).
MAX_LINE_BYTES = 4 << 20
MAX_LINE_CHARS = MAX_LINE_BYTES
#: A row may take this many physical lines (a quoted postal address or note over a few lines); a quote still
#: open after them is a stray one, and its row is rejected instead of swallowing the rows below it.
MAX_ROW_LINES = 8
#: How much text csv.Sniffer judges the delimiter on (it counts every character of every line it is given).
SNIFF_CHARS = 64 << 10
#: What an address in a cell looks like, to tell a row from the next line of a quoted value.
ADDRESS_LIKE = re.compile(r"[^\s@\"';,<>]+@[^\s@\"';,<>]+")
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


#: What a spreadsheet takes for the start of a formula (OWASP, "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """A cell that a spreadsheet shows as text: a leading apostrophe before what would start a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


def unneutralise(value: str) -> str:
    """The value of a cell written by `neutralise` (spreadsheets also drop that apostrophe when they save)."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_START) else value


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
            raise ImportFileError(Message("csv.file.binary"), where=where)
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
    raise ImportFileError(Message("csv.file.encoding_unknown"), where=where)


class TooLong(str):
    """A line longer than MAX_LINE_BYTES: only its beginning is kept (the report can name the address it holds)."""

    HEAD = 1024


class LongBytes(bytes):
    """The first bytes of a line too long to read."""


def physical_lines(fh: BinaryIO, limit: int | None = None) -> Iterator[bytes]:
    """The file's lines with their endings (CRLF, LF or a lone CR, as csv expects with newline=''). A line longer
    than `limit` bytes is skipped without being held in memory: its first bytes come as a `LongBytes`."""
    limit = limit or MAX_LINE_BYTES
    rest = b""
    head: bytes | None = None  # inside a line already found too long: its beginning; the rest is dropped
    while chunk := fh.read(CHUNK):
        lines = (rest + chunk).splitlines(keepends=True)
        last = lines.pop()
        if last.endswith(b"\n"):
            lines.append(last)
            last = b""
        for line in lines:
            if head is not None:
                yield LongBytes(head)
                head = None
            elif len(line) > limit:
                yield LongBytes(line[:TooLong.HEAD])
            else:
                yield line
        # `last` goes on in the next read (or is a CR that may be the first half of CRLF)
        if len(last) > limit:
            head = head if head is not None else last[:TooLong.HEAD]
            rest = last[-1:]
        else:
            rest = last
    if head is not None or len(rest) > limit:
        yield LongBytes(head if head is not None else rest[:TooLong.HEAD])
    elif rest:
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
            if isinstance(raw, LongBytes):
                yield TooLong(raw.decode(self.encoding, "replace"))
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield raw.decode(self.encoding)
                continue
            if not raw.isascii():
                self.utf8_lines += 1
            yield line


def text_lines(text: io.TextIOBase, limit: int | None = None) -> Iterator[str]:
    """The lines of a text stream opened with newline='' (CRLF, LF and lone CR ends kept). A line longer than
    `limit` characters is skipped a piece at a time: its beginning comes as a `TooLong`."""
    limit = limit or MAX_LINE_CHARS
    while piece := text.readline(limit):
        if len(piece) < limit or piece.endswith(("\n", "\r")):
            yield piece
            continue
        head = piece[:TooLong.HEAD]
        while len(piece) == limit and not piece.endswith(("\n", "\r")):
            piece = text.readline(limit)
        yield TooLong(head)


def _cells_alone(line: str, delimiter: str) -> list[str]:
    """The cells of one line read alone ([] for a line holding a value over csv's limit)."""
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return []


def _has_email_column(cells: list[str]) -> bool:
    return any(plain(c) in EMAIL for c in cells)


def sniff_delimiter(lines: list[str]) -> str:
    """csv.Sniffer's guess among the usual delimiters, else the one the first line holds most of."""
    sample, size = [], 0
    for line in lines:
        sample.append(line[:SNIFF_CHARS - size])
        size += len(sample[-1])
        if size >= SNIFF_CHARS:
            break
    try:
        return csv.Sniffer().sniff("".join(sample), delimiters=DELIMITERS).delimiter
    except csv.Error:
        return max(DELIMITERS, key=sample[0].count) if sample else ","


def header_delimiter(line: str, sniffed: str) -> Message | None:
    """The delimiter under which `line` names an email column (the sniffed one first), or None."""
    if isinstance(line, TooLong):
        return None
    for delimiter in [sniffed, *DELIMITERS]:
        if _has_email_column(_cells_alone(line, delimiter)):
            return delimiter
    return None


def find_header(lines: list[tuple[int, str]], where: Path) -> tuple[int, str]:
    """The header among the first non-blank lines (a title row above it is common in spreadsheets) and the delimiter:
    (its index in `lines`, delimiter). Raises ImportFileError naming what the first line holds.

    `lines` are (line number, text); a `TooLong` line is never the header."""
    sniffed = sniff_delimiter([text for _, text in lines if not isinstance(text, TooLong)])
    for index, (_, text) in enumerate(lines[:HEADER_SEARCH]):
        delimiter = header_delimiter(text, sniffed)
        if delimiter is not None:
            if index:
                below = [t for _, t in lines[index:] if not isinstance(t, TooLong)]
                delimiter = header_delimiter(text, sniff_delimiter(below)) or delimiter
            return index, delimiter
    first = lines[0][1]
    cells = _cells_alone(first, sniffed)
    if isinstance(first, TooLong):
        found = Message("csv.found.long_line", mib=MAX_LINE_BYTES >> 20)
    elif cells:
        found = ", ".join(repr(c.strip()) for c in cells if c.strip())[:200] or Message("csv.found.nothing")
    else:
        found = Message("csv.found.long_value", kib=csv.field_size_limit() // 1024)
    raise ImportFileError(Message("csv.file.no_email_column", found=found), where=where, line=lines[0][0])


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
                raise ImportFileError(Message("csv.file.two_columns", role=Message(f"csv.role.{role}"),
                                              first=repr(first), again=repr(again)), where=where, line=line)
            found[role] = i
            continue
        header = " ".join(cell.split()) or f"column {i + 1}"
        name, n = header, 2
        while name in taken:
            name, n = f"{header} ({n})", n + 1
        taken.add(name)
        extra.append((i, name))
    return Columns(**found, extra=extra, width=len(cells))


@dataclass(frozen=True)
class Record:
    """One row of the file: the physical line it starts on, its values, how many lines it takes, and what makes
    it unreadable (then `values` are those of its first line read alone, for the report)."""

    line: int
    values: list[str]
    lines: int = 1
    problem: Message | None = None
    #: for an unreadable row, the address its first line holds (where the report can name it)
    address: str = ""


class _BrokenRow(Exception):
    """The row being read cannot be read; only its first line is consumed, the lines after it are read again."""

    def __init__(self, what: Message):
        self.what = what


def _closing_quote(text: str) -> int:
    """Where a quoted value that is open at the start of `text` closes: its first quote that is not a doubled
    one (-1 when it goes on past the line)."""
    i = text.find('"')
    while i != -1 and text.startswith('"', i + 1):
        i = text.find('"', i + 2)
    return i


class RowShape:
    """What a row of this file looks like, to tell the next line of a quoted value from a row of its own."""

    def __init__(self, delimiter: str, email: int):
        self.delimiter = delimiter
        self.email = email
        #: the header's number of columns, once it is read
        self.width: int | None = None

    def holds_address(self, text: str, *, quotes: bool = True) -> bool:
        """Whether `text`, read alone as a row, has an address in the email column (`quotes=False`: reading
        quotes as plain characters)."""
        if quotes:
            cells = _cells_alone(text, self.delimiter)
        else:
            cells = [c.strip(' "') for c in text.rstrip("\r\n").split(self.delimiter)]
        return self.email < len(cells) and ADDRESS_LIKE.fullmatch(cells[self.email].strip()) is not None

    def problem_opening(self, text: str) -> Message | None:
        """Why the row's first line cannot open a value that goes on over the next lines, or None: it cannot when
        the open value holds the row's own address (`",awa@example.org,Awa` read with a stray quote)."""
        if not self.holds_address(text) and self.holds_address(text, quotes=False):
            return Message("csv.quote.not_closed_on_line")
        return None

    def problem_closed(self, values: list[str], lines: int) -> Message | None:
        """Why a row read over several lines is not one, or None: a value that went on over lines shifted the
        values after it (more than the header has: it closed on a quote of another row)."""
        if self.width is not None and any(v.strip() for v in values[self.width:]):
            return Message("csv.quote.shifted", lines=lines, values=len(values), columns=self.width)
        return None

    def problem_going_on(self, number: int, text: str) -> Message | None:
        """Why a quoted value open since the row's first line cannot go on into line `number`, or None.

        It cannot when the line is a row of its own (an address in the email column, before the value would
        close), or when the quote that would close it is followed by other text (`"x",` closes a value; `"x y`
        in the middle of a line opens the next row's value, which a stray quote above has put out of step)."""
        if isinstance(text, TooLong):
            return Message("csv.quote.before_long_line", line=number)
        close = _closing_quote(text)
        if close != -1 and text[close + 1:close + 2] not in ("", self.delimiter, "\r", "\n"):
            if self.holds_address(text) or self.holds_address(text[:close]):
                return Message("csv.quote.before_row", line=number)
            return Message("csv.quote.followed", line=number)
        if self.holds_address(text if close == -1 else text[:close]):
            return Message("csv.quote.before_row", line=number)
        return None


class _Feed:
    """Gives the csv reader one physical line at a time and watches what it asks for.

    The reader asks for another line within a row only while a quoted value is open. A value may go on over a
    few lines, but not into a line that is a row of its own, nor past the end of the file or MAX_ROW_LINES:
    then the row's quote is a stray one. The row is refused at its first line and the lines after it are given
    back, to be read as the rows they are, so that no row is ever swallowed."""

    def __init__(self, source: Iterator[tuple[int, str]], shape: RowShape):
        self.source = source
        self.shape = shape
        self.back: deque[tuple[int, str]] = deque()
        #: the lines of the row being read
        self.taken: list[tuple[int, str]] = []
        #: the last line read from the file (for errors that concern the file, not a row)
        self.last_line = 0

    def _pull(self) -> tuple[int, str]:
        if self.back:
            return self.back.popleft()
        item = next(self.source)
        self.last_line = item[0]
        return item

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        if not self.taken:
            number, text = self._pull()  # StopIteration: the reader ends
            self.taken.append((number, text))
            if isinstance(text, TooLong):
                raise _BrokenRow(Message("csv.row.long_line", mib=MAX_LINE_BYTES >> 20))
            return text
        # The row goes on past a line end: a quoted value is open.
        if len(self.taken) == 1 and (problem := self.shape.problem_opening(self.taken[0][1])):
            raise _BrokenRow(problem)
        if len(self.taken) >= MAX_ROW_LINES:
            raise _BrokenRow(Message("csv.quote.max_lines", lines=MAX_ROW_LINES))
        try:
            number, text = self._pull()
        except StopIteration:
            raise _BrokenRow(Message("csv.quote.never_closed")) from None
        problem = self.shape.problem_going_on(number, text)
        if problem:
            self.back.appendleft((number, text))
            raise _BrokenRow(problem)
        self.taken.append((number, text))
        return text

    def give_back_all_but_first(self) -> None:
        self.back.extendleft(reversed(self.taken[1:]))
        del self.taken[1:]


class SubscriberFile:
    """An open subscriber CSV: its encoding, delimiter and columns, and its rows with the lines they take.

    Every physical line is accounted for: above or in the header (`header_lines`), blank (`blank_lines`), or
    part of exactly one row that `rows()` yields."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._raw: BinaryIO = open(self.path, "rb")
        except FileNotFoundError:
            raise ImportFileError(Message("csv.file.missing"), where=self.path)
        except IsADirectoryError:
            raise ImportFileError(Message("csv.file.folder"), where=self.path)
        except OSError as e:
            raise ImportFileError(Message("csv.file.unreadable", reason=e.strerror), where=self.path)
        self._text: io.TextIOWrapper | None = None
        self._decoder: LineDecoder | None = None
        self.blank_lines = 0
        self.header_lines = 0
        try:
            self.size = self.path.stat().st_size
            self.encoding = detect_encoding(self._raw, self.path)
            self._open_reader()
        except BaseException:
            self._raw.close()
            raise

    @property
    def encoding_read(self) -> str:
        """The encoding as the report shows it, saying so when some lines were UTF-8."""
        if self._decoder is not None and self._decoder.utf8_lines:
            return f"{self.encoding}, {self._decoder.utf8_lines} lines in utf-8"
        return self.encoding

    def _lines(self) -> Iterator[tuple[int, str]]:
        """The file's physical lines from the start, numbered from 1, as text (a `TooLong` for a line too long)."""
        if self._text is not None:
            self._text.detach()  # keep the binary file open: the wrapper would close it when dropped
            self._text = None
        self._raw.seek(0)
        if self.encoding in LEGACY_ENCODINGS:
            self._decoder = LineDecoder(self._raw, self.encoding)
            return enumerate(self._decoder, start=1)
        self._text = io.TextIOWrapper(self._raw, encoding=self.encoding, newline="")
        return enumerate(text_lines(self._text), start=1)

    def _open_reader(self) -> None:
        # Read whole physical lines to find the header and delimiter, then start again at the header line.
        sample: list[tuple[int, str]] = []
        size = 0
        try:
            for number, line in self._lines():
                if line.strip(" \t\r\n,;|"):  # a row of empty cells is blank too
                    sample.append((number, line))
                    size += len(line)
                    if len(sample) >= 50 or size >= SAMPLE_BYTES * 4:
                        break
        except UnicodeDecodeError:
            raise ImportFileError(Message("csv.file.not_text", encoding=self.encoding), where=self.path)
        if not sample:
            raise ImportFileError(Message("csv.file.empty"), where=self.path)
        index, self.delimiter = find_header(sample, self.path)
        self.header_line = sample[index][0]
        lines = self._lines()
        for _ in range(self.header_line - 1):
            next(lines)
        # Until the header is read, its own line (read alone) says where addresses are.
        alone = _cells_alone(sample[index][1], self.delimiter)
        shape = RowShape(self.delimiter, next((i for i, c in enumerate(alone) if plain(c) in EMAIL), 0))
        self._feed = _Feed(lines, shape)
        self._reader = csv.reader(self._feed, delimiter=self.delimiter, quotechar='"', doublequote=True)
        header = self._record()
        if header is None or header.problem:
            raise ImportFileError(Message("csv.file.header", reason=header.problem if header else
                                          Message("csv.header.empty")), where=self.path, line=self.header_line)
        self.header_lines = self.header_line - 1 + header.lines
        cells = [unneutralise(c) for c in header.values]
        cells[0] = cells[0].lstrip("\ufeff")
        self.columns = map_columns(cells, self.path, self.header_line)
        shape.email, shape.width = self.columns.email, self.columns.width

    def _record(self) -> Record | None:
        """The next row, or None at the end of the file."""
        feed = self._feed
        feed.taken.clear()
        try:
            values = next(self._reader)
        except StopIteration:
            return None
        except _BrokenRow as e:
            problem = e.what
        except csv.Error as e:
            if "field limit" in str(e):
                problem = Message("csv.row.long_value", max=csv.field_size_limit())
            else:
                problem = Message("csv.row.unreadable", reason=str(e))
        except UnicodeDecodeError:
            raise ImportFileError(Message("csv.file.mixed_encodings", encoding=self.encoding), where=self.path,
                                  line=feed.last_line or None) from None
        else:
            lines = len(feed.taken)
            problem = self._feed.shape.problem_closed(values, lines) if lines > 1 else None
            if problem is None:
                return Record(feed.taken[0][0], values, lines)
        feed.give_back_all_but_first()
        number, text = feed.taken[0]
        values = _cells_alone(text, self.delimiter)
        return Record(number, values, 1, problem, self._address_in(values, text))

    def _address_in(self, values: list[str], text: str) -> str:
        """The address an unreadable line holds: its email cell, else the first thing that looks like one."""
        cols = getattr(self, "columns", None)  # None while the header itself is read
        cell = values[cols.email].strip() if cols is not None and cols.email < len(values) else ""
        if ADDRESS_LIKE.fullmatch(cell):
            return cell
        found = ADDRESS_LIKE.search(text)
        return found.group() if found else cell

    def rows(self) -> Iterator[Record]:
        """Each non-blank row after the header, in the file's order (rows that cannot be read with a problem)."""
        while (record := self._record()) is not None:
            if record.problem or any(c.strip() for c in record.values):
                yield record
            else:
                self.blank_lines += record.lines

    @property
    def lines_read(self) -> int:
        """The physical lines read so far: all of them once `rows()` is exhausted."""
        return self._feed.last_line

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
