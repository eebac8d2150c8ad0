"""Images of an issue: their address in the email, and the scaled, compressed bytes readers download.

Readers pay for data. A local image is scaled to at most twice the width it is shown at (sharp on high-density
phones, no bigger); a photo becomes a progressive JPEG at the best quality that fits a byte budget for its
size; a drawing stays PNG, in a palette where it had one. Whatever the result, a reader never downloads more
than the file the author put in images/.
"""

from __future__ import annotations

import io
import re
import warnings
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from bulletin.content.model import ImageRole, Issue
from bulletin.errors import ContentError
from bulletin.i18n import Message

#: Widths (CSS px) images are shown at in the email: a news image fills the 600 px column less padding.
NEWS_IMAGE_WIDTH = 552
DIRECTOR_PHOTO_WIDTH = 120
LOGO_WIDTH = 180
ROLE_WIDTHS = {ImageRole.BLOCK_IMAGE: NEWS_IMAGE_WIDTH, ImageRole.INLINE: NEWS_IMAGE_WIDTH,
               ImageRole.DIRECTOR_PHOTO: DIRECTOR_PHOTO_WIDTH, ImageRole.LOGO: LOGO_WIDTH}
IMAGES_DIR = "images"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]*$")
_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif"}
#: Above this an image is refused before it is decoded: a 20000×20000 PNG of a few kilobytes would take
#: gigabytes of memory. 40 megapixels is more than any phone camera's photo.
MAX_PIXELS = 40_000_000
#: A photo's byte budget, in bits per pixel of the scaled image: about 38 KB for a full-width 1104×552 photo.
#: Shown at half its pixel size on a phone, a JPEG at this rate looks as good as one twice as heavy.
JPEG_BITS_PER_PIXEL = 0.55
JPEG_MIN_BUDGET = 6_000
JPEG_QUALITIES = (40, 80)
#: The social icons drawn for the footer, shipped with the templates.
ICONS_DIR = "icons"


def image_url(base_url: str, slug: str, name: str) -> str:
    """Where the email finds a local image: the issue's archive on the public web service."""
    return f"{base_url.rstrip('/')}/archive/{quote(slug)}/images/{quote(name)}"


def icon_url(base_url: str, name: str) -> str:
    """Where the email finds a social icon of the templates: on the organisation's own web service."""
    return f"{base_url.rstrip('/')}/email/icons/{quote(name)}"


def image_path(issue_dir: Path, name: str) -> Path:
    """The file `name` in the issue's images/ folder; ContentError for anything else (`../`, subfolders)."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or not _NAME_RE.match(name):
        raise ContentError(Message("image.no_such", name=name), where=Path(issue_dir) / IMAGES_DIR)
    folder = (Path(issue_dir) / IMAGES_DIR).resolve()
    path = (folder / name).resolve()
    if path.parent != folder or not path.is_file():
        raise ContentError(Message("image.no_such", name=name), where=folder)
    return path


def width_for(roles: tuple[ImageRole, ...]) -> int:
    """The widest an image is shown at, over the places it is shown."""
    return max((ROLE_WIDTHS[r] for r in roles), default=NEWS_IMAGE_WIDTH)


def display_width(issue: Issue | Path, name: str) -> int:
    """The widest the issue shows `name` at, read from the issue's image record.

    Given a folder rather than a loaded issue (the archive, which has no configuration at hand), the folder is
    read with the default languages; a folder that does not read shows images at the column's width."""
    if not isinstance(issue, Issue):
        from bulletin.config import Config
        from bulletin.content import read_issue

        loaded = read_issue(Path(issue), Config()).issue
        if loaded is None:
            return NEWS_IMAGE_WIDTH
        issue = loaded
    return width_for(issue.local_images().get(name, ()))


def publish_image(issue_dir: Path | Issue, name: str, *, width: int | None = None) -> tuple[bytes, str]:
    """The bytes and content type of `images/<name>` as readers download it, scaled for the width it is
    shown at (`width`, else read from the issue's image record). GIFs pass as they are (they may be animated)."""
    folder = issue_dir.path if isinstance(issue_dir, Issue) else Path(issue_dir)
    path = image_path(folder, name)
    if width is None:
        width = display_width(issue_dir, name)
    stat = path.stat()
    return _scaled(str(path), stat.st_mtime_ns, stat.st_size, width)


def icon_path(templates_dir: Path, name: str) -> Path:
    folder = (Path(templates_dir) / ICONS_DIR).resolve()
    path = (folder / name).resolve()
    if not _NAME_RE.match(name) or not name.endswith(".png") or path.parent != folder or not path.is_file():
        raise ContentError(Message("image.no_such", name=name), where=folder)
    return path


@lru_cache(maxsize=64)
def _scaled(path: str, _mtime_ns: int, _size: int, width: int) -> tuple[bytes, str]:
    # The file's time and size are part of the key: an image replaced on disk is scaled anew.
    return scale(Path(path).read_bytes(), width, where=Path(path))


def scale(raw: bytes, width: int, *, where: Path | str) -> tuple[bytes, str]:
    """`raw` scaled to at most twice `width` pixels wide and compressed; never more bytes than `raw`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)  # refused below, with its size
            img = PILImage.open(io.BytesIO(raw))
        fmt = img.format
    except PILImage.DecompressionBombError:
        raise ContentError(Message("image.too_large", limit=MAX_PIXELS // 1_000_000), where=where)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ContentError(Message("image.unreadable", reason=str(e)), where=where)
    if fmt not in _TYPES:
        raise ContentError(Message("image.format", format=str(fmt)), where=where)
    if img.width * img.height > MAX_PIXELS:
        raise ContentError(Message("image.too_large_size", w=img.width, h=img.height,
                                   limit=MAX_PIXELS // 1_000_000), where=where)
    if fmt == "GIF":
        return raw, _TYPES[fmt]
    try:
        img.load()
        img = ImageOps.exif_transpose(img)  # phones store portraits sideways with an orientation tag
    except (OSError, ValueError, SyntaxError) as e:
        raise ContentError(Message("image.unreadable", reason=str(e)), where=where)
    limit = 2 * width
    if img.width > limit:
        img = img.resize((limit, max(1, round(img.height * limit / img.width))), PILImage.Resampling.LANCZOS)
    data = _jpeg(img) if fmt == "JPEG" else _png(img, was_palette=_few_colours(PILImage.open(io.BytesIO(raw))))
    # Scaling can make a drawing heavier (smoothed edges add colours): then the original is lighter to read.
    return (raw if len(raw) <= len(data) else data), _TYPES[fmt]


def jpeg_budget(width: int, height: int) -> int:
    return max(JPEG_MIN_BUDGET, int(width * height * JPEG_BITS_PER_PIXEL / 8))


def _jpeg(img: PILImage.Image) -> bytes:
    """Progressive JPEG at the highest quality whose size fits the image's byte budget."""
    if img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    budget = jpeg_budget(img.width, img.height)
    low, high = JPEG_QUALITIES
    best = _encode_jpeg(img, low)
    while low < high:  # binary search on quality: size grows with it
        mid = (low + high + 1) // 2
        data = _encode_jpeg(img, mid)
        if len(data) <= budget:
            best, low = data, mid
        else:
            high = mid - 1
    return best


def _encode_jpeg(img: PILImage.Image, quality: int) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()


def _few_colours(img: PILImage.Image) -> bool:
    if img.mode in ("P", "1"):
        return True
    try:
        return img.width * img.height <= 4_000_000 and img.convert("RGBA").getcolors(256) is not None
    except (OSError, ValueError):
        return False


def _png(img: PILImage.Image, *, was_palette: bool) -> bytes:
    candidates = []
    if img.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        img = img.convert("RGBA")
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    candidates.append(out.getvalue())
    if was_palette and img.mode != "P":
        # The original had a palette: so does the copy (smoothing adds shades that 256 colours hold well).
        rgba = img.convert("RGBA")
        quantized = rgba.quantize(256, method=PILImage.Quantize.FASTOCTREE)
        out = io.BytesIO()
        quantized.save(out, "PNG", optimize=True)
        candidates.append(out.getvalue())
    return min(candidates, key=len)
