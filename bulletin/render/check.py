"""`bulletin check`: every problem of an issue in one pass, each once, with its file, line and field, and what
each edition weighs for a reader (its HTML and every image it shows).

What it reads: the loader's problems and image record, each edition as rendered, and the files the editions
load from [web].base_url. Nothing in a message may come from another host: images and stylesheets elsewhere
are seen by a third party each time a message is opened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from bulletin.config import Config
from bulletin.content import ImageRole, Issue, Problem, Severity, read_issue
from bulletin.content.problems import Report, dedupe
from bulletin.errors import BulletinError
from bulletin.i18n import Message
from bulletin.render.assets import edition_assets
from bulletin.render.edition import RenderedEdition
from bulletin.render.pipeline import TEMPLATES_DIR, recipient_size, render_edition

#: The front matter key that names an image of each role, so the editor can mark the field.
_ROLE_FIELDS = {ImageRole.BLOCK_IMAGE: "image", ImageRole.DIRECTOR_PHOTO: "photo", ImageRole.INLINE: "body",
                ImageRole.LOGO: "[organisation].logo"}


@dataclass(frozen=True)
class EditionWeight:
    """What a reader downloads to see one edition with its images."""

    language: str
    html_bytes: int
    #: address -> bytes of each image the edition loads from [web].base_url
    images: dict[str, int] = field(default_factory=dict)

    @property
    def image_bytes(self) -> int:
        return sum(self.images.values())

    @property
    def total(self) -> int:
        return self.html_bytes + self.image_bytes


@dataclass(frozen=True)
class CheckReport:
    issue_dir: Path
    problems: tuple[Problem, ...]
    weights: tuple[EditionWeight, ...] = ()
    #: the issue as read, when it could be (a send goes on with it rather than reading the folder again)
    issue: Issue | None = None
    #: every edition as rendered for the check, primary first (all of them when there is no error)
    editions: tuple[RenderedEdition, ...] = ()
    #: the files the reading went through (what an approval's fingerprint covers)
    sources: tuple[Path, ...] = ()

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        """Nothing stops the issue from being sent (warnings may remain)."""
        return not self.errors


def check_issue(issue_dir: Path, cfg: Config, *, templates_dir: Path | None = None) -> CheckReport:
    """Every problem of the issue in `issue_dir` and the weight of each edition it could render."""
    issue_dir = Path(issue_dir)
    reading = read_issue(issue_dir, cfg)
    problems = list(reading.problems)
    issue = reading.issue
    if issue is None:
        return CheckReport(issue_dir, tuple(problems), sources=reading.sources)
    report = Report(issue.path.resolve(), issue.path)
    tdir = Path(templates_dir or TEMPLATES_DIR)
    base = urlsplit(cfg.web.base_url)
    own_host = base.netloc.lower()

    # The image record: hosts, and whether each file reads as an image readers can be sent.
    bad_files: set[Path] = set()
    for ref in issue.images:
        where = report.at(ref.where) if ref.where is not None else report.at(Path(cfg.path or "bulletin.toml"))
        key = _ROLE_FIELDS[ref.role]
        if ref.file is None:
            host = urlsplit(ref.src).netloc.lower()
            if host and host != own_host:
                where.error(ref.line, "check.host.image", field=key, src=ref.src, host=host, own=own_host or "?",
                            blocking=False,
                            hint=Message("hint.host.logo" if ref.role is ImageRole.LOGO else "hint.host.image"))
    weights = []
    editions = []
    sizes: dict[str, int] = {}
    reported: set[str] = set()
    for lang in issue.languages:
        try:
            edition = render_edition(issue, lang, cfg, templates_dir=tdir)
        except BulletinError as e:
            report.at(Path(e.where) if e.where else issue.path).error(e.line, "check.render", what=e.what)
            break
        editions.append(edition)
        report.problems.extend(edition.warnings)
        for url, tag in _remote_resources(edition.html):
            host = urlsplit(url).netloc.lower()
            if url in reported:
                continue
            reported.add(url)
            if host and host != own_host and not any(ref.src == url for ref in issue.images):
                report.at(tdir).error(None, "check.host.template", tag=tag, url=url, host=host, own=own_host or "?",
                                      blocking=False, hint=Message("hint.host.template"))
        images: dict[str, int] = {}
        for asset in edition_assets(issue, lang, cfg, tdir):
            if asset.source in bad_files:
                continue
            if asset.url not in sizes:
                try:
                    sizes[asset.url] = len(asset.read()[0])
                except BulletinError as e:
                    bad_files.add(asset.source)
                    ref = next((r for r in issue.images if r.file == asset.source), None)
                    at = report.at(ref.where if ref and ref.where else asset.source)
                    at.error(ref.line if ref else None, "check.image.unusable", field=_ROLE_FIELDS[ref.role] if ref
                             else None, src=ref.src if ref else asset.name, what=e.what)
                    continue
            images[asset.url] = sizes[asset.url]
        weight = EditionWeight(lang, recipient_size(edition.html), images)
        weights.append(weight)
        limit = cfg.compose.max_edition_kb
        if weight.total > limit * 1024:
            report.at(issue.path).warning(None, "check.edition.heavy", language=lang, kb=_kb(weight.total),
                                          html_kb=_kb(weight.html_bytes), images_kb=_kb(weight.image_bytes),
                                          limit=limit, hint=Message("hint.edition.lighter"))
    return CheckReport(issue_dir, tuple(dedupe([*problems, *report.problems])), tuple(weights), issue,
                       tuple(editions), reading.sources)


def _kb(n: int) -> int:
    return (n + 1023) // 1024


class _Resources(HTMLParser):
    """Addresses an HTML email loads by itself (not links a reader clicks)."""

    ATTRS = {("img", "src"), ("td", "background"), ("table", "background"), ("body", "background"),
             ("link", "href"), ("script", "src"), ("iframe", "src"), ("video", "poster"), ("source", "src"),
             ("input", "src")}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if (tag, name) in self.ATTRS and value:
                self.found.append((value, f"<{tag} {name}>"))
            if name == "style" and value:
                self.found.extend((u, "url()") for u in _CSS_URL.findall(value))


_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)""", re.I)
_CSS_IMPORT = re.compile(r"""@import\s+(?:url\()?\s*['"]?([^'")\s;]+)""", re.I)


def _remote_resources(html: str) -> list[tuple[str, str]]:
    """(absolute address, what loads it) for everything the HTML fetches from a server."""
    parser = _Resources()
    parser.feed(html)
    for css in re.findall(r"<style[^>]*>(.*?)</style>", html, re.S | re.I):
        parser.found.extend((u, "url()") for u in _CSS_URL.findall(css))
        parser.found.extend((u, "@import") for u in _CSS_IMPORT.findall(css))
    return [(u, tag) for u, tag in dict.fromkeys(parser.found) if urlsplit(u).scheme in ("http", "https", "")
            and urlsplit(u).netloc]
