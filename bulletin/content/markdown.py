"""The one Markdown dialect of issues (CommonMark with tables and strikethrough, no raw HTML), shared by
the loader that checks it and the renderer that turns it into email HTML."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token


def parser() -> MarkdownIt:
    # Raw HTML is off: an author's stray <div> would break the email layout in some clients.
    return MarkdownIt("commonmark", {"html": False, "typographer": False}).enable(["table", "strikethrough"])


_PARSER = parser()


@dataclass(frozen=True)
class Reference:
    """A link or image in a Markdown body, with its line in the file."""

    kind: str  # "link" or "image"
    target: str
    alt: str
    line: int


def references(body: str, first_line: int) -> Iterator[Reference]:
    """The links and images of a Markdown body; `first_line` is the file line the body starts on."""
    for block in _PARSER.parse(body):
        if block.type != "inline" or not block.children:
            continue
        line = first_line + (block.map[0] if block.map else 0)
        yield from _inline_refs(block.children, line)


def _inline_refs(tokens: list[Token], line: int) -> Iterator[Reference]:
    for tok in tokens:
        if tok.type == "softbreak" or tok.type == "hardbreak":
            line += 1
        elif tok.type == "link_open":
            yield Reference("link", str(tok.attrGet("href") or ""), "", line)
        elif tok.type == "image":
            yield Reference("image", str(tok.attrGet("src") or ""), tok.content, line)


_HTML_PARSER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def raw_html(body: str, first_line: int) -> Iterator[tuple[int, str]]:
    """(line, tag) of each piece of raw HTML in a Markdown body: the email shows it as text, escaped."""
    for block in _HTML_PARSER.parse(body):
        line = first_line + (block.map[0] if block.map else 0)
        if block.type == "html_block":
            yield line, block.content.strip().split("\n")[0][:60]
        elif block.type == "inline" and block.children:
            for tok in block.children:
                if tok.type in ("softbreak", "hardbreak"):
                    line += 1
                elif tok.type == "html_inline" and not tok.content.startswith("</"):
                    yield line, tok.content[:60]
