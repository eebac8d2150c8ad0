"""An issue folder as the browser editor shows it, and back: each file's fields (front matter keys, the facts
rows, the Markdown body) per edition, and the files a submitted form writes (through content/writer.py).

A field the form did not send is left alone; a field sent with the value it had when the page was opened is
left alone too, so a form saved unchanged writes nothing. A file that changed on disk since the page was opened
(its version, the SHA-256 of its bytes, differs from the one the page carried) is never overwritten: when the
form changed it too, the two versions are handed back as a `Conflict` for the author to choose between.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from bulletin.content.frontmatter import read_document
from bulletin.content.loader import ISSUE_FILE, NEWS_DIR, _translation_language
from bulletin.content.problems import Report
from bulletin.content.writer import (KEY_ORDER, editable, fact_value, toml_editable, update_markdown,
                                     update_toml)

#: The text keys of each kind of file, in the order the form shows them (facts and body come after).
TEXT_KEYS = {kind: tuple(k for k in keys if k != "facts") for kind, keys in KEY_ORDER.items()}
#: The key that names a file's image, and its alt text.
IMAGE_KEYS = {"news": ("image", "image_alt"), "director": ("photo", "photo_alt")}
TOML_KEYS = ("subject", "preheader", "date")
EDITION_KEYS = ("subject", "preheader")
#: The fields a file's form sends besides its keys.
BODY, FACTS, SOURCE = "body", "facts", "source"
_NUMBER = re.compile(r"^(\d+)-")

#: What a submitted form holds: field name -> every value sent under it (facts rows repeat their names).
Submission = Mapping[str, Sequence[str]]


def version_of(data: bytes | None) -> str:
    """The version of a file the page carries: the SHA-256 of its bytes, "" for a file that is not there."""
    return hashlib.sha256(data).hexdigest() if data is not None else ""


def field_name(rel: str, key: str) -> str:
    """The form field of `key` in the file `rel`: "news/01-bamako.md|title"."""
    return f"{rel}|{key}"


def version_field(rel: str) -> str:
    return f"version|{rel}"


@dataclass
class FileFields:
    """One file of the issue as the form shows it."""

    #: the path in the issue folder, "news/01-bamako.en.md"
    rel: str
    #: "toml", "news", "director" or "highlights"
    kind: str
    language: str
    exists: bool
    text: str
    version: str
    #: shown as its text in one text area: the form cannot show it key by key (a front matter that does not
    #: read, a value that is not text); saving writes the text as typed
    raw: bool = False
    values: dict[str, str] = field(default_factory=dict)
    facts: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""
    #: the file's bytes as read (None: not there)
    data: bytes | None = field(default=None, repr=False)

    def value(self, key: str) -> str | list[tuple[str, str]]:
        if key == FACTS:
            return self.facts
        if key == BODY:
            return self.body
        if key == SOURCE:
            return _normal(self.text)
        return self.values.get(key, "")

    @property
    def keys(self) -> tuple[str, ...]:
        """The fields this file's form sends."""
        if self.raw:
            return (SOURCE,)
        if self.kind == "toml":
            return tuple(self.values)
        return (*TEXT_KEYS[self.kind], *((FACTS,) if self.kind == "news" else ()), BODY)


def read_fields(rel: str, kind: str, language: str, data: bytes | None, tables: Sequence[str] = ()) -> FileFields:
    """The fields of one file as they are in `data` (None: the file is not there yet). For issue.toml, `tables`
    are the translated editions whose subject and preheader the form offers."""
    ff = FileFields(rel, kind, language, data is not None, "", version_of(data), data=data)
    try:
        ff.text = data.decode("utf-8") if data is not None else ""
    except UnicodeDecodeError:
        ff.text, ff.raw = data.decode("utf-8", errors="replace"), True
        return ff
    if kind == "toml":
        return _toml_fields(ff, tables)
    if ff.exists and not editable(ff.text):
        ff.raw = True
        return ff
    report = Report(Path("."))
    doc = read_document(ff.text, report.at(Path(rel)))
    if not doc.ok:
        ff.raw = True
        return ff
    for key in TEXT_KEYS[kind]:
        value = doc.meta.get(key)
        if value is not None and not isinstance(value, str):
            ff.raw = True
            return ff
        ff.values[key] = (value or "").strip()
    facts = doc.meta.get(FACTS)
    if kind == "news" and facts is not None:
        if not isinstance(facts, dict) or any(not fact_value(v) and v not in ("", None) for v in facts.values()):
            ff.raw = True
            return ff
        ff.facts = [(str(k).strip(), fact_value(v)) for k, v in facts.items()]
    ff.body = doc.body
    return ff


def _toml_fields(ff: FileFields, tables: Sequence[str]) -> FileFields:
    try:
        data = tomllib.loads(ff.text.lstrip("\ufeff")) if ff.exists else {}
    except tomllib.TOMLDecodeError:
        ff.raw = True
        return ff
    if ff.exists and not toml_editable(ff.text):
        ff.raw = True
        return ff
    wanted = {key: data.get(key) for key in TOML_KEYS}
    for table in tables:
        section = data.get(table)
        for key in EDITION_KEYS:
            wanted[f"{table}.{key}"] = section.get(key) if isinstance(section, dict) else None
    for name, value in wanted.items():
        if isinstance(value, date):
            value = value.isoformat()[:10]
        if value is not None and not isinstance(value, str):
            ff.raw = True
            return ff
        ff.values[name] = (value or "").strip()
    return ff


@dataclass
class Block:
    """One news block: its file and its translations."""

    stem: str
    #: language -> fields; the primary language's file is `news/STEM.md`
    files: dict[str, FileFields]

    @property
    def rest(self) -> str:
        """The name without its number: "bamako" of "01-bamako"."""
        return _NUMBER.sub("", self.stem) or self.stem


@dataclass
class IssueForm:
    slug: str
    folder: Path
    primary: str
    #: the editions, primary first: the primary language and each translated table of issue.toml
    editions: tuple[str, ...]
    #: the languages of the organisation other than the primary one, offered in issue.toml even when absent
    offered: tuple[str, ...]
    toml: FileFields
    director: dict[str, FileFields]
    highlights: dict[str, FileFields]
    news: list[Block]

    def files(self) -> list[FileFields]:
        out = [self.toml, *self.director.values(), *self.highlights.values()]
        for block in self.news:
            out += block.files.values()
        return out

    def file(self, rel: str) -> FileFields | None:
        return next((f for f in self.files() if f.rel == rel), None)

    def block(self, stem: str) -> Block | None:
        return next((b for b in self.news if b.stem == stem), None)


def translation_name(name: str, language: str) -> str:
    """`NAME.md` -> `NAME.LANG.md`."""
    return f"{name.removesuffix('.md')}.{language}.md"


def read_form(folder: Path, primary_default: str, languages: Sequence[str]) -> IssueForm:
    """The issue folder as the form shows it. `languages`: the organisation's; `primary_default` is used when
    issue.toml names no language."""
    folder = Path(folder)
    known = tuple(languages)
    toml_data = _read(folder / ISSUE_FILE)
    try:
        parsed = tomllib.loads(toml_data.decode("utf-8").lstrip("\ufeff")) if toml_data is not None else {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        parsed = {}
    primary = parsed.get("language") if parsed.get("language") in known else primary_default
    offered = tuple(lang for lang in known if lang != primary)
    editions = (primary, *(lang for lang in offered if isinstance(parsed.get(lang), dict)))
    toml = read_fields(ISSUE_FILE, "toml", primary, toml_data, offered)

    def variants(name: str, kind: str) -> dict[str, FileFields]:
        out = {primary: read_fields(name, kind, primary, _read(folder / name))}
        for lang in editions[1:]:
            rel = translation_name(name, lang)
            out[lang] = read_fields(rel, kind, lang, _read(folder / rel))
        return out

    news = []
    news_dir = folder / NEWS_DIR
    names = sorted(p.name for p in news_dir.glob("*.md") if p.is_file()) if news_dir.is_dir() else []
    for name in names:
        if _translation_language(Path(name), set(known)):
            continue
        news.append(Block(name.removesuffix(".md"), variants(f"{NEWS_DIR}/{name}", "news")))
    return IssueForm(folder.resolve().name, folder, primary, editions, offered, toml,
                     variants("director.md", "director"), variants("highlights.md", "highlights"), news)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


# -- from a submitted form to the files ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Write:
    rel: str
    #: the text to write (UTF-8)
    text: str
    #: the file as it is on disk now (None: not there), and its version: written only if it still has it
    before: str | None
    version: str


@dataclass(frozen=True)
class Conflict:
    """A file the form changed that also changed on disk since the page was opened."""

    rel: str
    #: the file on disk now (None: it was deleted), and its version
    theirs: str | None
    version: str
    #: the file as the form would have written it
    mine: str


@dataclass
class Plan:
    writes: list[Write] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    #: the fields that changed, per file, for the audit log
    changed: dict[str, list[str]] = field(default_factory=dict)


def submitted_value(ff: FileFields, key: str, submission: Submission) -> str | list[tuple[str, str]] | None:
    """What the form sent for `key` of the file, None when it sent nothing for it."""
    name = field_name(ff.rel, key)
    if key == FACTS:
        if name not in submission:  # the table's marker: absent, the table was not in the form
            return None
        labels = list(submission.get(field_name(ff.rel, "facts.label"), ()))
        values = list(submission.get(field_name(ff.rel, "facts.value"), ()))
        values += [""] * (len(labels) - len(values))
        return [(label.strip(), value.strip()) for label, value in zip(labels, values)
                if label.strip() or value.strip()]
    got = submission.get(name)
    if not got:
        return None
    value = got[-1]
    if key in (BODY, SOURCE):
        return _normal(value)
    return value.strip()


def _normal(text: str) -> str:
    """A text area's value as the file would hold it: browsers send CRLF line ends."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def plan(form: IssueForm, submission: Submission, base: Callable[[str], bytes | None] | None = None,
         overrides: Mapping[str, Mapping[str, str]] | None = None) -> Plan:
    """The files to write for `submission` over the folder as it is now (`form`).

    `submission` carries each file's version as the page had it (`version_field`); `base(version)` gives the
    bytes of that version when they are still known, so only the fields the author changed count. `overrides`:
    {rel: {key: value}} set besides the form (an uploaded image's new name)."""
    out = Plan()
    overrides = overrides or {}
    for ff in form.files():
        token = (submission.get(version_field(ff.rel)) or [None])[-1]
        if token is None:
            continue  # a form without the file's version cannot say whether the file changed since: left alone
        mine: dict[str, object] = {}
        for key in ff.keys:
            value = submitted_value(ff, key, submission)
            if value is not None:
                mine[key] = value
        for key, value in overrides.get(ff.rel, {}).items():
            if not ff.raw:
                mine[key] = value
        if not mine:
            continue
        if token == ff.version:
            was = ff
        else:
            data = base(token) if base is not None and token else None
            was = (read_fields(ff.rel, ff.kind, ff.language, data, _tables(ff)) if data is not None or token == ""
                   else ff)
            if was.raw != ff.raw:
                was = ff
        changed = {k: v for k, v in mine.items() if v != was.value(k)}
        if ff.rel in overrides:  # an upload replaces the image even when its name did not change
            changed.update({k: v for k, v in mine.items() if k in overrides[ff.rel]})
        if not changed:
            continue
        out.changed[ff.rel] = list(changed)
        stale = token != ff.version
        start = was.text if (stale and was is not ff) else ff.text
        exists = was.exists if (stale and was is not ff) else ff.exists
        text = _apply(ff, changed, start if exists else None)
        if stale:
            out.conflicts.append(Conflict(ff.rel, ff.text if ff.exists else None, ff.version, text))
        elif text != ff.text or not ff.exists:
            out.writes.append(Write(ff.rel, text, ff.text if ff.exists else None, ff.version))
    _follow_images(form, out)
    return out


def _tables(ff: FileFields) -> tuple[str, ...]:
    return tuple(sorted({k.split(".")[0] for k in ff.values if "." in k}))


def _apply(ff: FileFields, changed: dict[str, object], text: str | None) -> str:
    if SOURCE in changed:
        source = str(changed[SOURCE])
        return source if source.endswith("\n") or not source else source + "\n"
    if ff.kind == "toml":
        values = {}
        for key, value in changed.items():
            if key == "date" and value:
                try:
                    value = date.fromisoformat(str(value))
                except ValueError:
                    pass  # kept as text: check says what is wrong with it, next to the field
            values[key] = value
        return update_toml(text, values)
    body = changed.get(BODY)
    values = {k: v for k, v in changed.items() if k != BODY}
    return update_markdown(text, ff.kind, values, body if isinstance(body, str) else None)  # type: ignore[arg-type]


def _follow_images(form: IssueForm, out: Plan) -> None:
    """A translation that showed the same image as its original follows when the original's image changes."""
    writes = {w.rel: w for w in out.writes}
    groups = [form.director, *(b.files for b in form.news)]
    for files in groups:
        original = files.get(form.primary)
        if original is None or original.kind not in IMAGE_KEYS or original.rel not in writes:
            continue
        key = IMAGE_KEYS[original.kind][0]
        if key not in out.changed.get(original.rel, ()):
            continue
        new = _image_of(writes[original.rel].text, original)
        for lang, tr in files.items():
            if lang == form.primary or tr.raw or not tr.exists or tr.rel in out.changed:
                continue
            if tr.values.get(key) and tr.values.get(key) == original.values.get(key):
                text = update_markdown(tr.text, tr.kind, {key: new})
                out.writes.append(Write(tr.rel, text, tr.text, tr.version))
                out.changed[tr.rel] = [key]


def _image_of(text: str, ff: FileFields) -> str:
    return read_fields(ff.rel, ff.kind, ff.language, text.encode("utf-8")).values.get(IMAGE_KEYS[ff.kind][0], "")


# -- the blocks' order ------------------------------------------------------------------------------------------

def block_files(form: IssueForm, block: Block) -> list[str]:
    """The files of a block on disk: its original and every translation there is (in any known language)."""
    return [f.rel for f in block.files.values() if f.exists]


def renames(form: IssueForm, order: Sequence[str]) -> list[tuple[str, str]]:
    """(old, new) paths that number the blocks `order` (stems) 01, 02, ... with their translations."""
    width = max(2, len(str(len(order))))
    out = []
    for i, stem in enumerate(order, start=1):
        block = form.block(stem)
        if block is None:
            continue
        new_stem = f"{i:0{width}d}-{block.rest}"
        if new_stem == stem:
            continue
        for ff in block.files.values():
            if ff.exists:
                out.append((ff.rel, ff.rel.replace(f"{NEWS_DIR}/{stem}.", f"{NEWS_DIR}/{new_stem}.", 1)))
        for extra in _other_translations(form, block):
            out.append((extra, extra.replace(f"{NEWS_DIR}/{stem}.", f"{NEWS_DIR}/{new_stem}.", 1)))
    return out


def _other_translations(form: IssueForm, block: Block) -> list[str]:
    """Translations of the block in a language the issue has no table for (kept beside it when renamed)."""
    shown = {f.rel for f in block.files.values()}
    folder = form.folder / NEWS_DIR
    names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    return [f"{NEWS_DIR}/{name}" for name in names if name.startswith(f"{block.stem}.") and name.endswith(".md")
            and name.count(".") == block.stem.count(".") + 2 and f"{NEWS_DIR}/{name}" not in shown]


def moved(order: Sequence[str], stem: str, delta: int) -> list[str]:
    """`order` with `stem` moved `delta` places (-1 up, +1 down), kept within the list."""
    items = list(order)
    i = items.index(stem)
    j = min(max(i + delta, 0), len(items) - 1)
    items.insert(j, items.pop(i))
    return items


def new_block_name(form: IssueForm, title: str) -> str:
    """`news/NN-name.md` for a block added at the end, named after its title."""
    numbers = [int(m.group(1)) for b in form.news if (m := _NUMBER.match(b.stem))]
    number = max([len(form.news), *numbers]) + 1
    name = ascii_name(title, 40) or "nouvelle"
    stem = f"{number:02d}-{name}"
    existing = {b.stem for b in form.news}
    n = 2
    while stem in existing:
        stem = f"{number:02d}-{name}-{n}"
        n += 1
    return f"{NEWS_DIR}/{stem}.md"


def ascii_name(text: str, limit: int) -> str:
    """A file name from words: "Ségou : l'atelier" -> "segou-l-atelier"."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    plain = re.sub(r"[^a-z0-9]+", "-", plain).strip("-")
    return plain[:limit].rstrip("-")


def overlay(form: IssueForm, submission: Submission) -> IssueForm:
    """`form` (just read) showing what the author sent instead, for the files whose version the page had: the
    page shown again next to what was refused keeps what she typed."""
    for ff in form.files():
        if (submission.get(version_field(ff.rel)) or [None])[-1] != ff.version:
            continue
        for key in ff.keys:
            value = submitted_value(ff, key, submission)
            if value is None:
                continue
            if key == FACTS:
                ff.facts = list(value)  # type: ignore[arg-type]
            elif key == BODY:
                ff.body = str(value)
            elif key == SOURCE:
                ff.text = str(value)
            else:
                ff.values[key] = str(value)
    return form
