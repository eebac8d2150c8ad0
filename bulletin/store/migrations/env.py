"""Alembic environment: runs migrations on the engine Bulletin hands it (no alembic.ini needed)."""

from alembic import context

from bulletin.store.models import Base

config = context.config
engine = config.attributes.get("engine")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
