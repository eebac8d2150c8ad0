"""Alembic environment: runs migrations on the engine Bulletin hands it (no alembic.ini needed).

On SQLite, altering a table means rebuilding it (batch mode): the old table is dropped, and with foreign keys
on, dropping `subscribers` would cascade-delete every subscription and event. Foreign keys are off while
migrating and checked when done, as SQLite's documentation prescribes for schema changes.
"""

from alembic import context

from bulletin.store.models import Base

config = context.config
engine = config.attributes.get("engine")

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left rows pointing at nothing: {broken[:5]}")
    connection.commit()
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
