"""A rendered edition: one language of one issue, with per-recipient placeholders left in."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from bulletin.render.personal import PersonalTemplate


@dataclass(frozen=True)
class RenderedEdition:
    """What delivery needs of an issue in one language. `html` and `text` hold `%%key%%` markers
    (see `bulletin.render.personal.PLACEHOLDERS`) that `personalise` fills per recipient."""

    slug: str
    language: str
    subject: str
    preheader: str
    html: str
    text: str
    #: what `bulletin check` reports about this edition's HTML (Gmail's limits): `content.Problem`s
    warnings: tuple = field(default=())

    @cached_property
    def _html_template(self) -> PersonalTemplate:
        return PersonalTemplate.compile(self.html, is_html=True)

    @cached_property
    def _text_template(self) -> PersonalTemplate:
        return PersonalTemplate.compile(self.text, is_html=False)

    def personalise(self, values: dict[str, str]) -> tuple[str, str]:
        """(html, text) for one recipient."""
        return self._html_template.fill(values), self._text_template.fill(values)
