"""Helpers for the compose tests: small issue folders written from a dict of file texts."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "issues"

MINIMAL = {
    "issue.toml": 'subject = "Bulletin de test"\npreheader = "Un court résumé"\ndate = 2023-07-31\n',
    "news/01-bamako.md": "---\ntitle: Une nouvelle de Bamako\nplace: Bamako\n---\nLe texte de la nouvelle.\n",
}


def write_issue(root: Path, files: dict[str, str | bytes], slug: str = "2024-01") -> Path:
    issue = root / slug
    for rel, content in files.items():
        path = issue / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    issue.mkdir(parents=True, exist_ok=True)
    return issue


def copy_sample(root: Path, slug: str) -> Path:
    target = root / slug
    shutil.copytree(SAMPLES / slug, target)
    return target


def png_bytes(width: int, height: int, color=(200, 30, 30)) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes(width: int, height: int) -> bytes:
    import io

    from PIL import Image

    img = Image.effect_noise((width, height), 80).convert("RGB")  # noise: a photo-like, poorly compressible file
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95)
    return buf.getvalue()
