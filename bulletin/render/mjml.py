"""MJML to responsive HTML with mjml-python, guarded: includes stay inside templates/, unknown tags fail."""

from __future__ import annotations

import re
from pathlib import Path

from mjml import mjml2html

from bulletin.errors import RenderError

#: Elements mjml-python compiles; any other `mj-` tag would reach the email as a dead tag, silently.
KNOWN_TAGS = frozenset("""
mjml mj-head mj-body mj-attributes mj-all mj-class mj-breakpoint mj-font mj-html-attributes mj-selector
mj-html-attribute mj-preview mj-style mj-title mj-include mj-raw mj-wrapper mj-section mj-group mj-column
mj-text mj-image mj-button mj-divider mj-spacer mj-table mj-social mj-social-element mj-navbar mj-navbar-link
mj-hero mj-accordion mj-accordion-element mj-accordion-title mj-accordion-text mj-carousel mj-carousel-image
""".split())
_TAG = re.compile(r"<(mj-[a-z-]+|mjml)\b")
_SHARE_SOCIAL = re.compile(r'<mj-social-element\b[^>]*\bname="(?P<name>[a-z]+)"')
#: Plain names make "share this" links; profile links need the -noshare variants. `web` has no share form.
_NO_SHARE_FORM = {"web"}


class IncludeLoader:
    """An mj-include loader that reads only files inside `templates_dir` (no `../`, no absolute paths).

    mjml-python reports a failed include without its cause, so the refusal is kept here to be raised.
    """

    def __init__(self, templates_dir: Path):
        self.root = templates_dir.resolve()
        self.error: RenderError | None = None

    def __call__(self, path: str) -> str:
        target = (self.root / path).resolve()
        if Path(path).is_absolute() or not target.is_relative_to(self.root):
            self.error = RenderError(f"mj-include {path!r} points outside the templates folder", where=self.root)
            raise self.error
        try:
            return target.read_text(encoding="utf-8")
        except OSError:
            self.error = RenderError(f"mj-include {path!r}: no such file in the templates folder", where=self.root)
            raise self.error


def _line_of(source: str, index: int) -> int:
    return source.count("\n", 0, index) + 1


def check_mjml(source: str, where: str) -> None:
    """Refuse what mjml-python would let through: unknown mj- tags and share-link social elements."""
    for m in _TAG.finditer(source):
        if m.group(1) not in KNOWN_TAGS:
            raise RenderError(f"unknown MJML tag <{m.group(1)}>", where=where, line=_line_of(source, m.start()))
    for m in _SHARE_SOCIAL.finditer(source):
        if m.group("name") not in _NO_SHARE_FORM:
            raise RenderError(
                f'<mj-social-element name="{m.group("name")}"> makes a share link; '
                f'use name="{m.group("name")}-noshare" for a link to the profile',
                where=where, line=_line_of(source, m.start()),
            )


def compile_mjml(source: str, templates_dir: Path, where: str = "email.mjml") -> str:
    """HTML for an MJML document (checked first); RenderError with the line where mjml-python stops."""
    check_mjml(source, where)
    loader = IncludeLoader(templates_dir)
    try:
        # fonts={}: no Google Fonts <link> — readers pay for every byte, and system fonts are fine.
        return mjml2html(source, disable_comments=True, fonts={}, include_loader=loader)
    except Exception as e:  # mjml-python raises plain ValueError/RuntimeError with a parser message
        if loader.error is not None:
            raise loader.error from None
        raise RenderError(f"MJML did not compile: {e}", where=where)
