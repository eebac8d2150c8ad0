"""The content of an issue as its author wrote it, per edition: no HTML layout, no email, no SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path

from bulletin.content.problems import Problem


class ImageRole(StrEnum):
    """Where an image is shown, which decides the width it is scaled to."""

    DIRECTOR_PHOTO = "director_photo"
    BLOCK_IMAGE = "block_image"
    #: written in a Markdown body: ![alt](images/x.jpg)
    INLINE = "inline"
    #: [organisation].logo, in every issue's header
    LOGO = "logo"


@dataclass(frozen=True, eq=False)
class Image:
    """One reference to an image, where it is written: a file in the issue's images/ folder, or a URL.

    Compared by identity: the same file named in two places is two references."""

    src: str
    alt: str
    #: the file under images/ for a local image; None for a URL
    file: Path | None
    #: the file that names it (None for the configuration's logo) and its line
    where: Path | None
    line: int | None
    role: ImageRole = ImageRole.BLOCK_IMAGE
    #: the editions that show it
    editions: frozenset[str] = frozenset()

    @property
    def name(self) -> str | None:
        return self.file.name if self.file else None


#: The name the record's entries go by in new code.
ImageRef = Image


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
    #: every image reference of the issue, once each, in order of appearance (front matter, Markdown bodies,
    #: the organisation's logo), with the editions that show it: what check, scaling and build read
    images: tuple[Image, ...] = field(default=())

    def edition(self, language: str) -> EditionContent:
        """The edition in `language` where the issue has it, else the primary one."""
        return self.editions.get(language) or self.editions[self.language]

    def images_of(self, language: str) -> tuple[Image, ...]:
        """The references shown in the edition `language`."""
        lang = language if language in self.editions else self.language
        return tuple(i for i in self.images if lang in i.editions)

    def local_images(self, language: str | None = None) -> dict[str, tuple[ImageRole, ...]]:
        """{file name in images/: the roles it is shown in} for one edition, or every edition when None."""
        refs = self.images if language is None else self.images_of(language)
        out: dict[str, tuple[ImageRole, ...]] = {}
        for ref in refs:
            if ref.file is not None:
                out[ref.file.name] = tuple(dict.fromkeys((*out.get(ref.file.name, ()), ref.role)))
        return out
