"""Front matter as authors write it (YAML between `---` lines, as in Hugo and Jekyll), read so that every
mistake is found in one pass with its line and a hint, and nothing is guessed: every value is text.

PyYAML alone stops at the first error and turns `place: Non` into False and `12:30` into 750. Here each
top-level key is read on its own when the whole block does not parse, so one bad line does not hide the
others, and plain values stay the text the author typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from bulletin.content.problems import FileReport
from bulletin.i18n import Message

FENCE = "---"
#: The YAML of the front matter starts on the file's second line, after the opening fence.
YAML_FIRST_LINE = 2
_KEY_LINE = re.compile(r"^([A-Za-z_][\w-]*)\s*:(.*)$")


class _TextLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml where built: 3x faster
    """SafeLoader whose plain scalars are all text (only an empty value is null), and which notes
    duplicate keys in nested mappings instead of keeping the last silently."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.duplicates: list[tuple[str, int, int]] = []

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node.start_mark.line)
            except TypeError:
                continue  # an unhashable key: SafeLoader raises its own error below
            if first != key_node.start_mark.line:
                self.duplicates.append((str(key), key_node.start_mark.line, first))
        return super().construct_mapping(node, deep=deep)


_TextLoader.yaml_implicit_resolvers = {}
_TextLoader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|)$"), ["~", ""])


@dataclass
class Document:
    """A Markdown file split into its front matter (checked) and its body."""

    meta: dict[str, Any] = field(default_factory=dict)
    #: key -> file line; nested keys as "facts.LABEL"
    lines: dict[str, int] = field(default_factory=dict)
    body: str = ""
    body_line: int = 1
    has_front_matter: bool = False
    #: False when the front matter could not be read whole (meta holds what could be read)
    ok: bool = True
    #: the last line of the front matter (its closing fence), where a missing key would go
    end_line: int = 1


def read_document(text: str, out: FileReport) -> Document:
    """Split and read `text`; every problem goes to `out` with its line."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    doc = Document()
    if lines and lines[0].rstrip() == FENCE:
        close = next((i for i, ln in enumerate(lines[1:], start=1) if ln.rstrip() in (FENCE, "...")), None)
        if close is None:
            out.error(1, "content.fm.unclosed", hint=Message("hint.fm.close"))
            doc.ok = False
            return doc
        head, body_start = lines[1:close], close + 1
    else:
        close = _missing_opening_fence(lines)
        if close is None:
            doc.body, doc.body_line = _body(lines, 0)
            return doc
        # Without its opening line the keys would be printed in the email as text; read them anyway so the
        # other mistakes show in the same run.
        out.error(1, "content.fm.no_opening", hint=Message("hint.fm.open"))
        doc.ok = False
        head, body_start = lines[:close], close + 1
    doc.has_front_matter = True
    doc.end_line = body_start
    offset = YAML_FIRST_LINE if lines[0].rstrip() == FENCE else 1
    _read_yaml(head, offset, doc, out)
    doc.body, doc.body_line = _body(lines, body_start)
    return doc


def _missing_opening_fence(lines: list[str]) -> int | None:
    """The index of a `---` line that closes a front matter whose opening fence was forgotten, else None."""
    close = next((i for i, ln in enumerate(lines) if ln.rstrip() == FENCE), None)
    if not close:
        return None
    head = [ln for ln in lines[:close] if ln.strip() and not ln.lstrip().startswith("#")]
    if head and _KEY_LINE.match(head[0]) and all(_KEY_LINE.match(ln) or ln[0].isspace() for ln in head):
        return close
    return None


def _body(lines: list[str], start: int) -> tuple[str, int]:
    rest = lines[start:]
    first = next((i for i, ln in enumerate(rest) if ln.strip()), 0)
    return "\n".join(rest[first:]).rstrip(), start + first + 1


def _read_yaml(head: list[str], offset: int, doc: Document, out: FileReport) -> None:
    try:
        pairs, duplicates = _parse("\n".join(head), 0)
    except yaml.YAMLError as whole:
        pairs, duplicates = [], []
        found = False
        for start, end in _entries(head):
            try:
                got, dups = _parse("\n".join(head[start:end]), start)
            except yaml.YAMLError as e:
                _yaml_error(e, head, start, offset, out)
                found = True
                continue
            if got is None:
                out.error(start + offset, "content.fm.not_mapping", hint=Message("hint.fm.key_value"))
                found = True
                continue
            pairs.extend(got)
            duplicates.extend(dups)
        if not found:  # the block fails only as a whole (a value spanning unindented lines)
            _yaml_error(whole, head, 0, offset, out)
        doc.ok = False
    else:
        if pairs is None:
            out.error(offset, "content.fm.not_mapping", hint=Message("hint.fm.key_value"))
            doc.ok = False
            return
    seen: dict[str, int] = {}
    for key, line, value in pairs:
        file_line = line + offset
        if key is None:
            out.error(file_line, "content.fm.bad_key", hint=Message("hint.fm.key_value"))
            doc.ok = False
            continue
        if key in seen:
            out.error(file_line, "content.fm.duplicate", field=key, key_name=key, first=seen[key],
                      hint=Message("hint.fm.keep_one"))
            doc.ok = False
            continue
        seen[key] = file_line
        doc.meta[key] = value
        doc.lines[key] = file_line
        if isinstance(value, dict):
            for sub_key, sub_line in _nested_lines(head, line):
                doc.lines.setdefault(f"{key}.{sub_key}", sub_line + offset)
    for key, line, first in duplicates:  # inside a mapping such as facts: the field is the key that holds it
        owner = max(((at, k) for k, at, _ in pairs if k is not None and at <= line), default=(0, None))[1]
        out.error(line + offset, "content.fm.duplicate", field=owner, key_name=key, first=first + offset,
                  hint=Message("hint.fm.keep_one"))
        doc.ok = False


def _parse(text: str, first: int) -> tuple[list[tuple[str | None, int, Any]] | None, list[tuple[str, int, int]]]:
    """(key, line, value) of each top-level key, lines counted from the start of the front matter; None for a
    front matter that is not a mapping."""
    loader = _TextLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return [], []
        if not isinstance(node, yaml.MappingNode):
            return None, []
        pairs = []
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            value = loader.construct_object(value_node, deep=True)
            pairs.append((key if isinstance(key, str) else None, first + key_node.start_mark.line, value))
        return pairs, [(k, first + line, first + f) for k, line, f in loader.duplicates]
    finally:
        loader.dispose()


def _entries(head: list[str]) -> list[tuple[int, int]]:
    """(start, end) of each top-level entry: a line at column 0 and the indented lines under it."""
    starts = [i for i, ln in enumerate(head) if ln and not ln[0].isspace() and not ln.startswith("#")]
    if not starts:
        return [(0, len(head))] if any(ln.strip() for ln in head) else []
    if any(ln.strip() and not ln.lstrip().startswith("#") for ln in head[:starts[0]]):
        starts.insert(0, 0)  # indented lines before the first key belong to no key: read them on their own
    return list(zip(starts, [*starts[1:], len(head)]))


def _nested_lines(head: list[str], line: int) -> list[tuple[str, int]]:
    out = []
    for i in range(line + 1, len(head)):
        ln = head[i]
        if ln and not ln[0].isspace():
            break
        m = re.match(r"^\s+(?:[\"']?)([^:\"']+?)(?:[\"']?)\s*:", ln)
        if m:
            out.append((m.group(1).strip(), i))
    return out


def _yaml_error(e: yaml.YAMLError, head: list[str], start: int, offset: int, out: FileReport) -> None:
    mark = getattr(e, "problem_mark", None)
    context_mark = getattr(e, "context_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    context = getattr(e, "context", None) or ""
    line = start + (mark.line if mark else 0)
    if "quoted scalar" in context and context_mark is not None:
        line = start + context_mark.line  # an unclosed quote: where it opens, not the end of the file
    line = min(line, len(head) - 1) if head else 0
    text = head[line] if head else ""
    out.error(line + offset, "content.fm.yaml", problem=problem, hint=yaml_hint(problem, context, text),
              field=(_KEY_LINE.match(text).group(1) if _KEY_LINE.match(text) else None))


def yaml_hint(problem: str, context: str, text: str) -> Message | None:
    """What to do about a YAML error on the line `text`, in the author's terms."""
    m = _KEY_LINE.match(text)
    value = m.group(2).strip() if m else ""
    if "quoted scalar" in context:
        return Message("hint.fm.close_quote")
    if "\t" in text[: len(text) - len(text.lstrip())]:
        return Message("hint.fm.tabs")
    if text[:1].isspace() and ":" in text:
        return Message("hint.fm.indent")
    if m and (": " in value or value.endswith(":")):
        return Message("hint.fm.quote_colon", example=quoted(m.group(1), value))
    if m and (problem.startswith("found character")
              or "alias" in problem or "expected <block end>" in problem or problem.startswith("expected")):
        return Message("hint.fm.quote", example=quoted(m.group(1), value))
    if problem.startswith("could not find expected ':'"):
        return Message("hint.fm.key_value")
    return None


def quoted(key: str, value: str) -> str:
    """`key: "value"` as the author should write it."""
    if '"' in value and "'" not in value:
        return f"{key}: '{value}'"
    return f'{key}: "{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
