"""Published files: the images and icons of messages as mailed, kept under the SHA-256 of their bytes.

A row is written once and never changed or deleted: a delivered message refers to it by its hash, so it shows
the same bytes for ever. Publishing the same file again (a second send, a test send, two workers at once) adds
nothing.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bulletin.store.models import PublishedFile


def put(session: Session, digest: str, media_type: str, data: bytes) -> None:
    """Store `data` under `digest` unless it is there already (the same hash is the same bytes)."""
    values = {"digest": digest, "media_type": media_type, "size": len(data), "data": data}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(postgresql.insert(PublishedFile).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite.insert(PublishedFile).values(values).on_conflict_do_nothing())
    elif session.get(PublishedFile, digest) is None:
        session.add(PublishedFile(**values))
        session.flush()


def get(session: Session, digest: str) -> PublishedFile | None:
    return session.get(PublishedFile, digest)


def digests(session: Session) -> set[str]:
    """Every published hash (tests and maintenance)."""
    return set(session.scalars(select(PublishedFile.digest)))
