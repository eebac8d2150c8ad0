"""Images as readers download them: scaled to twice their displayed width, compressed, and nothing else served."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bulletin.errors import ContentError
from bulletin.render.images import (DIRECTOR_PHOTO_WIDTH, NEWS_IMAGE_WIDTH, display_width, image_url,
                                    publish_image)
from compose_helpers import MINIMAL, SAMPLES, jpeg_bytes, png_bytes, write_issue


def _size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def test_news_image_is_scaled_to_twice_the_column_and_compressed(tmp_path):
    original = jpeg_bytes(3000, 1500)
    issue = write_issue(tmp_path, {**MINIMAL, "images/big.jpg": original})
    data, ctype = publish_image(issue, "big.jpg")
    assert ctype == "image/jpeg"
    assert _size(data) == (2 * NEWS_IMAGE_WIDTH, NEWS_IMAGE_WIDTH)
    assert len(data) < len(original) / 3


def test_director_photo_is_scaled_for_its_small_frame(tmp_path):
    files = {**MINIMAL, "director.md": "---\nphoto: images/portrait.png\nphoto_alt: x\n---\nMot.\n",
             "images/portrait.png": png_bytes(900, 900)}
    issue = write_issue(tmp_path, files)
    assert display_width(issue, "portrait.png") == DIRECTOR_PHOTO_WIDTH
    data, ctype = publish_image(issue, "portrait.png")
    assert ctype == "image/png" and _size(data) == (2 * DIRECTOR_PHOTO_WIDTH, 2 * DIRECTOR_PHOTO_WIDTH)


def test_small_images_are_not_enlarged(tmp_path):
    issue = write_issue(tmp_path, {**MINIMAL, "images/small.png": png_bytes(50, 40)})
    data, _ = publish_image(issue, "small.png")
    assert _size(data) == (50, 40)


def test_sample_images_are_light(tmp_path):
    for name in ("anbe-koungo-do.jpg", "directeur.png"):
        data, _ = publish_image(SAMPLES / "2023-07", name)
        assert len(data) < 40_000


@pytest.mark.parametrize("name", ["../issue.toml", "..", "/etc/passwd", "sub/a.png", "..%2Fissue.toml", "", "absent.png",
                                  ".hidden.png"])
def test_names_outside_the_images_folder_are_refused(tmp_path, name):
    issue = write_issue(tmp_path, {**MINIMAL, "images/a.png": png_bytes(4, 4), "images/sub/a.png": png_bytes(4, 4),
                                   "images/.hidden.png": png_bytes(4, 4)})
    with pytest.raises(ContentError, match="no image named"):
        publish_image(issue, name)


def test_a_file_that_is_not_an_image_is_refused(tmp_path):
    issue = write_issue(tmp_path, {**MINIMAL, "images/notes.jpg": "pas une image"})
    with pytest.raises(ContentError, match="JPEG, PNG or GIF"):
        publish_image(issue, "notes.jpg")


def test_webp_is_refused_for_mail_apps(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buf, "WEBP")
    issue = write_issue(tmp_path, {**MINIMAL, "images/a.webp": buf.getvalue()})
    with pytest.raises(ContentError, match="WEBP"):
        publish_image(issue, "a.webp")


def test_gif_passes_unchanged(tmp_path):
    buf = io.BytesIO()
    Image.new("P", (2000, 10)).save(buf, "GIF")
    issue = write_issue(tmp_path, {**MINIMAL, "images/anim.gif": buf.getvalue()})
    assert publish_image(issue, "anim.gif") == (buf.getvalue(), "image/gif")


def test_image_url_is_under_the_archive():
    assert image_url("https://n.example/", "2023-07", "photo été.jpg") == \
        "https://n.example/archive/2023-07/images/photo%20%C3%A9t%C3%A9.jpg"


def _drawing(width: int, height: int) -> bytes:
    """A diagram of lines and labels: few colours, which smoothing when scaled would multiply."""
    from PIL import ImageDraw

    img = Image.new("RGB", (width, height), (255, 255, 255))
    d = ImageDraw.Draw(img)
    for i in range(0, width, 37):
        d.line([(i, 0), (width - i, height)], fill=(14, 94, 111), width=3)
    for i in range(0, height, 53):
        d.rectangle([i, i, i + 40, i + 25], outline=(200, 64, 47), width=2)
        d.text((i + 5, i + 5), "Bamako 2026", fill=(29, 43, 51))
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


@pytest.mark.parametrize("size", [(1600, 900), (2000, 1200), (1300, 400)])
def test_a_drawing_is_never_made_heavier_than_its_source(tmp_path, size):
    # Scaled with smoothing and saved in true colour, a 68 KB drawing of this kind became 569 KB.
    original = _drawing(*size)
    issue = write_issue(tmp_path, {**MINIMAL, "images/schema.png": original})
    data, ctype = publish_image(issue, "schema.png")
    assert ctype == "image/png" and len(data) <= len(original)


def test_photos_are_progressive_jpegs_within_their_byte_budget(tmp_path):
    from bulletin.render.images import jpeg_budget

    photo = SAMPLES / "2023-07" / "images" / "anbe-koungo-do.jpg"
    data, ctype = publish_image(SAMPLES / "2023-07", "anbe-koungo-do.jpg")
    img = Image.open(io.BytesIO(data))
    assert ctype == "image/jpeg" and img.info.get("progressive") == 1 and img.size == (1104, 552)
    assert len(data) <= jpeg_budget(1104, 552) and len(data) < photo.stat().st_size
    # A noisy photo cannot reach its budget: it gets the lowest quality, still far lighter than its source.
    noisy = jpeg_bytes(3000, 1500)
    issue = write_issue(tmp_path, {**MINIMAL, "images/bruit.jpg": noisy})
    data, _ = publish_image(issue, "bruit.jpg")
    assert Image.open(io.BytesIO(data)).info.get("progressive") == 1 and len(data) < len(noisy) / 20


def test_the_width_comes_from_the_image_record(tmp_path):
    from bulletin.config import Config
    from bulletin.content import ImageRole, load_issue

    files = {**MINIMAL, "director.md": "---\nphoto: images/p.png\nphoto_alt: x\n---\nMot.\n\n![La même](images/p.png)\n",
             "images/p.png": png_bytes(1500, 1500)}
    issue = load_issue(write_issue(tmp_path, files), Config())
    assert [(i.role, i.line, sorted(i.editions)) for i in issue.images] == [
        (ImageRole.DIRECTOR_PHOTO, 2, ["fr"]), (ImageRole.INLINE, 7, ["fr"])]
    # shown as a photo and across the column: scaled for the wider
    assert display_width(issue, "p.png") == NEWS_IMAGE_WIDTH
    assert _size(publish_image(issue, "p.png")[0]) == (2 * NEWS_IMAGE_WIDTH, 2 * NEWS_IMAGE_WIDTH)
