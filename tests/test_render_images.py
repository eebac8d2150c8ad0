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
