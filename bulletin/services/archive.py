"""The public archive: the issues whose send started, as web pages without personal links, and their images."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bulletin.errors import BulletinError, NotFoundError
from bulletin.render.edition import RenderedEdition
from bulletin.render.images import image_path, publish_image
from bulletin.services.store import UnitOfWork
from bulletin.store import published
from bulletin.store.published import ArchivedIssue

__all__ = ["ArchivedIssue", "WebCopy", "archived_issues", "web_copy", "image"]


@dataclass(frozen=True)
class WebCopy:
    language: str
    html: str


def archived_issues(uow: UnitOfWork, language: str) -> list[ArchivedIssue]:
    """Each public issue once, newest first, in `language` where it has that edition."""
    return published.archived_issues(uow.session, language)


def web_copy(uow: UnitOfWork, slug: str, language: str, *, archive_url: str, subscribe_url: str) -> WebCopy:
    """The issue as a web page: the email with its personal markers filled with public values."""
    send = published.latest_send(uow.session, slug)
    if send is None:
        raise NotFoundError("no such issue in the archive")
    e = published.public_edition(uow.session, send, language)
    rendered = RenderedEdition(send.issue_slug, e.language, e.subject, e.preheader, e.html, e.text)
    html, _text = rendered.personalise(
        {"unsubscribe_url": subscribe_url, "archive_url": archive_url, "name": "", "email": ""}
    )
    return WebCopy(e.language, html)


def issue_folder(uow: UnitOfWork, slug: str) -> Path:
    """The folder an archived issue was sent from: the images of mail sent before images were published
    (`media`) are read there."""
    send = published.latest_send(uow.session, slug)
    if send is None:
        raise NotFoundError("no such issue in the archive")
    return Path(send.issue_dir)


#: Scaled images kept in memory, so that a page opened by many readers is not recompressed for each one.
_IMAGE_CACHE_SIZE = 64


@lru_cache(maxsize=_IMAGE_CACHE_SIZE)
def _scaled(issue_dir: str, name: str, _mtime_ns: int, _size: int) -> tuple[bytes, str]:
    # The file's time and size are part of the key: an image replaced on disk is served anew.
    return publish_image(Path(issue_dir), name)


def image(issue_dir: Path, name: str) -> tuple[bytes, str]:
    """An image of the issue, scaled for phones: (bytes, media type). NotFoundError for anything else
    (../, subfolders, missing files, files that are not images)."""
    try:
        stat = image_path(issue_dir, name).stat()
        return _scaled(str(issue_dir), name, stat.st_mtime_ns, stat.st_size)
    except (BulletinError, OSError):
        raise NotFoundError("no such image") from None


def media(uow: UnitOfWork, name: str) -> tuple[bytes, str, str]:
    """A published image or icon by its address `/media/HASH.EXT`: (bytes, media type, hash). NotFoundError
    for any other name, or a hash that was never published."""
    from bulletin.render.publish import parse_media_name
    from bulletin.store import media as media_files

    parsed = parse_media_name(name)
    found = media_files.get(uow.session, parsed[0]) if parsed else None
    if found is None or found.media_type != parsed[1]:
        raise NotFoundError("no such file")
    return bytes(found.data), found.media_type, found.digest


def icon(name: str) -> bytes:
    """A social icon of the email footer (templates/icons), served from the organisation's own address.
    NotFoundError for anything else (../, other folders, missing files)."""
    from bulletin.render.images import icon_path
    from bulletin.render.pipeline import TEMPLATES_DIR

    try:
        return icon_path(TEMPLATES_DIR, name).read_bytes()
    except (BulletinError, OSError):
        raise NotFoundError("no such icon") from None
