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
from sqlalchemy.exc import ArgumentError, DBAPIError, InternalError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bulletin.errors import ConfigError, DatabaseUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


#: Seconds a SQLite writer waits for another's lock before giving up; `?timeout=SECONDS` in the URL changes it.
SQLITE_TIMEOUT = 30.0


def _sqlite_pragmas(busy_ms: int):
    def on_connect(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return on_connect


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
        try:
            timeout = float(u.query.get("timeout", SQLITE_TIMEOUT))
        except ValueError:
            raise ConfigError(f"timeout must be a number of seconds, not {u.query['timeout']!r}", where="[database].url")
        engine = create_engine(u, connect_args={"timeout": timeout})
        event.listen(engine, "connect", _sqlite_pragmas(int(timeout * 1000)))
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
def lock_wait(session: Session, seconds: float) -> Iterator[None]:
    """Within the block, this transaction waits at most `seconds` for another writer's lock, then gives up
    (DatabaseUnavailable): for a request that must answer quickly and can leave its work for later."""
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA busy_timeout={int(seconds * 1000)}")
        try:
            yield
        finally:
            timeout = float(conn.engine.url.query.get("timeout", SQLITE_TIMEOUT))
            conn.exec_driver_sql(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    else:
        previous = conn.exec_driver_sql("SHOW lock_timeout").scalar()
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(seconds * 1000)}ms'")
        yield  # after a failure the transaction (or its savepoint) is rolled back, and the setting with it
        conn.exec_driver_sql("SELECT set_config('lock_timeout', %(v)s, true)", {"v": previous})


#: SQLSTATEs of PostgreSQL that mean "not now" rather than a bug: lock and statement timeouts, a read-only
#: (standby) server, a server shutting down or out of space.
_PG_LOCKED = {"55P03", "57014", "40P01"}
_PG_READ_ONLY = {"25006"}


def unavailable(e: DBAPIError) -> DatabaseUnavailable | None:
    """The one-line error for a database that cannot take a transaction now; None for errors that are bugs
    (a constraint, a syntax error), which keep their traceback."""
    detail = " ".join(str(e.orig).split()) if e.orig is not None else type(e).__name__
    sqlstate = getattr(e.orig, "sqlstate", None)
    low = detail.lower()
    if sqlstate in _PG_READ_ONLY or "readonly database" in low or "read-only" in low:
        return DatabaseUnavailable(f"the database is read-only ({detail})", "read-only")
    if sqlstate in _PG_LOCKED or "database is locked" in low or "database table is locked" in low:
        return DatabaseUnavailable(f"the database is locked by another process ({detail})", "locked")
    if isinstance(e, OperationalError):
        return DatabaseUnavailable(f"the database is unavailable ({detail})", "unavailable")
    if isinstance(e, InternalError) and sqlstate and sqlstate.startswith(("25", "57", "08")):
        return DatabaseUnavailable(f"the database is unavailable ({detail})", "unavailable")
    return None


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises. A database that cannot take it
    now (locked, read-only, gone) raises DatabaseUnavailable, a one-line error; nothing was changed."""
    session = sessionmaker(engine, expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except DBAPIError as e:
        try:
            session.rollback()
        except DBAPIError:
            pass  # the connection may be gone with the server: the transaction died with it
        problem = unavailable(e)
        if problem is None:
            raise
        raise problem from e
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
