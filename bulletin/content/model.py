"""The content of an issue as its author wrote it, per edition: no HTML layout, no email, no SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """Something `bulletin check` reports: a file, a line where there is one, and what is wrong."""

    where: str
    line: int | None
    what: str

    def __str__(self) -> str:
        loc = f"{self.where}:{self.line}" if self.line is not None else self.where
        return f"{loc}: {self.what}"


@dataclass(frozen=True)
class Image:
    """An image as front matter or Markdown names it: a file in the issue's images/ folder, or a remote URL."""

    src: str
    alt: str
    #: the file under images/ for a local image; None for a remote URL
    file: Path | None
    where: Path
    line: int | None

    @property
    def name(self) -> str | None:
        return self.file.name if self.file else None


@dataclass(frozen=True)
class NewsBlock:
    title: str
    place: str
    image: Image | None
    link: str
    link_label: str
    facts: dict[str, str]
    body: str
    #: where the Markdown body starts, so body problems can name their line
    path: Path
    body_line: int
    #: the anchor the table of contents links to
    anchor: str


@dataclass(frozen=True)
class Director:
    title: str
    name: str
    role: str
    photo: Image | None
    body: str
    path: Path
    body_line: int


@dataclass(frozen=True)
class Highlights:
    title: str
    body: str
    path: Path
    body_line: int


@dataclass(frozen=True)
class EditionContent:
    """One language of an issue: the text a reader of that language gets."""

    language: str
    subject: str
    preheader: str
    director: Director | None
    news: tuple[NewsBlock, ...]
    highlights: Highlights | None


@dataclass(frozen=True)
class Issue:
    slug: str
    path: Path
    date: date
    #: the primary language
    language: str
    #: the editions it has, primary first
    languages: tuple[str, ...]
    editions: dict[str, EditionContent]
    #: what `bulletin check` reports about the content (the build goes ahead)
    problems: tuple[Problem, ...] = field(default=())

    def edition(self, language: str) -> EditionContent:
        """The edition in `language` where the issue has it, else the primary one."""
        return self.editions.get(language) or self.editions[self.language]

    @property
    def images(self) -> list[Image]:
        """Every image of every edition (local and remote), in order of appearance."""
        seen: list[Image] = []
        for ed in self.editions.values():
            if ed.director and ed.director.photo:
                seen.append(ed.director.photo)
            seen.extend(b.image for b in ed.news if b.image)
        return seen
