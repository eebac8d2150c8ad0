"""Photos sent to the editor (content/uploads.py): what phones send is read, turned upright, stripped of its
metadata and scaled; what is not a photo, or claims more pixels than any camera makes, is refused with a
message that says so, before anything is decoded."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from bulletin.content.uploads import MAX_PIXELS, UploadRefused, file_stem, prepare
from bulletin.i18n import Message


def photo(width: int, height: int, fmt: str = "JPEG", noise: float = 40, **save) -> bytes:
    """A photo-like image (gradients with grain: many colours, as a camera makes)."""
    across = Image.linear_gradient("L").rotate(90).resize((width, height))
    down = Image.linear_gradient("L").resize((width, height))
    img = Image.merge("RGB", (across, down, Image.effect_noise((width, height), noise)))
    out = io.BytesIO()
    img.save(out, fmt, **save)
    return out.getvalue()


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A PNG of a few hundred kilobytes whose pixels would fill gigabytes once decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = zlib.compressobj(9)
    row = b"\0" * (1 + (width + 7) // 8)
    data = b"".join(raw.compress(row) for _ in range(height)) + raw.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def refused(raw: bytes, name: str = "photo.jpg") -> Message:
    with pytest.raises(UploadRefused) as e:
        prepare(raw, name, 1104)
    return e.value.what


def test_a_phone_photo_is_turned_upright_scaled_and_stripped_of_where_it_was_taken():
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was held sideways: "rotate 90° clockwise to show"
    exif[0x010F] = "Téléphone"
    exif[0x8825] = {1: "N", 2: (12.0, 39.0, 0.0)}  # GPS: Bamako
    raw = photo(3000, 2000, exif=exif.tobytes(), quality=92)
    ready = prepare(raw, "IMG_2041.JPG", 1104)
    img = Image.open(io.BytesIO(ready.data))
    assert (img.format, img.size) == ("JPEG", (1104, 1656))  # upright: taller than wide, 1104 px wide
    assert (ready.width, ready.height, ready.source_format) == (1104, 1656, "JPEG")
    assert dict(img.getexif()) == {} and b"Exif" not in ready.data
    assert ready.name == "img-2041.jpg" and len(ready.data) < len(raw)


def test_a_small_photo_is_not_enlarged():
    ready = prepare(photo(400, 300), "petit.jpeg", 1104)
    assert (ready.width, ready.height) == (400, 300)


@pytest.mark.parametrize("fmt, mode, expected", [
    ("PNG", "RGB", "JPEG"),  # a photo saved as PNG by a screenshot tool
    ("WEBP", "RGB", "JPEG"),
    ("WEBP", "RGBA", "PNG"),  # transparent parts: a logo, a drawing
])
def test_what_phones_and_browsers_send_becomes_what_mail_programs_show(fmt, mode, expected):
    img = Image.open(io.BytesIO(photo(1600, 900))).convert(mode)
    if mode == "RGBA":
        img.putalpha(Image.new("L", img.size, 0).point(lambda _: 0))
        img.paste((20, 80, 160, 255), (100, 100, 700, 500))
    out = io.BytesIO()
    img.save(out, fmt)
    ready = prepare(out.getvalue(), f"image.{fmt.lower()}", 1104)
    assert Image.open(io.BytesIO(ready.data)).format == expected
    assert ready.name == f"image.{'jpg' if expected == 'JPEG' else 'png'}" and ready.width == 1104


def test_a_drawing_stays_png():
    img = Image.new("P", (500, 300), 3)
    img.putpalette([255, 255, 255, 0, 0, 0, 200, 30, 30, 30, 90, 160] + [0] * 756)
    out = io.BytesIO()
    img.save(out, "PNG")
    ready = prepare(out.getvalue(), "carte.png", 1104)
    assert Image.open(io.BytesIO(ready.data)).format == "PNG" and ready.name == "carte.png"


def test_an_iphone_photo_in_heic_is_read():
    pytest.importorskip("pillow_heif")
    img = Image.open(io.BytesIO(photo(1600, 1200, noise=4)))
    out = io.BytesIO()
    img.save(out, "HEIF", quality=60)
    ready = prepare(out.getvalue(), "IMG_0001.HEIC", 1104)
    assert ready.source_format == "HEIF" and ready.name == "img-0001.jpg"
    assert Image.open(io.BytesIO(ready.data)).size == (1104, 828)


def test_a_png_bomb_is_refused_before_it_is_decoded():
    bomb = png_bomb()
    assert len(bomb) < 1_000_000
    assert refused(bomb, "carte.png") == Message("upload.too_many_pixels", limit=MAX_PIXELS // 1_000_000)
    # Under Pillow's own alarm but over ours: refused by the pixel count too.
    assert refused(png_bomb(8000, 6000), "carte.png").key == "upload.too_many_pixels"


@pytest.mark.parametrize("raw, name, key", [
    (b"%PDF-1.7\n1 0 obj << >> endobj\n", "rapport.pdf", "upload.not_image"),
    (b"MZ\x90\x00" + b"\x00" * 200, "photo.jpg", "upload.not_image"),  # a program named like a photo
    ("Bonjour".encode(), "photo.jpg", "upload.not_image"),
    (b"", "photo.jpg", "upload.empty"),
])
def test_a_file_that_is_not_a_photo_is_refused(raw, name, key):
    assert refused(raw, name).key == key


def test_other_image_formats_and_broken_photos_are_refused_with_the_reason():
    out = io.BytesIO()
    Image.new("RGB", (50, 50)).save(out, "GIF")
    assert refused(out.getvalue(), "anim.gif") == Message("upload.format", format="GIF")
    out = io.BytesIO()
    Image.new("RGB", (50, 50)).save(out, "BMP")
    assert refused(out.getvalue(), "scan.bmp") == Message("upload.format", format="BMP")
    whole = photo(800, 600)
    assert refused(whole[: len(whole) // 3]).key == "upload.broken"


@pytest.mark.parametrize("sent, stem", [
    ("../../etc/passwd.jpg", "passwd"),
    ("..\\..\\windows\\photo.png", "photo"),
    ("/var/www/x.jpg", "x"),
    ("Ségou, l'atelier été 2026.HEIC", "segou-l-atelier-ete-2026"),
    ("....jpg", "jpg"),
    ("", "image"),
    (".htaccess", "htaccess"),
    ("photo", "photo"),
])
def test_the_name_sent_never_leads_out_of_images(sent, stem):
    assert file_stem(sent) == stem
