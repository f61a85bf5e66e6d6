"""Issue 20, item 7: with a database the deployment owns, migrations run as the owner and the
API as a role that can read and write rows and nothing else. `todo-api migrate` with
APP_DATABASE_URL creates (or updates) that role; against the real PostgreSQL here."""

from __future__ import annotations

import secrets
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from todo_api.core.config import DatabaseSettings
from todo_api.migrate import MigrationError
from todo_api.migrate import run as run_migrations

from tools.postgres import admin_connect, create_database, drop_database


@pytest.fixture
def owned_db():
    """A database whose owner may create roles, as the embedded PostgreSQL's owner can."""
    db = create_database(prefix="todo_role")
    app_role = f"{db.role}_app"
    with admin_connect() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} CREATEROLE").format(sql.Identifier(db.role)))
    yield db, app_role
    with admin_connect() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db.name))
        )
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(app_role)))
    drop_database(db)


def _url(db, role: str, password: str) -> str:
    return f"postgresql://{role}:{quote(password, safe='')}@{db.host}:{db.port}/{db.name}"


def _refused(conn: psycopg.Connection, statement: str) -> bool:
    try:
        with conn.transaction():
            conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def test_the_app_role_reads_and_writes_rows_and_nothing_else(owned_db):
    db, app_role = owned_db
    password = secrets.token_urlsafe(18)
    settings = DatabaseSettings(database_url=db.url, app_database_url=_url(db, app_role, password))
    run_migrations(settings, wait_seconds=10)

    with psycopg.connect(_url(db, app_role, password), autocommit=True) as app:
        user_id = app.execute(
            "INSERT INTO users (email, password_hash) VALUES ('a@example.com', 'x') RETURNING id"
        ).fetchone()[0]
        app.execute("INSERT INTO tasks (user_id, title) VALUES (%s, 'row')", (user_id,))
        app.execute("UPDATE tasks SET completed = true WHERE user_id = %s", (user_id,))
        assert app.execute("SELECT count(*) FROM tasks").fetchone()[0] == 1
        app.execute("DELETE FROM tasks WHERE user_id = %s", (user_id,))
        for statement in (
            "CREATE TABLE mine (id int)",
            "DROP TABLE tasks",
            "ALTER TABLE tasks ADD COLUMN x int",
            "TRUNCATE tasks",
            "CREATE INDEX ix_mine ON tasks (title)",
            "UPDATE alembic_version SET version_num = '0000'",
            "CREATE ROLE sneaky",
        ):
            assert _refused(app, statement), statement
        flags = app.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert flags == (False, False, False)


def test_a_rerun_updates_the_password_and_grants_new_tables(owned_db):
    db, app_role = owned_db
    first, second = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    run_migrations(
        DatabaseSettings(database_url=db.url, app_database_url=_url(db, app_role, first)),
        wait_seconds=10,
    )
    with psycopg.connect(db.url) as owner:  # a table a later migration might add
        owner.execute("CREATE TABLE later (id int)")
    run_migrations(
        DatabaseSettings(database_url=db.url, app_database_url=_url(db, app_role, second)),
        wait_seconds=10,
    )
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(_url(db, app_role, first)).close()
    with psycopg.connect(_url(db, app_role, second), autocommit=True) as app:
        app.execute("INSERT INTO later VALUES (1)")


def test_the_app_url_must_name_another_role(owned_db):
    db, _ = owned_db
    settings = DatabaseSettings(database_url=db.url, app_database_url=db.url)
    with pytest.raises(MigrationError, match="AppRoleError"):
        run_migrations(settings, wait_seconds=10)
