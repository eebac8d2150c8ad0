"""Per-recipient placeholders: rendered once per edition, filled per recipient by joining pre-split parts.

Jinja, MJML, premailer and the text conversion run once per edition and leave markers such as
`%%unsubscribe_url%%` in the HTML and the text. Delivery fills them for each recipient with a single join over
the parts split here, so a message costs microseconds, not a re-render.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

#: The values a recipient's copy may differ in. `name` and `email` are text; the others are URLs.
PLACEHOLDERS = ("unsubscribe_url", "name", "email", "archive_url")
_MARKER = re.compile(r"%%(" + "|".join(PLACEHOLDERS) + r")%%")


@dataclass(frozen=True)
class PersonalTemplate:
    """A string split at its markers: `parts[0] + v(keys[0]) + parts[1] + ...`."""

    parts: tuple[str, ...]
    keys: tuple[str, ...]
    html: bool

    @classmethod
    def compile(cls, source: str, *, is_html: bool) -> PersonalTemplate:
        pieces = _MARKER.split(source)
        return cls(parts=tuple(pieces[0::2]), keys=tuple(pieces[1::2]), html=is_html)

    def fill(self, values: dict[str, str]) -> str:
        """The recipient's copy. Values are escaped for HTML here; a missing value is an empty string."""
        if self.html:
            values = {k: html.escape(v, quote=True) for k, v in values.items()}
        out = [self.parts[0]]
        for key, part in zip(self.keys, self.parts[1:]):
            out.append(values.get(key, ""))
            out.append(part)
        return "".join(out)
