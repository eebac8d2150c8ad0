"""`bulletin build`: the editions as a reader would see them in a browser, written only when all succeeded."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bulletin.config import Config
from bulletin.errors import ContentError
from bulletin.render.edition import RenderedEdition
from bulletin.render.images import image_url, publish_image
from bulletin.render.pipeline import render_issue


def preview_values(cfg: Config, slug: str) -> dict[str, str]:
    """Harmless stand-ins for the per-recipient markers: nobody is unsubscribed by clicking a built file."""
    base = cfg.web.base_url
    return {
        "archive_url": f"{base}/archive/{slug}",
        "unsubscribe_url": f"{base}/unsubscribe/preview",
        "name": "",
        "email": "",
    }


def images_folder(slug: str) -> str:
    return f"{slug}-images"


@dataclass(frozen=True)
class BuildResult:
    editions: list[RenderedEdition]
    written: list[Path]


def build_issue(issue_dir: Path, cfg: Config, out_dir: Path, *, templates_dir: Path | None = None) -> BuildResult:
    """Render every edition and write `<slug>.<lang>.html`/`.txt` plus the published images.

    Everything is rendered in memory first, so a bad issue leaves `out_dir` as it was.
    """
    issue_dir = Path(issue_dir)
    editions = render_issue(issue_dir, cfg, templates_dir=templates_dir)
    slug = editions[0].slug
    files: dict[str, bytes] = {}
    # Built pages use the local copies of the issue's images, so they open without `bulletin serve`.
    remote_prefix = image_url(cfg.web.base_url, slug, "")
    local_prefix = images_folder(slug) + "/"
    for name in _local_images(issue_dir, editions, remote_prefix):
        data, _type = publish_image(issue_dir, name)
        files[local_prefix + name] = data
    for ed in editions:
        html, text = ed.personalise(preview_values(cfg, slug))
        html = html.replace(remote_prefix, local_prefix)
        files[f"{slug}.{ed.language}.html"] = html.encode("utf-8")
        files[f"{slug}.{ed.language}.txt"] = text.encode("utf-8")
    try:
        written = [_write(out_dir / rel, data) for rel, data in files.items()]
    except OSError as e:
        raise ContentError(f"cannot write the build: {e.strerror}", where=e.filename or out_dir)
    return BuildResult(editions=editions, written=written)


def _local_images(issue_dir: Path, editions: list[RenderedEdition], prefix: str) -> list[str]:
    from urllib.parse import unquote

    names: set[str] = set()
    for ed in editions:
        start = 0
        while (i := ed.html.find(prefix, start)) != -1:
            end = min(j for j in (ed.html.find('"', i), ed.html.find("'", i), ed.html.find(")", i), len(ed.html))
                      if j != -1)
            names.add(unquote(ed.html[i + len(prefix):end]))
            start = end
    return sorted(n for n in names if n)


def _write(path: Path, data: bytes) -> Path:
    """Write through a temporary file and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a build is meant to be opened and shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
