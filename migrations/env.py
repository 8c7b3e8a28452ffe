"""Alembic environment of OneMap's record (issue 20): one schema history for the whole product.

Run through ``onemap db upgrade`` (``app.pg.migrate``), which hands a SQLAlchemy connection in
``config.attributes["connection"]``; a bare ``sqlalchemy.url`` works too. No ORM models: the
revisions are explicit DDL (``op.create_table``), so the history is the schema.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

config = context.config


def run() -> None:
    conn = config.attributes.get("connection")
    if conn is not None:
        context.configure(connection=conn, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as c:
        context.configure(connection=c, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run()
