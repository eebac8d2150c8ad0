"""Small charts as inline SVG, drawn here so a page makes no other request: bars of deliveries over a send's
duration, and a line of subscriptions over the weeks. Labels come in already translated; the SVG carries a
text alternative (role="img", aria-label) and each bar or point its value as a <title>."""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 480, 160, 24
#: Colours with a contrast ratio of at least 4.5:1 on white (WCAG AA), for text and lines alike.
ACCENT = "#9c4615"
AXIS = "#52606d"


def bars_svg(counts: list[int], start_label: str, end_label: str, description: str, max_label: str) -> Markup:
    """Bars of `counts`, labelled with the first and last times; `description` is the text alternative."""
    top = max(counts, default=0) or 1
    bar = (WIDTH - 2 * PAD) / max(len(counts), 1)
    rects = []
    for i, n in enumerate(counts):
        h = (HEIGHT - 2 * PAD) * n / top
        x, y = PAD + i * bar, HEIGHT - PAD - h
        rects.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar * 0.8:.1f}" height="{h:.1f}"><title>{n}</title></rect>')
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(description)}" class="chart">'
        f'<g fill="{ACCENT}">{"".join(rects)}</g>'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="{AXIS}"/>'
        f'<text x="{PAD}" y="{HEIGHT - 6}" font-size="11" fill="{AXIS}">{escape(start_label)}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 6}" font-size="11" text-anchor="end" fill="{AXIS}">'
        f'{escape(end_label)}</text>'
        f'<text x="{PAD}" y="{PAD - 8}" font-size="11" fill="{AXIS}">{escape(max_label)}</text>'
        "</svg>"
    )


def line_svg(points: list[tuple[str, int]], description: str) -> Markup:
    """A line through (label, value) points, the first and last labelled, the scale from 0 to the highest."""
    if not points:
        return Markup("")
    top = max(v for _, v in points) or 1
    step = (WIDTH - 2 * PAD) / max(len(points) - 1, 1)
    xy = [(PAD + i * step, HEIGHT - PAD - (HEIGHT - 2 * PAD) * v / top) for i, (_, v) in enumerate(points)]
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(label)}: {v}</title></circle>'
                   for (x, y), (label, v) in zip(xy, points))
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    first, last = points[0], points[-1]
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(description)}" class="chart">'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="{AXIS}"/>'
        f'<polyline points="{path}" fill="none" stroke="{ACCENT}" stroke-width="2"/>'
        f'<g fill="{ACCENT}">{dots}</g>'
        f'<text x="{PAD}" y="{HEIGHT - 6}" font-size="11" fill="{AXIS}">{escape(first[0])}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 6}" font-size="11" text-anchor="end" fill="{AXIS}">'
        f'{escape(last[0])}</text>'
        f'<text x="{PAD}" y="{PAD - 8}" font-size="11" fill="{AXIS}">{top}</text>'
        "</svg>"
    )
