"""Draws the social icons of the email footer into templates/icons/ (run again only to change them).

    apt-get install fonts-font-awesome && .venv/bin/python scripts/draw_social_icons.py

Each icon is the network's glyph from Font Awesome 4.7 (SIL Open Font License 1.1), white on a disc of the
network's colour, 56×56 pixels (shown at 28 px, sharp on high-density phones), in a 32-colour palette: a few
hundred bytes each, served from [web].base_url so that no third party sees a message being opened.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "templates" / "icons"
FONT = Path("/usr/share/fonts/truetype/font-awesome/fontawesome-webfont.ttf")
SIZE = 56
SCALE = 8  # drawn large, then reduced: smooth edges
#: file name -> (Font Awesome 4.7 code point, disc colour); None draws an X of two strokes (no glyph in 4.7)
ICONS = {
    "facebook": ("\uf09a", "#1877f2"),
    "linkedin": ("\uf0e1", "#0a66c2"),
    "twitter": ("\uf099", "#1d9bf0"),
    "x": (None, "#000000"),
    "youtube": ("\uf16a", "#ff0000"),
    "instagram": ("\uf16d", "#c13584"),
    "github": ("\uf09b", "#24292f"),
    "vimeo": ("\uf27d", "#1ab7ea"),
    "medium": ("\uf23a", "#000000"),
    "soundcloud": ("\uf1be", "#ff5500"),
    "pinterest": ("\uf231", "#bd081c"),
    "web": ("\uf0ac", "#0e5e6f"),
}


def draw(glyph: str | None, colour: str) -> Image.Image:
    big = SIZE * SCALE
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.ellipse([0, 0, big - 1, big - 1], fill=colour)
    if glyph is None:
        m, w = big * 0.30, big * 0.075
        d.line([(m, m), (big - m, big - m)], fill="white", width=int(w))
        d.line([(big - m, m), (m, big - m)], fill="white", width=int(w))
    else:
        font = ImageFont.truetype(str(FONT), int(big * 0.52))
        left, top, right, bottom = d.textbbox((0, 0), glyph, font=font)
        x = (big - (right - left)) / 2 - left
        y = (big - (bottom - top)) / 2 - top
        d.text((x, y), glyph, font=font, fill="white")
    small = img.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    return small.quantize(32, method=Image.Quantize.FASTOCTREE)


def main() -> int:
    if not FONT.is_file():
        print(f"error: {FONT}: install Debian's fonts-font-awesome", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (glyph, colour) in ICONS.items():
        path = OUT / f"{name}.png"
        draw(glyph, colour).save(path, "PNG", optimize=True)
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
