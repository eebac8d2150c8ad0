"""An issue's fingerprint: one hash over every file the build reads, so that an approval names exactly the
version it approved and an edit made after it (or after `send --at`) is seen.

The files are those the loader reads: issue.toml, director.md, highlights.md, news/*.md and their translations
in the configured languages, and the images of images/ that they show. Other files of the folder (notes, an
unused image) do not count. The digest is the SHA-256 of a manifest written as `sha256sum` writes one: a line
`HEX  PATH` per file, HEX the SHA-256 of its bytes, PATH its path in the folder with `/`, lines sorted by path
(bytewise). File times and the folder's own name or place do not count, so a folder copied, moved or checked
out elsewhere keeps its fingerprint. To see it by hand: `bulletin approve` prints the files; then
`cd issues/2026-12 && sha256sum FILES | LC_ALL=C sort -k2 | sha256sum`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from bulletin.config import Config
from bulletin.content.loader import read_issue
from bulletin.errors import ContentError
from bulletin.i18n import Message


@dataclass(frozen=True)
class Fingerprint:
    #: the SHA-256 of the manifest, 64 hex digits
    digest: str
    #: the files it covers, as paths in the folder with `/`, sorted
    files: tuple[str, ...]

    @property
    def short(self) -> str:
        """The first 12 digits, as people quote it."""
        return self.digest[:12]


def manifest(folder: Path, paths: tuple[Path, ...] | list[Path]) -> str:
    """The `sha256sum` lines of `paths` (files under `folder`), sorted by path."""
    lines = []
    for path in paths:
        rel = Path(path).relative_to(folder).as_posix()
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise ContentError(Message("content.file.unreadable", reason=e.strerror or str(e)), where=path)
        lines.append((rel.encode("utf-8"), f"{hashlib.sha256(data).hexdigest()}  {rel}\n"))
    return "".join(line for _key, line in sorted(lines))


def of_files(folder: Path, sources: tuple[Path, ...] | list[Path]) -> Fingerprint:
    """The fingerprint of these files of the folder (those a reading went through: `Reading.sources`)."""
    text = manifest(Path(folder), sources)
    files = tuple(line.split("  ", 1)[1] for line in text.splitlines())
    return Fingerprint(hashlib.sha256(text.encode("utf-8")).hexdigest(), files)


def fingerprint(issue_dir: Path, cfg: Config) -> Fingerprint:
    """The fingerprint of the issue in `issue_dir` as it is now; ContentError when there is no such folder."""
    folder = Path(issue_dir)
    if not folder.is_dir():
        raise ContentError(Message("content.folder.missing"), where=folder)
    return of_files(folder, read_issue(folder, cfg).sources)
