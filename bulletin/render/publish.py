"""Publishing editions: every file an edition loads from [web].base_url (the issue's scaled images, the social
icons) as the exact bytes readers download, named by their SHA-256, and the edition rewritten to load each one
from `/media/HASH.EXT`.

A message mailed this way never changes or breaks: the bytes behind a hash cannot change, and they are served
from the database, not from the issue folder or the templates, which may be edited, moved or on another machine.
Nothing here stores anything: the services keep the files (`store.media`) in the same transaction as the send.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bulletin.config import Config
from bulletin.content.model import Issue
from bulletin.render.assets import edition_assets
from bulletin.render.edition import RenderedEdition
from bulletin.render.pipeline import TEMPLATES_DIR

#: The types published files are served as, and the extension of their address (mail apps and the checks of
#: some spam filters look at it).
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif"}
MEDIA_PATH = "/media/"
_MEDIA_NAME = re.compile(r"^([0-9a-f]{64})\.(jpg|png|gif)$")


@dataclass(frozen=True)
class MediaFile:
    digest: str
    media_type: str
    data: bytes


def media_url(base_url: str, digest: str, media_type: str) -> str:
    return f"{base_url.rstrip('/')}{MEDIA_PATH}{digest}.{EXTENSIONS[media_type]}"


def parse_media_name(name: str) -> tuple[str, str] | None:
    """`HASH.EXT` -> (hash, media type), or None for any other name."""
    m = _MEDIA_NAME.match(name)
    if m is None:
        return None
    return m.group(1), next(t for t, ext in EXTENSIONS.items() if ext == m.group(2))


def publish_editions(issue: Issue, editions: Sequence[RenderedEdition], cfg: Config, *,
                     templates_dir: Path | None = None) -> tuple[list[RenderedEdition], list[MediaFile]]:
    """The editions loading their files from `/media/`, and those files once each."""
    tdir = Path(templates_dir or TEMPLATES_DIR)
    files: dict[str, MediaFile] = {}
    out = []
    for edition in editions:
        mapping = {}
        for asset in edition_assets(issue, edition.language, cfg, tdir):
            data, media_type = asset.read()
            digest = hashlib.sha256(data).hexdigest()
            files.setdefault(digest, MediaFile(digest, media_type, data))
            mapping[asset.url] = media_url(cfg.web.base_url, digest, media_type)
        out.append(rewrite(edition, mapping))
    return out, list(files.values())


def rewrite(edition: RenderedEdition, mapping: dict[str, str]) -> RenderedEdition:
    """The edition with each address of `mapping` replaced where it stands whole (not inside a longer one)."""
    if not mapping:
        return edition
    pattern = re.compile("|".join(re.escape(u) for u in sorted(mapping, key=len, reverse=True))
                         + r"(?![\w.~%/-])")
    swap = lambda m: mapping[m.group(0)]  # noqa: E731
    return dataclasses.replace(edition, html=pattern.sub(swap, edition.html), text=pattern.sub(swap, edition.text))
