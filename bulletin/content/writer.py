"""Writing an issue's files back as their authors keep them: only the keys that changed are rewritten, in the
file's own format, so a folder edited in the browser reads like one edited by hand and reviews well in git.

Front matter: a key whose value did not change keeps its lines byte for byte (comments, quotes, spacing); a
changed key is rewritten in place; a new key goes where the stable order of its kind puts it (`KEY_ORDER`);
values are quoted only where YAML needs it (a value that reads back as the same text plain stays plain). The
Markdown body is kept as it is unless it changed. issue.toml goes through tomlkit, which keeps comments.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import tomlkit
import yaml
from tomlkit.exceptions import TOMLKitError

from bulletin.content.frontmatter import FENCE, _TextLoader

#: The order keys are written in, per kind of file (the order of the starter and the README).
KEY_ORDER = {
    "news": ("title", "place", "image", "image_alt", "link", "link_label", "facts"),
    "director": ("title", "name", "role", "photo", "photo_alt"),
    "highlights": ("title",),
}

_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:")
_FACTS_INDENT = "  "

#: A facts table as the form holds it: (label, value) rows in order.
Facts = Sequence[tuple[str, str]]


# -- YAML scalars ---------------------------------------------------------------------------------------------

def _reads_as(text: str, expected: dict) -> bool:
    """Whether `text` reads as `expected` both with the issue reader (every value text) and with a standard
    YAML reader (Hugo, Jekyll, a text editor's linter), so a plain value means the same to both."""
    loader = _TextLoader(text)
    try:
        ours = loader.get_single_data()
    except yaml.YAMLError:
        return False
    finally:
        loader.dispose()
    try:
        theirs = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return ours == expected and theirs == expected


def scalar(value: str) -> str:
    """`value` as written after `key: `: plain where YAML reads it back as this text, else quoted."""
    value = _one_line(value)
    if value and value == value.strip() and _reads_as(f"k: {value}\n", {"k": value}):
        return value
    return quote(value)


def mapping_key(label: str) -> str:
    """A label of the facts table as written before its colon."""
    label = _one_line(label)
    if label and label == label.strip() and _reads_as(f"{label}: x\n", {label: "x"}):
        return label
    return quote(label)


def quote(value: str) -> str:
    """Double quotes, as the README asks; single quotes for a value holding a double quote and no apostrophe."""
    if '"' in value and "'" not in value:
        return "'" + value + "'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", escaped.replace("\t", "\\t"))
    return f'"{escaped}"'


def _one_line(value: str) -> str:
    # A front matter value of the form is one line (an input field): line breaks would become a folded scalar.
    return re.sub(r"\s*[\r\n]+\s*", " ", value)


# -- front matter files ---------------------------------------------------------------------------------------

@dataclass
class _Entry:
    """One top-level key of the front matter: the comments and blank lines above it, then its lines."""

    key: str | None
    lead: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


@dataclass
class _Split:
    bom: str
    crlf: bool
    has_front_matter: bool
    opening: str
    entries: list[_Entry]
    #: comments and blank lines after the last key
    trailing: list[str]
    closing: str
    #: everything after the closing fence, as written (the blank lines before the body, the body, its end)
    rest: str

    def text(self) -> str:
        if not self.has_front_matter:
            out = self.rest
        else:
            lines = [self.opening]
            for e in self.entries:
                lines += e.lead + e.lines
            lines += self.trailing
            lines.append(self.closing)
            out = "\n".join(lines) + "\n" + self.rest
        if self.crlf:
            out = out.replace("\n", "\r\n")
        return self.bom + out


def _split(text: str) -> _Split | None:
    """The file in its parts; None when its front matter is not closed (the form shows such a file as text)."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    text = text.removeprefix("\ufeff")
    crlf = "\r\n" in text
    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != FENCE:
        return _Split(bom, crlf, False, FENCE, [], [], FENCE, text)
    close = next((i for i, ln in enumerate(lines[1:], start=1) if ln.rstrip() in (FENCE, "...")), None)
    if close is None:
        return None
    entries: list[_Entry] = []
    pending: list[str] = []
    for line in lines[1:close]:
        if line and not line[0].isspace() and not line.startswith("#"):
            m = _KEY.match(line)
            entries.append(_Entry(m.group(1) if m else None, pending, [line]))
            pending = []
        elif line.strip() and line[0].isspace() and entries:
            entries[-1].lines += pending + [line]  # blank lines inside a value belong to it
            pending = []
        else:
            pending.append(line)
    return _Split(bom, crlf, True, lines[0], entries, pending, lines[close], "\n".join(lines[close + 1:]))


def editable(text: str) -> bool:
    """Whether the writer can change this file key by key (its front matter is closed)."""
    return _split(text) is not None


def update_markdown(text: str | None, kind: str, values: Mapping[str, str | Facts | None],
                    body: str | None = None) -> str:
    """`text` (None for a new file) with the front matter keys of `values` set (None or empty: removed) and,
    when `body` is given, the Markdown body replaced. Everything else is kept as written."""
    split = _split(text or "")
    if split is None:
        raise ValueError("the front matter is not closed")
    order = KEY_ORDER[kind]
    for key, value in values.items():
        found = next((e for e in split.entries if e.key == key), None)
        empty = value is None or (isinstance(value, str) and not value.strip()) or (
            not isinstance(value, str) and not [r for r in value if r[0].strip() or r[1].strip()])
        if empty:
            if found is not None:
                split.entries.remove(found)
            continue
        if isinstance(value, str):
            lines = [f"{key}: {scalar(value)}"]
        else:
            lines = _facts_lines(found.lines if found else None, value)
        if found is not None:
            found.lines = lines
            continue
        rank = order.index(key) if key in order else len(order)
        at = next((i for i, e in enumerate(split.entries)
                   if e.key in order and order.index(e.key) > rank), len(split.entries))
        split.entries.insert(at, _Entry(key, [], lines))
        split.has_front_matter = True
    if body is not None:
        split.rest = _with_body(split.rest, body)
    if split.has_front_matter and not split.entries and not split.trailing and not text:
        split.has_front_matter = False  # a new file with no keys is a body alone
    return split.text()


def _with_body(rest: str, body: str) -> str:
    body = body.replace("\r\n", "\n").replace("\r", "\n").strip("\n").rstrip()
    lead = re.match(r"^\n*", rest).group(0)
    return f"{lead}{body}\n" if body else ""


def _facts_lines(old: list[str] | None, rows: Facts) -> list[str]:
    """The `facts:` key and its rows; a row the author wrote that is still there keeps its lines."""
    head = "facts:"
    indent = _FACTS_INDENT
    kept: list[tuple[tuple[str, str] | None, list[str]]] = []
    if old:
        if re.match(r"^facts\s*:\s*(#.*)?$", old[0]):
            head = old[0]
        first = next((ln for ln in old[1:] if ln.strip() and not ln.lstrip().startswith("#")), None)
        if first is not None:
            indent = first[: len(first) - len(first.lstrip())]
            kept = _fact_rows(old[1:], indent)
    out = [head]
    for label, value in rows:
        if not label.strip() and not value.strip():
            continue
        label, value = label.strip(), value.strip()
        same = next((i for i, (row, _) in enumerate(kept) if row == (label, value)), None)
        if same is not None:
            out += kept.pop(same)[1]
        else:
            out.append(f"{indent}{mapping_key(label)}: {scalar(value) if value else chr(34) * 2}")
    return out


def _fact_rows(lines: list[str], indent: str) -> list[tuple[tuple[str, str] | None, list[str]]]:
    """The rows under `facts:`, each with what it reads as (label, value as the form shows it)."""
    rows: list[list[str]] = []
    pending: list[str] = []
    for line in lines:
        starts = line.startswith(indent) and line.strip() and not line[len(indent)].isspace() \
            and not line.lstrip().startswith("#")
        if starts:
            rows.append(pending + [line])
            pending = []
        elif rows and line.strip():
            rows[-1].append(line)
        else:
            pending.append(line)
    if pending and rows:
        rows[-1] += pending
    out = []
    for row in rows:
        text = "\n".join(ln[len(indent):] if ln.startswith(indent) else ln.lstrip() for ln in row)
        loader = _TextLoader(text)
        try:
            data = loader.get_single_data()
        except yaml.YAMLError:
            data = None
        finally:
            loader.dispose()
        read = None
        if isinstance(data, dict) and len(data) == 1:
            (label, value), = data.items()
            read = (str(label).strip(), fact_value(value))
        out.append((read, row))
    return out


def fact_value(value) -> str:
    """A value of the facts table as the loader shows it (a list as "a, b"); text only."""
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return ", ".join(value).strip()
    return value.strip() if isinstance(value, str) else ""


# -- issue.toml -----------------------------------------------------------------------------------------------

def toml_editable(text: str) -> bool:
    try:
        tomlkit.parse(text)
    except (TOMLKitError, ValueError):
        return False
    return True


def update_toml(text: str | None, values: Mapping[str, str | dt.date | None]) -> str:
    """issue.toml with the keys of `values` set ("en.subject" is `subject` in the [en] table; None or "":
    removed), comments and layout kept; a new table goes at the end."""
    doc = tomlkit.parse(text or "")
    for name, value in values.items():
        table_name, _, key = name.rpartition(".")
        empty = value is None or (isinstance(value, str) and not value.strip())
        if table_name:
            table = doc.get(table_name)
            if table is None:
                if empty:
                    continue
                table = tomlkit.table()
                if len(doc):
                    doc.add(tomlkit.nl())
                doc.add(table_name, table)
                table = doc[table_name]
        else:
            table = doc
        if empty:
            if key in table:
                del table[key]
            continue
        if key in table:
            table[key] = value
        else:
            table.add(key, value)  # tomlkit puts a new top-level key before the first table
    return tomlkit.dumps(doc)
