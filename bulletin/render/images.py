"""Images of an issue: their address in the email, and the scaled, compressed bytes the web service serves.

Readers pay for data: a local image is scaled to at most twice the width it is shown at and recompressed.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from bulletin.errors import ContentError

#: Widths (CSS px) images are shown at in the email: a news image fills the 600 px column less padding.
NEWS_IMAGE_WIDTH = 552
DIRECTOR_PHOTO_WIDTH = 120
IMAGES_DIR = "images"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]*$")
_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif"}
JPEG_QUALITY = 80


def image_url(base_url: str, slug: str, name: str) -> str:
    """Where the email finds a local image: the issue's archive on the public web service."""
    from urllib.parse import quote

    return f"{base_url.rstrip('/')}/archive/{quote(slug)}/images/{quote(name)}"


def image_path(issue_dir: Path, name: str) -> Path:
    """The file `name` in the issue's images/ folder; ContentError for anything else (`../`, subfolders)."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or not _NAME_RE.match(name):
        raise ContentError(f"no image named {name!r} in this issue", where=Path(issue_dir) / IMAGES_DIR)
    folder = (Path(issue_dir) / IMAGES_DIR).resolve()
    path = (folder / name).resolve()
    if path.parent != folder or not path.is_file():
        raise ContentError(f"no image named {name!r} in this issue", where=folder)
    return path


def display_width(issue_dir: Path, name: str) -> int:
    """The widest the issue shows `name` at: a director's photo only is small, anything else fills the column."""
    used_as_photo = used_elsewhere = False
    for md in Path(issue_dir).rglob("*.md"):
        try:
            text = md.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for m in re.finditer(r"^(\w+)\s*:\s*['\"]?([^'\"\n]*?)['\"]?\s*$|\]\(([^)\s]+)", text, re.M):
            key, value, body_ref = m.group(1), m.group(2) or "", m.group(3) or ""
            target = body_ref or value
            if Path(target).name != name:
                continue
            if key == "photo":
                used_as_photo = True
            else:
                used_elsewhere = True
    return DIRECTOR_PHOTO_WIDTH if used_as_photo and not used_elsewhere else NEWS_IMAGE_WIDTH


def publish_image(issue_dir: Path, name: str, *, width: int | None = None) -> tuple[bytes, str]:
    """The bytes and content type of `images/<name>` as readers download it.

    Scaled down to at most twice the width it is shown at (`width`, else found in the issue's files), so it
    is sharp on high-density phones and no bigger; recompressed. GIFs pass as they are (they may be animated).
    """
    path = image_path(issue_dir, name)
    if width is None:
        width = display_width(issue_dir, name)
    raw = path.read_bytes()
    try:
        img = PILImage.open(io.BytesIO(raw))
        fmt = img.format
        img.load()
    except (UnidentifiedImageError, OSError) as e:
        raise ContentError(f"not an image a mail app can show (JPEG, PNG or GIF): {e}", where=path)
    if fmt not in _TYPES:
        raise ContentError(f"{fmt} images are not shown by many mail apps: use JPEG, PNG or GIF", where=path)
    if fmt == "GIF":
        return raw, _TYPES[fmt]
    limit = 2 * width
    if img.width > limit:
        img = img.resize((limit, round(img.height * limit / img.width)), PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    if fmt == "JPEG":
        if img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        img.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    else:
        img.save(out, "PNG", optimize=True)
    data = out.getvalue()
    # An already well-compressed file that needed no scaling is served as it is.
    if len(data) >= len(raw) and img.size == PILImage.open(io.BytesIO(raw)).size:
        data = raw
    return data, _TYPES[fmt]
