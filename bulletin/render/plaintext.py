"""The plain-text part, written from the Markdown tree rather than converted back from HTML: headings
underlined, links as their text and address, lists with hanging indents, paragraphs reflowed at 72 columns.

No-break spaces (French `Lieu : `) are never a place to break a line, and addresses are never cut.
"""

from __future__ import annotations

import textwrap
import unicodedata

from markdown_it.tree import SyntaxTreeNode

from bulletin.content.markdown import parser

WIDTH = 72
_PARSER = parser()


def markdown_to_text(body: str, width: int = WIDTH) -> str:
    """The Markdown `body` as plain text lines of at most `width` columns (long addresses excepted)."""
    tree = SyntaxTreeNode(_PARSER.parse(body))
    return "\n".join(_blocks(tree.children, width)).strip("\n")


def wrap(text: str, width: int = WIDTH, *, indent: str = "", hang: str | int = "") -> str:
    """`text` reflowed to `width`; `hang` (text or a number of spaces) starts the lines after the first."""
    hang = " " * hang if isinstance(hang, int) else hang
    out = []
    for piece in str(text).split("\n"):
        lines = textwrap.wrap(piece, width=width, initial_indent=indent, subsequent_indent=hang or indent,
                              break_long_words=False, break_on_hyphens=False) or [indent.rstrip()]
        out.extend(lines)
    return "\n".join(out)


def underline(text: str, char: str = "-") -> str:
    """`text` with a line of `char` under its longest line."""
    longest = max((_columns(line) for line in str(text).split("\n")), default=0)
    return f"{text}\n{char * longest}"


def _columns(line: str) -> int:
    # Combining accents take no column: "é" typed as e + U+0301 is one column, as the reader sees it.
    return sum(1 for ch in line if not unicodedata.combining(ch))


def _blocks(nodes: list[SyntaxTreeNode], width: int) -> list[str]:
    """Blocks separated by one blank line."""
    out: list[str] = []
    for node in nodes:
        lines = _block(node, width)
        if not lines:
            continue
        if out:
            out.append("")
        out.extend(lines)
    return out


def _block(node: SyntaxTreeNode, width: int) -> list[str]:
    kind = node.type
    if kind == "paragraph":
        return wrap(_inline(node), width).split("\n")
    if kind == "heading":
        level = int(node.tag[1:])
        return underline(wrap(_inline(node), width), "=" if level == 1 else "-").split("\n")
    if kind in ("bullet_list", "ordered_list"):
        return _list(node, width)
    if kind == "blockquote":
        return [f"> {line}".rstrip() for line in _blocks(node.children, width - 2)]
    if kind in ("code_block", "fence"):
        return ["    " + line for line in node.content.rstrip("\n").split("\n")]
    if kind == "hr":
        return ["-" * 20]
    if kind == "table":
        return _table(node, width)
    if kind == "inline":
        return wrap(_inline(node), width).split("\n")
    return _blocks(node.children, width)


def _list(node: SyntaxTreeNode, width: int) -> list[str]:
    ordered = node.type == "ordered_list"
    start = int(node.attrs.get("start", 1) or 1) if ordered else 1
    items = [c for c in node.children if c.type == "list_item"]
    marks = [f"{start + i}. " if ordered else "- " for i in range(len(items))]
    pad = max((len(m) for m in marks), default=2)
    tight = all(p.hidden for item in items for p in item.children if p.type == "paragraph")
    out: list[str] = []
    for mark, item in zip(marks, items):
        lines = _blocks(item.children, width - pad)
        if tight:
            lines = [ln for ln in lines if ln]
        if out and not tight:
            out.append("")
        for i, line in enumerate(lines):
            out.append((mark.ljust(pad) if i == 0 else " " * pad) + line if line else "")
    return out


def _table(node: SyntaxTreeNode, width: int) -> list[str]:
    rows = []
    for section in node.children:
        for row in section.children:
            rows.append(" | ".join(_inline(cell) for cell in row.children))
    return [wrap(r, width, hang=2) for r in rows]


def _inline(node: SyntaxTreeNode) -> str:
    parts: list[str] = []
    for child in node.children:
        kind = child.type
        if kind == "inline":
            parts.append(_inline(child))
        elif kind in ("text", "code_inline"):
            parts.append(child.content)
        elif kind == "softbreak":
            parts.append(" ")
        elif kind == "hardbreak":
            parts.append("\n")
        elif kind == "link":
            parts.append(_link(_inline(child), str(child.attrs.get("href") or "")))
        elif kind == "image":
            alt = child.content or _inline(child)
            if alt.strip():
                parts.append(f"[{alt.strip()}]")
        else:  # em, strong, s: their text
            parts.append(_inline(child))
    return "".join(parts)


def _link(text: str, href: str) -> str:
    shown = href.removeprefix("mailto:")
    if not href or href.startswith("#") or text.strip() in (href, shown):
        return text
    return f"{text} <{shown}>"
