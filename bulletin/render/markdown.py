"""Markdown bodies to the HTML fragments the email template places, with images pointed at the web archive."""

from __future__ import annotations

from collections.abc import Callable

from markdown_it.renderer import RendererHTML

from bulletin.content.markdown import parser
from bulletin.render.images import NEWS_IMAGE_WIDTH


def to_html(body: str, image_src: Callable[[str], str]) -> str:
    """HTML for a Markdown body; `image_src` maps a relative image path to the address mail apps fetch."""
    md = parser()
    default_image = md.renderer.rules.get("image")

    def image(self, tokens, idx, options, env):
        tok = tokens[idx]
        tok.attrSet("src", image_src(str(tok.attrGet("src") or "")))
        # Mail apps ignore CSS max-width in places; the attribute keeps wide images inside the column.
        tok.attrSet("width", str(NEWS_IMAGE_WIDTH))
        tok.attrSet("style", "max-width:100%;height:auto;display:block")
        return default_image(tokens, idx, options, env) if default_image else RendererHTML().image(tokens, idx, options, env)

    md.add_render_rule("image", image)
    return md.render(body)
