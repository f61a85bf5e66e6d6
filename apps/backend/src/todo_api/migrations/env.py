"""Alembic environment: online migrations on the connection handed over by todo_api.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from todo_api.migrate import ADVISORY_LOCK_KEY
from todo_api.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        # Plain `alembic` CLI use: build the engine from the same settings the app uses.
        from sqlalchemy.pool import NullPool

        from todo_api.core.config import DatabaseSettings, load
        from todo_api.core.db import build_engine

        engine = build_engine(load(DatabaseSettings), poolclass=NullPool)
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
        return
    _run(connection)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        # Transaction-scoped, so it also holds through a transaction-mode pooler (Neon's
        # -pooler endpoint, PgBouncer) and can never outlive the migration.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `todo-api migrate`")
run_migrations_online()
