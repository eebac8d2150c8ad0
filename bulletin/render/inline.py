"""CSS inlining with premailer, minus its traps: it would rewrite image widths, drop the doctype and fetch
remote stylesheets."""

from __future__ import annotations

import logging
import re

from premailer import Premailer

from bulletin.errors import RenderError

DOCTYPE = "<!doctype html>"
_DOCTYPE_RE = re.compile(r"^\s*<!doctype[^>]*>", re.I)
_STYLESHEET_LINK = re.compile(r"<link\b[^>]*\brel=[\"']?stylesheet[^>]*>", re.I)


def inline_css(html: str) -> str:
    """Inline the head styles into the elements, keeping media queries in <head>.

    A remote stylesheet is refused rather than fetched: the build must not depend on the network, and most
    mail apps would not load it either.
    """
    link = _STYLESHEET_LINK.search(html)
    if link:
        raise RenderError(f"remote stylesheet {link.group(0)}: put the CSS in templates/styles.css instead",
                          where="templates", line=None)
    doctype = _DOCTYPE_RE.match(html)
    out = Premailer(
        html,
        # Without this premailer turns CSS `width:100%` into width="100%" on <img>, and Outlook, which reads
        # only the attribute, then draws the picture at its natural size or stretched.
        disable_basic_attributes=["width", "height"],
        allow_network=False,  # never fetch a <link rel=stylesheet> while building
        remove_classes=False,
        strip_important=False,
        keep_style_tags=False,
        cssutils_logging_level=logging.CRITICAL,
    ).transform()
    # lxml serialises without the doctype; mail apps fall into quirks mode without it.
    if not _DOCTYPE_RE.match(out):
        out = (doctype.group(0) if doctype else DOCTYPE) + "\n" + out
    return out
