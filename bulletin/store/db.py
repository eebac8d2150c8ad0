"""Engines and session scopes; the schema is brought up to date by Alembic on first use."""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bulletin.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def create(url: str) -> Engine:
    """A new engine for `url`: SQLite with WAL and foreign keys, PostgreSQL through psycopg 3."""
    try:
        u = make_url(url)
    except ArgumentError:
        raise ConfigError(f"[database].url is not a database URL: {url!r}")
    if u.drivername == "postgresql" or u.drivername == "postgres":
        u = u.set(drivername="postgresql+psycopg")
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            try:
                Path(u.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:  # a file where a folder should be (the configuration checks this first)
                raise ConfigError(f"cannot create the folder of {u.database}: {e.strerror}", where="[database].url")
        engine = create_engine(u, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return create_engine(u, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as e:
        raise ConfigError(f"[database].url names a database Bulletin cannot use ({u.drivername}): {e}")


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()  # type: ignore[arg-type]


def _current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


#: pg_advisory_lock key held while migrating ("bulletin" in ASCII), so that workers starting together on a
#: fresh database migrate it once instead of racing to create the same tables.
_MIGRATION_LOCK = 0x62756C6C6574696E


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
                conn.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrating", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def upgrade(engine: Engine) -> None:
    """Apply the migrations that the database lacks (nothing when it is at head), one process at a time."""
    head = head_revision()
    if _current_revision(engine) == head:
        return
    with _migration_lock(engine):
        if _current_revision(engine) != head:  # another process may have migrated while we waited
            command.upgrade(alembic_config(engine), "head")


def engine_for(url: str) -> Engine:
    """The process-wide engine for `url`, migrated to the latest schema on first use."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = create(url)
            try:
                upgrade(engine)
            except OperationalError as e:
                engine.dispose()
                raise ConfigError(f"cannot open the database: {e.orig}", where="[database].url")
            _engines[url] = engine
        return engine


def ping(engine: Engine) -> bool:
    """Whether the database answers a trivial query."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


def dispose_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    session = sessionmaker(engine, expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
