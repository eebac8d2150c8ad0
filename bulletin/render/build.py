"""`bulletin build`: the editions as a reader would see them in a browser, written only when all succeeded."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bulletin.config import Config
from bulletin.content import Problem, load_issue
from bulletin.content.problems import dedupe
from bulletin.errors import ContentError
from bulletin.i18n import Message
from bulletin.render.assets import edition_assets
from bulletin.render.edition import RenderedEdition
from bulletin.render.images import icon_url, image_url
from bulletin.render.pipeline import TEMPLATES_DIR, render_edition


def preview_values(cfg: Config, slug: str) -> dict[str, str]:
    """Harmless stand-ins for the per-recipient markers: nobody is unsubscribed by clicking a built file."""
    base = cfg.web.base_url
    return {
        "archive_url": f"{base}/archive/{slug}",
        "unsubscribe_url": f"{base}/unsubscribe/preview",
        "name": "",
        "email": "",
    }


def local_copy(edition: RenderedEdition, cfg: Config, *, images: str, icons: str) -> tuple[str, str]:
    """(HTML, text) of an edition as a preview shows it: harmless links in place of a reader's, and the images
    and icons it loads from [web].base_url taken from `images` and `icons` instead (a folder, a local server)."""
    html, text = edition.personalise(preview_values(cfg, edition.slug))
    html = html.replace(icon_url(cfg.web.base_url, ""), icons)
    return html.replace(image_url(cfg.web.base_url, edition.slug, ""), images), text


def images_folder(slug: str) -> str:
    return f"{slug}-images"


@dataclass(frozen=True)
class BuildResult:
    editions: list[RenderedEdition]
    written: list[Path]
    #: the issue's problems and its editions', each once
    problems: list[Problem]


def build_issue(issue_dir: Path, cfg: Config, out_dir: Path, *, templates_dir: Path | None = None) -> BuildResult:
    """Render every edition and write `<slug>.<lang>.html`/`.txt` plus the images they show.

    Everything is rendered in memory first, so a bad issue leaves `out_dir` as it was.
    """
    issue = load_issue(Path(issue_dir), cfg)
    tdir = Path(templates_dir or TEMPLATES_DIR)
    editions = [render_edition(issue, lang, cfg, templates_dir=tdir) for lang in issue.languages]
    slug = issue.slug
    files: dict[str, bytes] = {}
    # Built pages use local copies of what the email loads from [web].base_url, so they open without a server.
    folder = images_folder(slug) + "/"
    local = {image_url(cfg.web.base_url, slug, ""): folder, icon_url(cfg.web.base_url, ""): folder + "icons/"}
    for ed in editions:
        for asset in edition_assets(issue, ed.language, cfg, tdir):
            rel = (folder if asset.kind == "image" else folder + "icons/") + asset.name
            if rel not in files:
                files[rel] = asset.read()[0]
    for ed in editions:
        html, text = ed.personalise(preview_values(cfg, slug))
        for remote, here in local.items():
            html = html.replace(remote, here)
        files[f"{slug}.{ed.language}.html"] = html.encode("utf-8")
        files[f"{slug}.{ed.language}.txt"] = text.encode("utf-8")
    try:
        written = [_write(out_dir / rel, data) for rel, data in files.items()]
    except OSError as e:
        raise ContentError(Message("build.cannot_write", reason=e.strerror or str(e)), where=e.filename or out_dir)
    problems = dedupe([*issue.problems, *(p for ed in editions for p in ed.warnings)])
    return BuildResult(editions=editions, written=written, problems=problems)


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
