"""`bulletin check`: everything worth a second look before sending, each with its file and line."""

from __future__ import annotations

from pathlib import Path

from bulletin.config import Config
from bulletin.content import Issue, load_issue
from bulletin.content.markdown import references
from bulletin.errors import BulletinError
from bulletin.render.images import publish_image
from bulletin.render.pipeline import render_edition

#: Readers on metered phone data pay for every image; above this an issue is heavy for them.
IMAGES_WEIGHT_LIMIT = 300 * 1024


def check_issue(issue_dir: Path, cfg: Config, *, templates_dir: Path | None = None) -> list[str]:
    """The problems of an issue, as `WHERE: WHAT` lines; empty when it is ready to send.

    An issue that cannot be built at all reports the one error that stops it.
    """
    try:
        issue = load_issue(Path(issue_dir), cfg)
    except BulletinError as e:
        return [str(e)]
    problems = [str(p) for p in issue.problems]
    for lang in issue.languages:
        try:
            edition = render_edition(issue, lang, cfg, templates_dir=templates_dir)
        except BulletinError as e:
            problems.append(str(e))
            break
        problems.extend(w for w in edition.warnings if w not in problems)
    total = 0
    for name in sorted(_local_image_names(issue)):
        try:
            data, _type = publish_image(issue.path, name)
        except BulletinError as e:
            problems.append(str(e))
            continue
        total += len(data)
    if total > IMAGES_WEIGHT_LIMIT:
        problems.append(f"{issue.path / 'images'}: the issue's images weigh {total // 1024} KB after scaling; "
                        f"readers on phone data pay for each one (aim for under {IMAGES_WEIGHT_LIMIT // 1024} KB)")
    return problems


def _local_image_names(issue: Issue) -> set[str]:
    """Front matter images and images written in Markdown bodies alike."""
    names = {img.name for img in issue.images if img.file is not None}
    for ed in issue.editions.values():
        parts = [*ed.news, *(x for x in (ed.director, ed.highlights) if x is not None)]
        for part in parts:
            for ref in references(part.body, part.body_line):
                if ref.kind == "image" and "://" not in ref.target:
                    names.add(Path(ref.target).name)
    return names
