"""Refusals of what a person typed, said in the reader's language: the workspace shows `message` next to the
form field named by `field`, the command line prints it as `error: WHERE: WHAT`."""

from __future__ import annotations

from bulletin import i18n
from bulletin.errors import BulletinError


class InputRefused(BulletinError, ValueError):
    """A use case refuses its input; nothing was changed."""

    def __init__(self, message: i18n.Message, *, field: str = "", where: str | None = None):
        self.message = message
        self.field = field
        super().__init__(str(message), where=where or field or None)
