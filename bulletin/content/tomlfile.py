"""issue.toml read so that every mistake is found in one pass: a line that does not parse is reported with a
hint and set aside, and the rest of the file is read again, so eight mistakes need one run, not seven."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bulletin.content.problems import FileReport
from bulletin.i18n import Message

#: A file with more broken lines than this is reported up to here; the author fixes those first.
MAX_ERRORS = 30
_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_-]+)\s*\]")
_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=\s*(.*?)\s*$")
_COLON = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*:\s*(.*?)\s*$")
_DMY = re.compile(r"^[\"']?(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})[\"']?$")


@dataclass
class TomlFile:
    data: dict[str, Any] = field(default_factory=dict)
    #: 'subject', '[en]', 'en.subject' -> line
    lines: dict[str, int] = field(default_factory=dict)
    #: keys whose line was set aside: not to be reported again as missing
    broken: set[str] = field(default_factory=set)
    ok: bool = True


def read_toml(text: str, out: FileReport) -> TomlFile:
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    result = TomlFile(lines=key_lines(lines))
    keys_at = _keys_by_line(lines)
    for qualified, line, first in _duplicates(lines):
        out.error(line, "content.toml.duplicate", field=qualified, key_name=qualified, first=first,
                  hint=Message("hint.fm.keep_one"))
        lines[line - 1] = ""
        result.ok = False
    for _ in range(MAX_ERRORS):
        try:
            result.data = tomllib.loads("\n".join(lines))
            break
        except tomllib.TOMLDecodeError as e:
            m = re.search(r"\(at line (\d+), column \d+\)", str(e))
            what = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
            result.ok = False
            line = int(m.group(1)) if m else None
            if line is None or line > len(lines) or not lines[line - 1].strip():
                line = _last_nonblank(lines, line)
            if line is None:
                out.error(None, "content.toml.invalid", problem=what)
                break
            source = lines[line - 1]
            key = keys_at.get(line)
            out.error(line, "content.toml.invalid", problem=what, field=key, hint=toml_hint(source))
            if key:
                result.broken.add(key)
            lines[line - 1] = ""  # set aside; read the rest
    return result


def _last_nonblank(lines: list[str], upto: int | None) -> int | None:
    end = min(upto or len(lines), len(lines))
    for i in range(end, 0, -1):
        if lines[i - 1].strip():
            return i
    return None


def toml_hint(source: str) -> Message | None:
    """What to do about an issue.toml line that does not parse."""
    if (m := _ASSIGN.match(source)) is None:
        if (c := _COLON.match(source)) is not None:
            return Message("hint.toml.equals", example=f'{c.group(1)} = "{c.group(2).strip(chr(34) + chr(39))}"')
        if source.lstrip().startswith("["):
            return Message("hint.toml.table")
        return None
    key, value = m.group(1), m.group(2)
    if key == "date" or _DMY.match(value):
        return Message("hint.toml.date", example=f"date = {_iso_example(value)}")
    if value.startswith('"') and (len(value) == 1 or not value.rstrip().endswith('"')):
        return Message("hint.toml.close_quote")
    if value and value[0] not in "\"'[{" and not re.match(r"^(true|false|[+-]?\d)", value):
        return Message("hint.toml.quote", example=f'{key} = "{value}"')
    return None


def _iso_example(value: str) -> str:
    m = _DMY.match(value.strip())
    if m:
        day, month, year = (int(x) for x in m.groups())
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            pass
    return "2026-12-15"


def key_lines(lines: list[str]) -> dict[str, int]:
    """Where each key of issue.toml is written: 'subject', '[en]', 'en.subject' -> line number."""
    found: dict[str, int] = {}
    for i, qualified in _keys_by_line(lines).items():
        found.setdefault(qualified, i)
    table = ""
    for i, ln in enumerate(lines, start=1):
        if (m := _TABLE.match(ln)) is not None:
            table = m.group(1)
            found.setdefault(f"[{table}]", i)
    return found


def _keys_by_line(lines: list[str]) -> dict[int, str]:
    table = ""
    out: dict[int, str] = {}
    for i, ln in enumerate(lines, start=1):
        if (m := _TABLE.match(ln)) is not None:
            table = m.group(1)
            continue
        m = _ASSIGN.match(ln) or _COLON.match(ln)
        if m and not ln.lstrip().startswith("#"):
            out[i] = f"{table}.{m.group(1)}" if table else m.group(1)
    return out


def _duplicates(lines: list[str]) -> list[tuple[str, int, int]]:
    seen: dict[str, int] = {}
    dups = []
    for i, qualified in _keys_by_line(lines).items():
        if not _ASSIGN.match(lines[i - 1]):
            continue
        if qualified in seen:
            dups.append((qualified, i, seen[qualified]))
        else:
            seen[qualified] = i
    return dups
