"""Reads an issue folder (issue.toml, director.md, news/*.md, highlights.md, images/) into an `Issue`.

Anything that stops an issue from being built raises `ContentError` naming the file and line; what only
deserves a second look (missing alt text, empty blocks, odd links) is collected as `Problem`s for `check`.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import frontmatter
import yaml

from bulletin.config import Config
from bulletin.content import markdown
from bulletin.content.model import Director, EditionContent, Highlights, Image, Issue, NewsBlock, Problem
from bulletin.errors import ContentError

ISSUE_FILE = "issue.toml"
IMAGES_DIR = "images"
PREHEADER_LIMIT = 150
#: Slugs end up in archive URLs and file names.
SLUG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ISSUE_KEYS = {"subject", "preheader", "date", "language"}
EDITION_KEYS = {"subject", "preheader"}
NEWS_KEYS = {"title", "place", "image", "image_alt", "link", "link_label", "facts"}
DIRECTOR_KEYS = {"title", "name", "role", "photo", "photo_alt"}
HIGHLIGHTS_KEYS = {"title"}


def load_issue(issue_dir: Path, cfg: Config) -> Issue:
    """Read an issue folder; raises ContentError (with file and line) when it cannot be built."""
    return _Loader(Path(issue_dir), cfg).load()


class _Loader:
    def __init__(self, issue_dir: Path, cfg: Config):
        self.dir = issue_dir
        self.cfg = cfg
        self.problems: list[Problem] = []

    def warn(self, where: Path | str, line: int | None, what: str) -> None:
        self.problems.append(Problem(str(where), line, what))

    # -- issue.toml ---------------------------------------------------------------------------------
    def load(self) -> Issue:
        if not self.dir.is_dir():
            raise ContentError("issue folder not found", where=self.dir)
        slug = self.dir.resolve().name
        if not SLUG_RE.match(slug):
            raise ContentError(
                f"the folder name {slug!r} is the issue's web address: use letters, digits, '-', '_' or '.'",
                where=self.dir,
            )
        toml_path = self.dir / ISSUE_FILE
        data, lines = self._read_toml(toml_path)
        languages_known = self.cfg.organisation.languages
        primary = data.get("language", self.cfg.organisation.language)
        if not isinstance(primary, str) or primary not in languages_known:
            raise ContentError(
                f"language must be one of {', '.join(languages_known)} ([organisation].languages), not {primary!r}",
                where=toml_path, line=lines.get("language"),
            )
        for key, value in data.items():
            if isinstance(value, dict):
                if key not in languages_known:
                    raise ContentError(
                        f"[{key}] is not a language of [organisation].languages ({', '.join(languages_known)})",
                        where=toml_path, line=lines.get(f"[{key}]"),
                    )
                if key == primary:
                    raise ContentError(f"[{key}] is the primary language: its subject goes at the top",
                                       where=toml_path, line=lines.get(f"[{key}]"))
            elif key not in ISSUE_KEYS:
                raise ContentError(f"unknown key {key!r} (known: {', '.join(sorted(ISSUE_KEYS))})",
                                   where=toml_path, line=lines.get(key))
        issue_date = self._date(data, toml_path, lines)
        translations = [k for k, v in data.items() if isinstance(v, dict)]
        languages = (primary, *translations)

        editions = {}
        for lang in languages:
            table = data if lang == primary else data[lang]
            prefix = "" if lang == primary else f"[{lang}]."
            if lang != primary:
                for key in table:
                    if key not in EDITION_KEYS:
                        raise ContentError(f"unknown key {prefix}{key} (known: subject, preheader)",
                                           where=toml_path, line=lines.get(f"{lang}.{key}"))
            subject = self._required_str(table, "subject", prefix, toml_path, lines, lang, primary)
            preheader = self._required_str(table, "preheader", prefix, toml_path, lines, lang, primary)
            if len(preheader) > PREHEADER_LIMIT:
                self.warn(toml_path, lines.get(f"{lang}.preheader" if prefix else "preheader"),
                          f"{prefix}preheader is {len(preheader)} characters; mail apps show about {PREHEADER_LIMIT}")
            editions[lang] = self._edition(lang, primary, subject, preheader)
        self._untranslated_siblings(languages)
        return Issue(slug=slug, path=self.dir, date=issue_date, language=primary, languages=languages,
                     editions=editions, problems=tuple(self.problems))

    def _read_toml(self, path: Path) -> tuple[dict[str, Any], dict[str, int]]:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ContentError(f"missing {ISSUE_FILE} (subject, preheader and date of the issue)", where=path)
        except UnicodeDecodeError:
            raise ContentError("not UTF-8 text", where=path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            m = re.search(r"\(at line (\d+), column \d+\)", str(e))
            msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
            raise ContentError(f"invalid TOML: {msg}", where=path, line=int(m.group(1)) if m else None)
        return data, _toml_key_lines(text)

    def _date(self, data: dict, path: Path, lines: dict[str, int]) -> date:
        value = data.get("date")
        if value is None:
            raise ContentError("missing required key 'date' (e.g. date = 2023-07-31)", where=path)
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise ContentError(f"date must be a date such as 2023-07-31, not {value!r}", where=path, line=lines.get("date"))

    def _required_str(self, table, key, prefix, path, lines, lang, primary) -> str:
        value = table.get(key)
        line = lines.get(f"{lang}.{key}" if lang != primary else key) or (lines.get(f"[{lang}]") if prefix else None)
        if value is None:
            raise ContentError(f"missing required key {prefix}{key}", where=path, line=line)
        if not isinstance(value, str) or not value.strip():
            raise ContentError(f"{prefix}{key} must be non-empty text", where=path, line=line)
        return value.strip()

    # -- Markdown files -------------------------------------------------------------------------------
    def _variant(self, base: Path, lang: str, primary: str) -> Path:
        """`NAME.en.md` where it exists for a translated edition, else `NAME.md`."""
        if lang != primary:
            translated = base.with_name(f"{base.stem}.{lang}.md")
            if translated.is_file():
                return translated
        return base

    def _edition(self, lang: str, primary: str, subject: str, preheader: str) -> EditionContent:
        director = None
        d = self.dir / "director.md"
        if d.is_file():
            director = self._director(self._variant(d, lang, primary))
        highlights = None
        h = self.dir / "highlights.md"
        if h.is_file():
            highlights = self._highlights(self._variant(h, lang, primary))
        news = []
        for i, path in enumerate(self._news_files(), start=1):
            news.append(self._news(self._variant(path, lang, primary), f"news-{i}"))
        if not news and director is None:
            self.warn(self.dir, None, "the issue has no news blocks (news/*.md) and no director.md")
        return EditionContent(language=lang, subject=subject, preheader=preheader, director=director,
                              news=tuple(news), highlights=highlights)

    def _news_files(self) -> list[Path]:
        folder = self.dir / "news"
        if not folder.is_dir():
            return []
        langs = set(self.cfg.organisation.languages)
        return sorted(p for p in folder.glob("*.md") if p.is_file() and not _is_translation(p, langs))

    def _untranslated_siblings(self, languages: tuple[str, ...]) -> None:
        """Translations that would be silently unused, and texts a translated edition shows untranslated."""
        langs = set(self.cfg.organisation.languages)
        for path in sorted(self.dir.rglob("*.md")):
            lang = _translation_language(path, langs)
            if lang and lang not in languages:
                self.warn(path, None, f"issue.toml has no [{lang}] table, so this translation is not used")
            elif lang and not path.with_name(path.name.removesuffix(f".{lang}.md") + ".md").is_file():
                self.warn(path, None, f"no {path.name.removesuffix(f'.{lang}.md')}.md beside it, so it is not used")
            elif not lang:
                for other in languages[1:]:
                    if not path.with_name(f"{path.stem}.{other}.md").is_file():
                        self.warn(path, None, f"no {path.stem}.{other}.md: the [{other}] edition shows this text untranslated")

    def _read(self, path: Path, allowed: set[str]) -> tuple[dict[str, Any], str, int]:
        """Front matter, body, and the file line the body starts on."""
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ContentError("not UTF-8 text", where=path)
        text = text.lstrip("\ufeff")
        fm_lines = 0
        if text.startswith("---"):
            head = text.split("\n")
            try:
                end = next(i for i, ln in enumerate(head[1:], start=1) if ln.rstrip() in ("---", "..."))
            except StopIteration:
                raise ContentError("front matter starts with '---' but has no closing '---' line", where=path, line=1)
            fm_lines = end + 1
        try:
            post = frontmatter.loads(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            # The YAML starts on the file's second line, after the opening '---'.
            raise ContentError(f"invalid YAML front matter: {problem}", where=path,
                               line=mark.line + 2 if mark else 1)
        meta = post.metadata
        if not isinstance(meta, dict):
            raise ContentError("front matter must be key: value lines", where=path, line=2)
        for key in meta:
            if key not in allowed:
                raise ContentError(f"unknown front matter key {key!r} (known: {', '.join(sorted(allowed))})",
                                   where=path, line=_fm_line(text, str(key)))
        body = post.content
        body_line = fm_lines + 1
        # python-frontmatter strips leading blank lines of the body; count them back for line numbers.
        rest = text.split("\n")[fm_lines:]
        first = next((i for i, ln in enumerate(rest) if ln.strip()), 0)
        body_line += first
        return meta, body, body_line

    def _text(self, meta: dict, key: str, path: Path, required: bool = False) -> str:
        value = meta.get(key)
        if value is None:
            if required:
                raise ContentError(f"missing required front matter '{key}'", where=path, line=1)
            return ""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ContentError(f"front matter '{key}' must be text", where=path, line=_fm_line_of(path, key))
        if required and not value.strip():
            raise ContentError(f"front matter '{key}' is empty", where=path, line=_fm_line_of(path, key))
        return value.strip()

    def _news(self, path: Path, anchor: str) -> NewsBlock:
        meta, body, body_line = self._read(path, NEWS_KEYS)
        title = self._text(meta, "title", path, required=True)
        link = self._text(meta, "link", path)
        if link:
            if urlsplit(link).scheme.lower() not in ("http", "https", "mailto"):
                # It becomes the button's href: anything else is a broken or unsafe button in every mail app.
                raise ContentError(f"link {link!r} must be an http(s):// or mailto: address",
                                   where=path, line=_fm_line_of(path, "link"))
            self._check_url(link, path, _fm_line_of(path, "link"))
        facts_raw = meta.get("facts") or {}
        if not isinstance(facts_raw, dict):
            raise ContentError("front matter 'facts' must be a mapping (one 'label: value' per line)",
                               where=path, line=_fm_line_of(path, "facts"))
        facts = {}
        for k, v in facts_raw.items():
            if isinstance(v, list):
                v = ", ".join(str(x) for x in v)
            if isinstance(v, dict) or v is None:
                raise ContentError(f"fact {k!r} must be a single value", where=path, line=_fm_line_of(path, "facts"))
            facts[str(k)] = str(v)
        image = self._image(meta, "image", "image_alt", path)
        if not body.strip() and not facts:
            self.warn(path, body_line, "this news block has a title but no text")
        self._check_body(body, body_line, path)
        return NewsBlock(title=title, place=self._text(meta, "place", path), image=image, link=link,
                         link_label=self._text(meta, "link_label", path), facts=facts, body=body,
                         path=path, body_line=body_line, anchor=anchor)

    def _director(self, path: Path) -> Director:
        meta, body, body_line = self._read(path, DIRECTOR_KEYS)
        if not body.strip():
            self.warn(path, body_line, "the director's message is empty")
        self._check_body(body, body_line, path)
        return Director(title=self._text(meta, "title", path), name=self._text(meta, "name", path),
                        role=self._text(meta, "role", path), photo=self._image(meta, "photo", "photo_alt", path),
                        body=body, path=path, body_line=body_line)

    def _highlights(self, path: Path) -> Highlights:
        meta, body, body_line = self._read(path, HIGHLIGHTS_KEYS)
        if not body.strip():
            self.warn(path, body_line, "highlights.md has no items")
        self._check_body(body, body_line, path)
        return Highlights(title=self._text(meta, "title", path), body=body, path=path, body_line=body_line)

    # -- images and links ---------------------------------------------------------------------------------
    def _image(self, meta: dict, key: str, alt_key: str, path: Path) -> Image | None:
        src = self._text(meta, key, path)
        if not src:
            return None
        line = _fm_line_of(path, key)
        alt = self._text(meta, alt_key, path)
        if not alt:
            self.warn(path, line, f"image {src!r} has no alt text ('{alt_key}'): readers with images off see nothing")
        return Image(src=src, alt=alt, file=self._image_file(src, path, line), where=path, line=line)

    def _image_file(self, src: str, path: Path, line: int | None) -> Path | None:
        scheme = urlsplit(src).scheme
        if scheme in ("http", "https"):
            self._check_url(src, path, line)
            return None
        if scheme:
            raise ContentError(f"image {src!r}: use a file in images/ or an http(s) URL", where=path, line=line)
        images = (self.dir / IMAGES_DIR).resolve()
        # Relative to the Markdown file, as an editor's preview resolves it, or to the issue folder.
        for base in (path.parent, self.dir):
            candidate = (base / src).resolve()
            if candidate.is_file():
                if candidate.parent != images:
                    raise ContentError(f"image {src!r} must be a file in the issue's images/ folder",
                                       where=path, line=line)
                return candidate
        raise ContentError(f"image {src!r} not found (looked in {path.parent} and {self.dir})", where=path, line=line)

    def _check_body(self, body: str, first_line: int, path: Path) -> None:
        for ref in markdown.references(body, first_line):
            if ref.kind == "link":
                self._check_url(ref.target, path, ref.line)
            else:
                if not ref.alt.strip():
                    self.warn(path, ref.line, f"image {ref.target!r} has no alt text: write ![description]({ref.target})")
                self._image_file(ref.target, path, ref.line)

    def _check_url(self, url: str, path: Path, line: int | None) -> None:
        if url.startswith("#") or url.startswith("%%"):
            return
        parts = urlsplit(url)
        ok = (parts.scheme in ("http", "https") and "." in parts.netloc and " " not in url) or (
            parts.scheme == "mailto" and "@" in parts.path)
        if not ok:
            self.warn(path, line, f"malformed link {url!r}: links in an email need a full http(s):// address")


def _translation_language(path: Path, langs: set[str]) -> str | None:
    parts = path.name.split(".")
    return parts[-2] if len(parts) >= 3 and parts[-2] in langs else None


def _is_translation(path: Path, langs: set[str]) -> bool:
    return _translation_language(path, langs) is not None


def _fm_line(text: str, key: str) -> int | None:
    for i, ln in enumerate(text.split("\n"), start=1):
        if re.match(rf"^{re.escape(key)}\s*:", ln):
            return i
        if i > 1 and ln.rstrip() == "---":
            break
    return None


def _fm_line_of(path: Path, key: str) -> int | None:
    try:
        return _fm_line(path.read_text(encoding="utf-8"), key)
    except (OSError, UnicodeDecodeError):
        return None


def _toml_key_lines(text: str) -> dict[str, int]:
    """Where each key of issue.toml is written: 'subject', '[en]', 'en.subject' -> line number."""
    lines: dict[str, int] = {}
    table = ""
    for i, ln in enumerate(text.split("\n"), start=1):
        s = ln.strip()
        m = re.match(r"^\[\s*([A-Za-z0-9_-]+)\s*\]", s)
        if m:
            table = m.group(1)
            lines.setdefault(f"[{table}]", i)
            continue
        m = re.match(r"^([A-Za-z0-9_-]+)\s*=", s)
        if m:
            lines.setdefault(f"{table}.{m.group(1)}" if table else m.group(1), i)
    return lines
