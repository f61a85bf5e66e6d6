"""Alembic, driven from code (no alembic.ini needed in the image): `todo-api migrate`.

Runs under a transaction-scoped PostgreSQL advisory lock (migrations/env.py) so two
migrators (say, two hook Jobs racing) apply each revision once. Waits a while for the
database to answer first, for a Neon compute that is still waking up. Only this command
runs DDL; the API processes never do.
"""

from __future__ import annotations

import logging
from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy.pool import NullPool

from .app_role import ensure_app_role
from .core.config import DatabaseSettings, normalise_database_url
from .core.db import build_engine, describe_db_error, wait_for_database

log = logging.getLogger("todo_api.migrate")

# Any constant bigint ("todo" in ASCII): concurrent migrators queue on it (migrations/env.py).
ADVISORY_LOCK_KEY = 0x746F646F


class MigrationError(Exception):
    pass


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("todo_api") / "migrations"))
    return config


def run(
    settings: DatabaseSettings,
    *,
    action: str = "upgrade",
    revision: str = "head",
    wait_seconds: float = 60,
) -> None:
    engine = build_engine(settings, poolclass=NullPool)
    try:
        if not wait_for_database(engine, wait_seconds):
            raise MigrationError("database not reachable (see the log lines above for the reason)")
        config = alembic_config()
        try:
            with engine.connect() as connection:
                config.attributes["connection"] = connection
                log.info("migrating", extra={"action": action, "revision": revision})
                if action == "upgrade":
                    command.upgrade(config, revision)
                else:
                    command.downgrade(config, revision)
            if action == "upgrade" and settings.app_database_url is not None:
                with engine.begin() as connection:
                    ensure_app_role(
                        connection,
                        normalise_database_url(settings.app_database_url.get_secret_value()),
                    )
        except MigrationError:
            raise
        except Exception as exc:
            log.exception("migration failed", extra={"reason": describe_db_error(exc)})
            raise MigrationError(f"{type(exc).__name__} (details in the log)") from None
        log.info("migrations done", extra={"action": action, "revision": revision})
    finally:
        engine.dispose()


def current_revision(settings: DatabaseSettings) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = build_engine(settings, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
