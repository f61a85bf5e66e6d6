"""Alembic on a real, empty database: upgrade to head, models match, downgrade to base."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool
from todo_api.core.config import DatabaseSettings, normalise_database_url
from todo_api.migrate import ADVISORY_LOCK_KEY, alembic_config, current_revision, run
from todo_api.models import Base

from tools.postgres import create_database, drop_database, free_port

APP_TABLES = {"users", "user_sessions", "tasks", "conversations", "conversation_messages"}


@pytest.fixture
def empty_db():
    db = create_database(prefix="todo_migr")
    yield db
    drop_database(db)


def _tables(url: str) -> set[str]:
    engine = create_engine(normalise_database_url(url), poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_to_head_then_downgrade_to_base(empty_db):
    settings = DatabaseSettings(database_url=empty_db.url)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert _tables(empty_db.url) == set()

    run(settings, action="upgrade", revision="head", wait_seconds=5)
    assert _tables(empty_db.url) >= APP_TABLES
    assert current_revision(settings) == head

    # The models and the migrated schema agree (no forgotten migration).
    engine = create_engine(normalise_database_url(empty_db.url), poolclass=NullPool)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []

    run(settings, action="upgrade", revision="head", wait_seconds=5)  # a second run is a no-op
    assert current_revision(settings) == head

    run(settings, action="downgrade", revision="base", wait_seconds=5)
    assert _tables(empty_db.url) & APP_TABLES == set()
    assert current_revision(settings) is None

    run(settings, action="upgrade", revision="head", wait_seconds=5)  # and back up again
    assert _tables(empty_db.url) >= APP_TABLES


def _cli(args, **env):
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AUTH_SECRET")}
    return subprocess.run(
        [sys.executable, "-m", "todo_api.cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_migrate_and_downgrade(empty_db):
    # migrate needs only DATABASE_URL (the hook Job may get the whole Secret, but not must).
    result = _cli(["migrate"], DATABASE_URL=empty_db.url)
    assert result.returncode == 0, result.stderr
    assert _tables(empty_db.url) >= APP_TABLES
    assert empty_db.password not in result.stdout + result.stderr
    result = _cli(["downgrade", "base"], DATABASE_URL=empty_db.url)
    assert result.returncode == 0, result.stderr
    assert _tables(empty_db.url) & APP_TABLES == set()


def test_cli_migrate_gives_up_cleanly_when_database_unreachable(empty_db):
    url = empty_db.url.replace(f":{empty_db.port}/", f":{free_port()}/")
    result = _cli(["migrate", "--wait", "1"], DATABASE_URL=url)
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        "todo-api: migration failed: database not reachable (see the log lines above for the reason)"
    ]
    assert "Traceback" not in result.stdout + result.stderr
    assert empty_db.password not in result.stdout + result.stderr


def test_concurrent_migrators_take_turns(empty_db):
    """Hook Jobs racing: each migrator queues on the advisory lock, one does the work, the
    others then find nothing to do. The test holds the lock first so all of them really race."""
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AUTH_SECRET")}
    env = {**clean, "DATABASE_URL": empty_db.url}
    holder = psycopg.connect(empty_db.url)  # a transaction holding the migrators' lock
    holder.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "todo_api.cli", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        waiting = 0
        deadline = time.monotonic() + 60
        while waiting < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
            waiting = holder.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()[0]
        assert waiting == 3, "the migrators did not queue on the advisory lock"
        assert _tables(empty_db.url) == set()
    finally:
        holder.rollback()  # releases the lock: now they race
        holder.close()
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], outputs
    assert sum("Running upgrade  -> 0001" in out for out in outputs) == 1, outputs
    assert _tables(empty_db.url) >= APP_TABLES


def test_unique_message_positions_migration_renumbers_existing_collisions(empty_db):
    """Rows written by turns that raced before 0003 share positions: the upgrade keeps their
    order (position, then id) and renumbers them, then the constraint holds."""
    settings = DatabaseSettings(database_url=empty_db.url)
    run(settings, action="upgrade", revision="0002", wait_seconds=5)
    with psycopg.connect(empty_db.url) as conn:
        user_id = conn.execute(
            "INSERT INTO users (email, password_hash) VALUES ('m@example.com', 'x') RETURNING id"
        ).fetchone()[0]
        conversation = conn.execute(
            "INSERT INTO conversations (id, user_id) VALUES (gen_random_uuid(), %s) RETURNING id",
            (user_id,),
        ).fetchone()[0]
        for position, content in [(0, "a"), (1, "b"), (1, "c"), (2, "d"), (2, "e")]:
            conn.execute(
                "INSERT INTO conversation_messages (conversation_id, position, role, payload)"
                " VALUES (%s, %s, 'user', jsonb_build_object('content', %s::text))",
                (conversation, position, content),
            )
    run(settings, action="upgrade", revision="head", wait_seconds=5)
    with psycopg.connect(empty_db.url) as conn:
        rows = conn.execute(
            "SELECT position, payload->>'content' FROM conversation_messages ORDER BY position"
        ).fetchall()
        assert rows == [(0, "a"), (1, "b"), (2, "c"), (3, "d"), (4, "e")]
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "INSERT INTO conversation_messages (conversation_id, position, role, payload)"
                " VALUES (%s, 4, 'user', '{}')",
                (conversation,),
            )
    run(settings, action="downgrade", revision="0001", wait_seconds=5)  # and back
    assert "user_sessions" not in _tables(empty_db.url)
