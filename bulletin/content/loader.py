"""Reads an issue folder (issue.toml, director.md, news/*.md, highlights.md, images/) into an `Issue`.

Every file is read once and every problem is collected in the same pass, each with its file, line and field
(`Problem`). What stops the issue from being built is `blocking`: `load_issue` raises the first such problem as
a `ContentError`, `read_issue` returns them all for `check`. A translation (`NAME.en.md`) replaces its
original key by key: what it lacks is shown from the original, and said.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bulletin.config import Config
from bulletin.content import markdown
from bulletin.content.frontmatter import Document, quoted, read_document
from bulletin.content.model import Director, EditionContent, Highlights, Image, ImageRole, Issue, NewsBlock
from bulletin.content.problems import FileReport, Problem, Report, Severity, dedupe
from bulletin.content.tomlfile import _iso_example, read_toml
from bulletin.errors import ContentError
from bulletin.i18n import Message

ISSUE_FILE = "issue.toml"
IMAGES_DIR = "images"
NEWS_DIR = "news"
PREHEADER_LIMIT = 150
#: Slugs end up in archive URLs and file names.
SLUG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ISSUE_KEYS = {"subject", "preheader", "date", "language"}
EDITION_KEYS = {"subject", "preheader"}
NEWS_KEYS = {"title", "place", "image", "image_alt", "link", "link_label", "facts"}
DIRECTOR_KEYS = {"title", "name", "role", "photo", "photo_alt"}
HIGHLIGHTS_KEYS = {"title"}
#: front matter key of an image -> (its alt text key, where it is shown)
IMAGE_KEYS = {"image": ("image_alt", ImageRole.BLOCK_IMAGE), "photo": ("photo_alt", ImageRole.DIRECTOR_PHOTO)}


@dataclass(frozen=True)
class Reading:
    """What `read_issue` found: the issue when it can be built, and every problem either way."""

    issue: Issue | None
    problems: tuple[Problem, ...]
    #: every file of the folder that the build reads (issue.toml, the Markdown files, the images they show),
    #: sorted: what an approval's fingerprint covers
    sources: tuple[Path, ...] = ()

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]


def read_issue(issue_dir: Path, cfg: Config) -> Reading:
    """Read an issue folder and report every problem; never raises for what is in the folder."""
    loader = _Loader(Path(issue_dir), cfg)
    issue = loader.load()
    problems = tuple(loader.sorted_problems())
    if issue is not None:
        issue = dataclasses.replace(issue, problems=problems)
    return Reading(issue, problems, tuple(sorted(loader.sources)))


def load_issue(issue_dir: Path, cfg: Config) -> Issue:
    """Read an issue folder; raises ContentError (with file and line) when it cannot be built."""
    reading = read_issue(issue_dir, cfg)
    if reading.issue is None:
        raise content_error(next(p for p in reading.problems if p.blocking))
    return reading.issue


def content_error(problem: Problem) -> ContentError:
    return ContentError(problem.sentence(), where=problem.path, line=problem.line)


@dataclass
class _Part:
    """One Markdown file, read and checked once."""

    path: Path
    out: FileReport
    doc: Document
    #: checked values: text, a facts mapping, or an Image for image keys
    values: dict[str, Any] = field(default_factory=dict)
    inline: list[Image] = field(default_factory=list)
    ok: bool = True

    def line(self, key: str) -> int | None:
        return self.doc.lines.get(key)


class _Loader:
    def __init__(self, issue_dir: Path, cfg: Config):
        self.dir = issue_dir
        self.cfg = cfg
        self.report = Report(issue_dir.resolve() if issue_dir.exists() else issue_dir.absolute(), issue_dir)
        self.langs_known = tuple(cfg.organisation.languages)
        self._order: dict[str, int] = {}
        self.sources: set[Path] = set()

    def at(self, path: Path) -> FileReport:
        out = self.report.at(path)
        self._order.setdefault(out.file, len(self._order))
        return out

    def sorted_problems(self) -> list[Problem]:
        problems = dedupe(self.report.problems)
        rank = {f: i for i, f in enumerate(self._order)}
        return sorted(problems, key=lambda p: (rank.get(p.file, len(rank)), p.line or 0))

    # -- the folder and issue.toml --------------------------------------------------------------------------
    def load(self) -> Issue | None:
        folder = self.at(self.dir)
        if not self.dir.is_dir():
            folder.error(None, "content.folder.missing")
            return None
        slug = self.dir.resolve().name
        if not SLUG_RE.match(slug):
            folder.error(None, "content.folder.slug", slug=slug, hint=Message("hint.slug"))
        settings = self._issue_toml()
        parts = self._read_parts()
        if settings is None:
            return None
        primary, issue_date, subjects = settings
        languages = tuple(subjects)
        self._siblings(languages, primary)
        editions, uses = {}, {}
        for lang in languages:
            editions[lang], uses[lang] = self._edition(lang, primary, subjects[lang], parts)
        if not parts["news"]:
            self.at(self.dir / NEWS_DIR).error(None, "content.news.none", hint=Message("hint.news.add"),
                                               blocking=False)
        images, replaced = self._image_record(parts, uses, languages)
        if self.report.blocked or issue_date is None:
            return None
        editions = {lang: _with_images(ed, replaced) for lang, ed in editions.items()}
        return Issue(slug=slug, path=self.dir, date=issue_date, language=primary, languages=languages,
                     editions=editions, images=tuple(images))

    def _issue_toml(self) -> tuple[str, date | None, dict[str, tuple[str, str]]] | None:
        path = self.dir / ISSUE_FILE
        out = self.at(path)
        try:
            text = self._read(path)
        except FileNotFoundError:
            out.error(None, "content.toml.missing", hint=Message("hint.toml.missing"))
            return None
        except UnicodeDecodeError:
            out.error(None, "content.file.not_utf8", hint=Message("hint.utf8"))
            return None
        except OSError as e:
            out.error(None, "content.file.unreadable", reason=e.strerror or str(e))
            return None
        toml = read_toml(text, out)
        data, lines = toml.data, toml.lines
        known = self.langs_known
        primary = data.get("language", self.cfg.organisation.language)
        if not isinstance(primary, str) or primary not in known:
            out.error(lines.get("language"), "content.toml.language", field="language", value=str(primary),
                      known=", ".join(known))
            primary = self.cfg.organisation.language
        for key, value in data.items():
            if isinstance(value, dict):
                if key not in known:
                    out.error(lines.get(f"[{key}]"), "content.toml.table_language", field=key, table=key,
                              known=", ".join(known))
                elif key == primary:
                    out.error(lines.get(f"[{key}]"), "content.toml.table_primary", field=key, table=key)
                else:
                    for sub in value:
                        if sub not in EDITION_KEYS:
                            out.error(lines.get(f"{key}.{sub}"), "content.key.unknown", field=f"{key}.{sub}",
                                      key_name=f"[{key}].{sub}", known=", ".join(sorted(EDITION_KEYS)),
                                      hint=_did_you_mean(sub, EDITION_KEYS))
            elif key not in ISSUE_KEYS:
                out.error(lines.get(key), "content.key.unknown", field=key, key_name=key,
                          known=", ".join(sorted(ISSUE_KEYS)), hint=_did_you_mean(key, ISSUE_KEYS))
        issue_date = self._date(data, lines, toml.broken, out)
        translations = [k for k, v in data.items() if isinstance(v, dict) and k in known and k != primary]
        subjects: dict[str, tuple[str, str]] = {}
        for lang in (primary, *translations):
            table = data if lang == primary else data[lang]
            prefix = "" if lang == primary else f"{lang}."
            values = []
            for key in ("subject", "preheader"):
                name = prefix + key
                value = table.get(key)
                line = lines.get(name) or (lines.get(f"[{lang}]") if prefix else None)
                if name in toml.broken:
                    values.append("")
                elif value is None:
                    out.error(line, "content.key.missing", field=name, key_name=_shown(name),
                              hint=Message("hint.toml.example", example=f'{key} = "…"'))
                    values.append("")
                elif not isinstance(value, str) or not value.strip():
                    out.error(line, "content.key.empty_text", field=name, key_name=_shown(name),
                              hint=Message("hint.toml.example", example=f'{key} = "…"'))
                    values.append("")
                else:
                    values.append(value.strip())
            subject, preheader = values
            if len(preheader) > PREHEADER_LIMIT:
                out.warning(lines.get(prefix + "preheader"), "content.preheader.long", field=prefix + "preheader",
                            key_name=_shown(prefix + "preheader"), length=len(preheader), limit=PREHEADER_LIMIT)
            subjects[lang] = (subject, preheader)
        return primary, issue_date, subjects

    def _date(self, data: dict, lines: dict[str, int], broken: set[str], out: FileReport) -> date | None:
        value = data.get("date")
        if "date" in broken:
            return None
        if value is None:
            out.error(None, "content.date.missing", field="date", hint=Message("hint.toml.date", example="date = 2026-12-15"))
            return None
        if isinstance(value, date):
            return value if type(value) is date else value.date()
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        out.error(lines.get("date"), "content.date.invalid", field="date", value=str(value),
                  hint=Message("hint.toml.date", example=f"date = {_iso_example(str(value))}"))
        return None

    # -- Markdown files ---------------------------------------------------------------------------------------
    def _read_parts(self) -> dict[str, Any]:
        """Every Markdown file of the issue, read once: {'director': {lang|None: part}, 'news': [{...}], ...}."""
        parts: dict[str, Any] = {"director": {}, "highlights": {}, "news": []}
        for name, keys in (("director", DIRECTOR_KEYS), ("highlights", HIGHLIGHTS_KEYS)):
            base = self.dir / f"{name}.md"
            if base.is_file():
                parts[name][None] = self._part(base, name, keys, translation=False)
            for lang in self.langs_known:
                t = self.dir / f"{name}.{lang}.md"
                if t.is_file():
                    parts[name][lang] = self._part(t, name, keys, translation=True)
        folder = self.dir / NEWS_DIR
        files = sorted(p for p in folder.glob("*.md") if p.is_file()) if folder.is_dir() else []
        langs = set(self.langs_known)
        for path in files:
            if _translation_language(path, langs):
                continue
            variants = {None: self._part(path, "news", NEWS_KEYS, translation=False)}
            for lang in self.langs_known:
                t = path.with_name(f"{path.stem}.{lang}.md")
                if t.is_file():
                    variants[lang] = self._part(t, "news", NEWS_KEYS, translation=True)
            parts["news"].append(variants)
        for path in files:  # translations whose original is missing: read them too, so their problems show
            lang = _translation_language(path, langs)
            if lang and not path.with_name(path.name.removesuffix(f".{lang}.md") + ".md").is_file():
                self._part(path, "news", NEWS_KEYS, translation=True)
        return parts

    def _read(self, path: Path) -> str:
        """A text file of the issue, recorded as one the build reads (even when it does not decode)."""
        data = path.read_bytes()
        self.sources.add(path)
        # As Path.read_text does (universal newlines): a file saved on Windows reads the same.
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")

    def _part(self, path: Path, kind: str, allowed: set[str], *, translation: bool) -> _Part:
        out = self.at(path)
        try:
            text = self._read(path)
        except UnicodeDecodeError:
            out.error(None, "content.file.not_utf8", hint=Message("hint.utf8"))
            return _Part(path, out, Document(ok=False), ok=False)
        except OSError as e:
            out.error(None, "content.file.unreadable", reason=e.strerror or str(e))
            return _Part(path, out, Document(ok=False), ok=False)
        doc = read_document(text, out)
        part = _Part(path, out, doc, ok=doc.ok)
        meta = doc.meta
        for key in meta:
            if key not in allowed:
                out.error(doc.lines.get(key), "content.key.unknown", field=key, key_name=key,
                          known=", ".join(sorted(allowed)), hint=_did_you_mean(key, allowed))
                part.ok = False
        for key in sorted(allowed & set(meta)):
            if key == "facts":
                part.values[key] = self._facts(part)
            elif key not in IMAGE_KEYS:
                part.values[key] = self._text(part, key)
        for key, (alt_key, role) in IMAGE_KEYS.items():
            if key in allowed and key in meta:
                part.values[key] = self._image(part, key, alt_key, role)
        if kind == "news" and not translation and not part.values.get("title") and doc.ok:
            out.error(doc.lines.get("title") or 1, "content.fm.missing", field="title", key_name="title",
                      hint=Message("hint.fm.example", example='title: "…"') if doc.has_front_matter
                      else Message("hint.fm.start"))
            part.ok = False
        if part.values.get("link"):
            self._button_link(part)
        self._check_body(part)
        if not doc.body.strip():
            if kind == "news" and not translation and not part.values.get("facts"):
                out.warning(doc.body_line, "content.news.empty", field="body")
            elif kind == "director" and not translation:
                out.warning(doc.body_line, "content.director.empty", field="body")
            elif kind == "highlights" and not translation:
                out.warning(doc.body_line, "content.highlights.empty", field="body")
        return part

    def _text(self, part: _Part, key: str) -> str:
        value = part.doc.meta.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            source = _source_line(part.path, part.line(key))
            m = re.match(r"^\s*[\w-]+\s*:\s*(.*)$", source or "")
            part.out.error(part.line(key), "content.key.not_text", field=key, key_name=key,
                           hint=Message("hint.fm.quote", example=quoted(key, m.group(1).strip()) if m else f'{key}: "…"'))
            part.ok = False
            return ""
        return value.strip()

    def _facts(self, part: _Part) -> dict[str, str]:
        raw = part.doc.meta.get("facts")
        line = part.line("facts")
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            part.out.error(line, "content.facts.not_mapping", field="facts", hint=Message("hint.facts"))
            part.ok = False
            return {}
        facts = {}
        for k, v in raw.items():
            if isinstance(v, list) and all(isinstance(x, str) for x in v):
                v = ", ".join(v)
            if not isinstance(v, str):
                part.out.error(part.line(f"facts.{k}") or line, "content.facts.value", field="facts", label=str(k),
                               hint=Message("hint.facts"))
                part.ok = False
                continue
            facts[str(k)] = v.strip()
        return facts

    def _button_link(self, part: _Part) -> None:
        link = part.values["link"]
        line = part.line("link")
        if urlsplit(link).scheme.lower() not in ("http", "https", "mailto"):
            # It becomes the button's href: anything else is a broken or unsafe button in every mail app.
            part.out.error(line, "content.link.button", field="link", link=link, hint=Message("hint.link.full"))
            part.ok = False
            return
        self._check_url(link, part.out, line, "link")

    # -- images and links ---------------------------------------------------------------------------------------
    def _image(self, part: _Part, key: str, alt_key: str, role: ImageRole) -> Image | None:
        src = self._text(part, key)
        if not src:
            return None
        line = part.line(key)
        alt = self._text(part, alt_key)
        if not alt:
            part.out.error(line, "content.image.no_alt", field=alt_key, src=src, blocking=False,
                           hint=Message("hint.fm.example", example=f'{alt_key}: "…"'))
        file = self._image_file(src, part, line, key)
        return Image(src=src, alt=alt, file=file, where=part.path, line=line, role=role)

    def _image_file(self, src: str, part: _Part, line: int | None, key: str) -> Path | None:
        scheme = urlsplit(src).scheme
        if scheme in ("http", "https"):
            self._check_url(src, part.out, line, key)
            return None
        if scheme:
            part.out.error(line, "content.image.scheme", field=key, src=src, hint=Message("hint.image.folder"))
            part.ok = False
            return None
        images = (self.dir / IMAGES_DIR).resolve()
        # Relative to the Markdown file, as an editor's preview resolves it, or to the issue folder.
        for base in (part.path.parent, self.dir):
            candidate = (base / src).resolve()
            if candidate.is_file():
                if candidate.parent != images:
                    part.out.error(line, "content.image.outside", field=key, src=src,
                                   hint=Message("hint.image.folder"))
                    part.ok = False
                    return None
                self.sources.add(self.dir / IMAGES_DIR / candidate.name)
                return candidate
        part.out.error(line, "content.image.not_found", field=key, src=src,
                       folder=str(self.report.shown_root / IMAGES_DIR), hint=Message("hint.image.folder"))
        part.ok = False
        return None

    def _check_body(self, part: _Part) -> None:
        body, first_line = part.doc.body, part.doc.body_line
        for ref in markdown.references(body, first_line):
            if ref.kind == "link":
                self._check_url(ref.target, part.out, ref.line, "body")
                continue
            if not ref.alt.strip():
                part.out.error(ref.line, "content.image.no_alt_inline", field="body", src=ref.target, blocking=False,
                               hint=Message("hint.image.inline_alt", example=f"![…]({ref.target})"))
            file = self._image_file(ref.target, part, ref.line, "body")
            if file is not None or "://" in ref.target:
                part.inline.append(Image(src=ref.target, alt=ref.alt, file=file, where=part.path, line=ref.line,
                                         role=ImageRole.INLINE))
        for line, tag in markdown.raw_html(body, first_line):
            part.out.warning(line, "content.body.raw_html", field="body", tag=tag, hint=Message("hint.body.markdown"))

    def _check_url(self, url: str, out: FileReport, line: int | None, key: str) -> None:
        if url.startswith("#") or url.startswith("%%"):
            return
        parts = urlsplit(url)
        ok = (parts.scheme in ("http", "https") and "." in parts.netloc and " " not in url) or (
            parts.scheme == "mailto" and "@" in parts.path)
        if not ok:
            relative = not parts.scheme and not parts.netloc and " " not in url and url.strip()
            out.error(line, "content.link.malformed", field=key, link=url, blocking=False,
                      hint=Message("hint.link.relative", name=url) if relative else Message("hint.link.full"))

    # -- editions ---------------------------------------------------------------------------------------------
    def _edition(self, lang: str, primary: str, subject_preheader: tuple[str, str], parts: dict):
        """The edition `lang` and the image references it shows."""
        uses: list[Image] = []
        director = highlights = None
        d = self._merged(parts["director"], lang, primary)
        if d is not None:
            values, body, part, body_part = d
            uses.extend(x for x in (values.get("photo"),) if x)
            uses.extend(body_part.inline)
            director = Director(title=values.get("title", ""), name=values.get("name", ""),
                                role=values.get("role", ""), photo=values.get("photo"), body=body,
                                path=body_part.path, body_line=body_part.doc.body_line)
        news = []
        for i, variants in enumerate(parts["news"], start=1):
            m = self._merged(variants, lang, primary)
            if m is None:
                continue
            values, body, part, body_part = m
            uses.extend(x for x in (values.get("image"),) if x)
            uses.extend(body_part.inline)
            news.append(NewsBlock(title=values.get("title", ""), place=values.get("place", ""),
                                  image=values.get("image"), link=values.get("link", ""),
                                  link_label=values.get("link_label", ""), facts=values.get("facts", {}),
                                  body=body, path=body_part.path, body_line=body_part.doc.body_line,
                                  anchor=f"news-{i}"))
        h = self._merged(parts["highlights"], lang, primary)
        if h is not None:
            values, body, part, body_part = h
            uses.extend(body_part.inline)
            highlights = Highlights(title=values.get("title", ""), body=body, path=body_part.path,
                                    body_line=body_part.doc.body_line)
        subject, preheader = subject_preheader
        return EditionContent(language=lang, subject=subject, preheader=preheader, director=director,
                              news=tuple(news), highlights=highlights), uses

    def _merged(self, variants: dict, lang: str, primary: str):
        """(values, body, part, the part whose body is shown) of a file in the edition `lang`: the translation's
        values over the original's, each gap reported once."""
        original: _Part | None = variants.get(None)
        if original is None:
            return None
        if lang == primary or lang not in variants:
            return original.values, original.doc.body, original, original
        tr: _Part = variants[lang]
        values = dict(original.values)
        values.update({k: v for k, v in tr.values.items() if v not in ("", None, {})})
        compare = original.doc.ok and tr.doc.ok  # a file that did not read whole would report false gaps
        for key in original.doc.meta if compare else ():
            if key not in tr.doc.meta and original.values.get(key):
                tr.out.warning(None, "content.translation.missing_key", field=key, key_name=key,
                               original=original.out.file, language=lang, primary=primary,
                               hint=Message("hint.translation.add", example=f"{key}: …"))
        for key in tr.doc.meta if compare else ():
            if key not in original.doc.meta and tr.values.get(key):
                tr.out.warning(tr.line(key), "content.translation.extra_key", field=key, key_name=key,
                               original=original.out.file, primary=primary)
        of, tf = original.values.get("facts") or {}, tr.values.get("facts") or {}
        if of and tf and len(of) != len(tf):
            tr.out.warning(tr.line("facts"), "content.translation.facts", field="facts", count=len(tf),
                           original=original.out.file, original_count=len(of))
        if tr.doc.body.strip() or not original.doc.body.strip():
            return values, tr.doc.body, tr, tr
        tr.out.warning(tr.doc.body_line, "content.translation.no_body", field="body", original=original.out.file,
                       primary=primary)
        return values, original.doc.body, tr, original

    def _siblings(self, languages: tuple[str, ...], primary: str) -> None:
        """Translations that would be silently unused, and texts a translated edition shows untranslated."""
        langs = set(self.langs_known)
        files = [p for p in (self.dir / "director.md", self.dir / "highlights.md") if p.is_file()]
        files += [p for name in ("director", "highlights") for lang in langs
                  if (p := self.dir / f"{name}.{lang}.md").is_file()]
        if (self.dir / NEWS_DIR).is_dir():
            files += sorted(p for p in (self.dir / NEWS_DIR).glob("*.md") if p.is_file())
        for path in sorted(files):
            lang = _translation_language(path, langs)
            out = self.at(path)
            if lang and lang not in languages:
                out.warning(None, "content.translation.no_table", language=lang,
                            hint=Message("hint.translation.table", language=lang))
            elif lang and not path.with_name(path.name.removesuffix(f".{lang}.md") + ".md").is_file():
                out.warning(None, "content.translation.orphan", original=path.name.removesuffix(f".{lang}.md") + ".md")
            elif not lang:
                for other in languages:
                    if other != primary and not path.with_name(f"{path.stem}.{other}.md").is_file():
                        out.warning(None, "content.translation.missing", translation=f"{path.stem}.{other}.md",
                                    language=other)

    def _image_record(self, parts: dict, uses: dict[str, list[Image]],
                      languages: tuple[str, ...]) -> tuple[list[Image], dict[int, Image]]:
        """Every image reference once, in order of appearance, with the editions that show it; and the
        record's entry for each reference the editions hold."""
        shown: dict[int, set[str]] = {}
        for lang, refs in uses.items():
            for ref in refs:
                shown.setdefault(id(ref), set()).add(lang)
        record: list[Image] = []
        replaced: dict[int, Image] = {}
        for group in (parts["director"], *parts["news"], parts["highlights"]):
            for part in group.values():
                for ref in (*(part.values.get(k) for k in IMAGE_KEYS), *part.inline):
                    if isinstance(ref, Image):
                        replaced[id(ref)] = dataclasses.replace(ref, editions=frozenset(shown.get(id(ref), ())))
                        record.append(replaced[id(ref)])
        logo = self.cfg.organisation.logo
        if logo:
            src = logo if urlsplit(logo).scheme else f"{self.cfg.web.base_url.rstrip('/')}/{logo.lstrip('/')}"
            record.append(Image(src=src, alt=self.cfg.organisation.name, file=None, where=None, line=None,
                                role=ImageRole.LOGO, editions=frozenset(languages)))
        return record, replaced


def _with_images(edition: EditionContent, replaced: dict[int, Image]) -> EditionContent:
    """The edition with its image references swapped for the record's (which know their editions)."""
    def swap(ref: Image | None) -> Image | None:
        return replaced.get(id(ref), ref) if ref is not None else None

    director = edition.director
    if director is not None:
        director = dataclasses.replace(director, photo=swap(director.photo))
    news = tuple(dataclasses.replace(b, image=swap(b.image)) for b in edition.news)
    return dataclasses.replace(edition, director=director, news=news)


def _shown(name: str) -> str:
    """'en.subject' as an author reads it in issue.toml: '[en] subject'."""
    return f"[{name.split('.')[0]}] {name.split('.', 1)[1]}" if "." in name else name


def _did_you_mean(key: str, known: set[str]) -> Message | None:
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    return Message("hint.key.did_you_mean", key_name=close[0]) if close else None


def _source_line(path: Path, line: int | None) -> str | None:
    if line is None:
        return None
    try:
        return path.read_text(encoding="utf-8").lstrip("\ufeff").replace("\r\n", "\n").split("\n")[line - 1]
    except (OSError, UnicodeDecodeError, IndexError):
        return None


def _translation_language(path: Path, langs: set[str]) -> str | None:
    parts = path.name.split(".")
    return parts[-2] if len(parts) >= 3 and parts[-2] in langs else None


__all__ = ["read_issue", "load_issue", "Reading", "content_error", "SLUG_RE", "ISSUE_FILE", "IMAGES_DIR"]
