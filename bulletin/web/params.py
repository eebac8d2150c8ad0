"""Path parameters the handlers share: an id is a positive integer that an id column can hold, or no record has
it (a 404, not a 500 from a database that cannot compare it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

#: The largest id the tables' Integer columns hold (PostgreSQL integer: 32 bits; SQLite holds more).
MAX_ID = 2**31 - 1

RecordId = Annotated[int, Path(ge=1, le=MAX_ID)]
