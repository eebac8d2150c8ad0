"""The one root of Bulletin's own errors; the CLI and web map them to messages and status codes."""

from __future__ import annotations

from pathlib import Path


class BulletinError(Exception):
    """Something a user can get wrong: says where and what, and is printed as `error: WHERE: WHAT`.

    `where` is a file (with a line where there is one), a command argument or a setting name. `what` is text,
    or an `i18n.Message` that is printed in the reader's language.
    """

    def __init__(self, what: object, where: str | Path | None = None, line: int | None = None):
        self.what = what
        self.where = str(where) if where is not None else None
        self.line = line
        super().__init__(str(self))

    @property
    def location(self) -> str | None:
        if self.where is None:
            return None
        return f"{self.where}:{self.line}" if self.line is not None else self.where

    def __str__(self) -> str:
        loc = self.location
        return f"{loc}: {self.what}" if loc else str(self.what)


class ConfigError(BulletinError, ValueError):
    """The configuration file is missing a value, has a wrong one, or names a missing secret."""


class ContentError(BulletinError, ValueError):
    """An issue folder is incomplete or malformed (issue.toml, front matter, Markdown, images)."""


class RenderError(BulletinError):
    """A template failed to render or the MJML did not compile."""


class ImportFileError(BulletinError, ValueError):
    """A subscriber file cannot be read at all (not CSV, empty, no email column)."""


class InvalidAddress(BulletinError, ValueError):
    """An email address that is not one (syntax only: no DNS lookups, imports must work offline)."""


class NotFoundError(BulletinError, LookupError):
    """A list, subscriber or send named by the user does not exist."""


class DeliveryError(BulletinError):
    """A transport could not be set up or a send cannot start."""


class TokenError(BulletinError, ValueError):
    """A signed token is forged, altered, truncated or for another purpose."""


class DatabaseUnavailable(BulletinError):
    """The database cannot take a transaction now: locked by another process, read-only, or gone. The
    transaction changed nothing; trying again later may work."""

    def __init__(self, what: str, kind: str):
        self.kind = kind  # "locked" | "read-only" | "unavailable"
        super().__init__(what, where="[database].url")
