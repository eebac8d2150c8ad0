"""A photo sent from a phone or a camera, made into a file of the issue's images/ folder: read whatever the
phone wrote (JPEG, PNG, WebP, HEIC), turned the right way up, its metadata dropped (phones record where a
photo was taken), scaled to twice the widest it is shown at, and saved as a JPEG or a PNG that every mail
program shows.

Nothing here trusts the file: its type is read from its bytes, not its name; its pixel count is read from its
header and refused above `MAX_PIXELS` before anything is decoded (a small PNG can claim 20,000 × 20,000
pixels); the name it is saved under is made of plain letters and digits, whatever was sent.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from bulletin.content.form import ascii_name
from bulletin.errors import ContentError
from bulletin.i18n import Message

#: Above this an image is refused before it is decoded: more than any phone camera's photo.
MAX_PIXELS = 40_000_000
#: What the editor accepts, as Pillow names the formats (HEIF is read by pillow-heif where installed).
ACCEPTED = ("JPEG", "PNG", "WEBP", "HEIF")
#: Photos are stored at this JPEG quality: the email's scaling compresses again to a byte budget per reader.
STORED_QUALITY = 85

try:  # HEIC, the format iPhones save photos in
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIC = True
except ImportError:  # pragma: no cover - pillow-heif is a dependency; a system without its wheel still works
    HEIC = False


class UploadRefused(ContentError):
    """An uploaded file that is not made into an image; nothing was written."""


@dataclass(frozen=True)
class Prepared:
    #: the name it is saved under in images/ ("marche-de-mopti.jpg")
    name: str
    data: bytes
    width: int
    height: int
    #: the format it was sent in ("JPEG", "HEIF", ...)
    source_format: str
    source_bytes: int


def prepare(raw: bytes, filename: str, max_width: int) -> Prepared:
    """`raw` as a file of images/ no wider than `max_width` pixels; UploadRefused with a message saying why not."""
    if not raw:
        raise UploadRefused(Message("upload.empty"), where=_shown(filename))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw))
            fmt = img.format or ""
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRefused(Message("upload.too_many_pixels", limit=MAX_PIXELS // 1_000_000), where=_shown(filename))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise UploadRefused(Message("upload.not_image"), where=_shown(filename))
    if fmt not in ACCEPTED:
        raise UploadRefused(Message("upload.format", format=fmt or "?"), where=_shown(filename))
    if img.width * img.height > MAX_PIXELS:
        raise UploadRefused(Message("upload.too_many_pixels", limit=MAX_PIXELS // 1_000_000), where=_shown(filename))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.load()
        img = ImageOps.exif_transpose(img)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise UploadRefused(Message("upload.broken"), where=_shown(filename))
    if img.width > max_width:
        img = img.resize((max_width, max(1, round(img.height * max_width / img.width))), Image.Resampling.LANCZOS)
    drawing = _is_drawing(img, fmt)
    out = io.BytesIO()
    if drawing:
        if img.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            img = img.convert("RGBA")
        img.save(out, "PNG", optimize=True)
        ext = "png"
    else:
        if img.mode not in ("RGB", "L"):
            img = _flatten(img)
        img.save(out, "JPEG", quality=STORED_QUALITY, optimize=True, progressive=True)
        ext = "jpg"
    return Prepared(f"{file_stem(filename)}.{ext}", out.getvalue(), img.width, img.height, fmt, len(raw))


def _is_drawing(img: Image.Image, fmt: str) -> bool:
    """PNG and WebP drawings (few colours, or see-through parts) stay PNG; photos become JPEG."""
    if fmt not in ("PNG", "WEBP"):
        return False
    if img.mode in ("P", "1") or "A" in img.getbands() and img.getchannel("A").getextrema()[0] < 255:
        return True
    return img.width * img.height <= 4_000_000 and img.convert("RGB").getcolors(256) is not None


def _flatten(img: Image.Image) -> Image.Image:
    """On white, as a mail program shows an image without transparency."""
    rgba = img.convert("RGBA")
    ground = Image.new("RGB", rgba.size, (255, 255, 255))
    ground.paste(rgba, mask=rgba.getchannel("A"))
    return ground


def file_stem(filename: str) -> str:
    """A safe name from what the browser sent: its last part only ("../../x.jpg" is "x"), plain letters."""
    last = re.split(r"[\\/]", filename or "")[-1]
    stem = last.rsplit(".", 1)[0] if "." in last.strip(".") else last
    return ascii_name(stem, 60) or "image"


def _shown(filename: str) -> str:
    return re.split(r"[\\/]", filename or "")[-1][:80] or "image"
