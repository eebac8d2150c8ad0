"""`bulletin new SLUG`: a new issue folder from the commented starter (French, with an English edition), every
front matter key shown with an example, ready for `bulletin check`."""

from __future__ import annotations

import calendar
import io
import os
import re
import shutil
import tempfile
from datetime import date
from pathlib import Path

from babel.dates import format_date

from bulletin.config import Config
from bulletin.content.loader import SLUG_RE
from bulletin.errors import ContentError
from bulletin.i18n import Message

STARTER_LANGUAGES = ("fr", "en")
_MONTH_SLUG = re.compile(r"^(\d{4})-(\d{2})$")


def issue_date(slug: str, today: date) -> date:
    """The last day of the month a `YYYY-MM` slug names (the samples' habit), else today."""
    m = _MONTH_SLUG.match(slug)
    if m and 1 <= int(m.group(2)) <= 12:
        year, month = int(m.group(1)), int(m.group(2))
        return date(year, month, calendar.monthrange(year, month)[1])
    return today


def create_issue(parent: Path, slug: str, cfg: Config, starter_dir: Path, *, today: date) -> tuple[Path, list[Path]]:
    """Write `parent/slug` from the starter; (the folder, its files). Nothing is written if anything fails."""
    if not SLUG_RE.match(slug) or slug.startswith("."):
        raise ContentError(Message("new.bad_slug", slug=slug), where=slug)
    missing = [lang for lang in STARTER_LANGUAGES if lang not in cfg.organisation.languages]
    if missing:
        raise ContentError(Message("new.languages", languages=", ".join(STARTER_LANGUAGES)),
                           where="[organisation].languages")
    target = Path(parent) / slug
    if target.exists():
        raise ContentError(Message("new.exists"), where=target)
    if not starter_dir.is_dir():
        raise ContentError(Message("new.no_starter"), where=starter_dir)
    day = issue_date(slug, today)
    values = {
        "date": day.isoformat(),
        "month_fr": format_date(day, "LLLL y", locale="fr"),
        "month_en": format_date(day, "LLLL y", locale="en"),
        "org_short": cfg.organisation.short_name or cfg.organisation.name,
        "website": cfg.organisation.website or "https://www.example.org",
    }
    files: dict[str, bytes] = {}
    for source in sorted(starter_dir.rglob("*.j2")):
        text = source.read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace("{{ " + key + " }}", value)
        files[source.relative_to(starter_dir).as_posix().removesuffix(".j2")] = text.encode("utf-8")
    files["images/exemple.jpg"] = _example_photo()
    files["images/portrait.png"] = _example_portrait()
    parent = Path(parent)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=parent, prefix=f".{slug}.new-"))
    except OSError as e:
        raise ContentError(Message("new.cannot_write", reason=e.strerror or str(e)), where=parent)
    try:
        for rel, data in files.items():
            path = work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        os.chmod(work, 0o755)
        os.rename(work, target)  # the folder appears whole, or not at all
    except OSError as e:
        shutil.rmtree(work, ignore_errors=True)
        if target.exists():
            raise ContentError(Message("new.exists"), where=target)
        raise ContentError(Message("new.cannot_write", reason=e.strerror or str(e)), where=target)
    return target, [target / rel for rel in files]


def _example_photo() -> bytes:
    """A plain landscape to stand in for the news photo: a sky, a horizon, a sun."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (1104, 552), (222, 236, 240))
    draw = ImageDraw.Draw(img)
    for y in range(330):
        shade = 200 + y * 40 // 330
        draw.line([(0, y), (1104, y)], fill=(shade - 60, shade - 20, shade))
    draw.rectangle([0, 330, 1104, 552], fill=(196, 160, 104))
    draw.ellipse([780, 70, 900, 190], fill=(246, 214, 120))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=70, progressive=True, optimize=True)
    return out.getvalue()


def _example_portrait() -> bytes:
    """A neutral silhouette to stand in for the director's photo."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (240, 240), (214, 226, 230))
    draw = ImageDraw.Draw(img)
    draw.ellipse([80, 40, 160, 120], fill=(120, 140, 150))
    draw.ellipse([40, 130, 200, 300], fill=(120, 140, 150))
    out = io.BytesIO()
    img.quantize(8).save(out, "PNG", optimize=True)
    return out.getvalue()
