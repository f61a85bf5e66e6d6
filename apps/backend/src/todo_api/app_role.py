"""The API's own database role, for a database the deployment owns (the chart's embedded
PostgreSQL): `todo-api migrate`, connected as the owner, makes sure the role named in
APP_DATABASE_URL exists with that URL's password and may read and write rows and nothing
else (no DDL, no TRUNCATE, no owning anything, no writing the migration bookkeeping).

Run after every migration, so the tables a migration adds are granted in the same release.
With a managed database (Neon) APP_DATABASE_URL is not set and nothing here runs.
"""

from __future__ import annotations

import logging

from psycopg import sql
from sqlalchemy import Connection
from sqlalchemy.engine import URL

log = logging.getLogger("todo_api.migrate")

ROW_PRIVILEGES = sql.SQL("SELECT, INSERT, UPDATE, DELETE")


class AppRoleError(Exception):
    pass


def ensure_app_role(connection: Connection, app_url: URL) -> None:
    """Creates or updates the role (the caller commits). Statements are composed with
    psycopg's sql module: role names and passwords are quoted, never formatted in."""
    role, password = app_url.username, app_url.password
    if not role or password is None:
        raise AppRoleError("APP_DATABASE_URL needs a user name and a password")
    owner = connection.exec_driver_sql("SELECT current_user").scalar()
    if role == owner:
        raise AppRoleError("APP_DATABASE_URL must name another role than the migrator's")
    name = sql.Identifier(role)
    database = sql.Identifier(connection.exec_driver_sql("SELECT current_database()").scalar())
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(
        "SELECT rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls"
        " FROM pg_roles WHERE rolname = %s",
        (role,),
    )
    found = cursor.fetchone()
    if found is None:
        cursor.execute(
            sql.SQL(
                "CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE"
                " NOREPLICATION NOBYPASSRLS"
            ).format(name, sql.Literal(password))
        )
    elif found[0]:
        raise AppRoleError(f"role {role} has more than row access (superuser, createdb, ...)")
    else:
        cursor.execute(
            sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(name, sql.Literal(password))
        )
    for statement in (
        "GRANT CONNECT ON DATABASE {database} TO {role}",
        "GRANT USAGE ON SCHEMA public TO {role}",
        "GRANT {rows} ON ALL TABLES IN SCHEMA public TO {role}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        # The schema's version is the migrator's to write.
        "REVOKE INSERT, UPDATE, DELETE ON TABLE alembic_version FROM {role}",
    ):
        cursor.execute(
            sql.SQL(statement).format(
                database=database,
                role=name,
                rows=ROW_PRIVILEGES,
            )
        )
    log.info("app role granted row access", extra={"role": role})
