"""Configuration from the environment: Neon URLs work unchanged; a missing or malformed
variable stops start-up with one line naming it, no traceback, never the value."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from todo_api.core.config import DRIVER, DatabaseSettings, Settings
from todo_api.core.db import build_engine

from tools.backend_server import serve_argv, wait_until_serving
from tools.postgres import admin_connect, free_port

NEON_URL = (
    "postgresql://alex:{pw}@ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech/dbname"
    "?sslmode=require&channel_binding=require"
)


def _env(**values: str) -> dict[str, str]:
    names = {f.upper() for f in Settings.model_fields}
    base = {k: v for k, v in os.environ.items() if k.upper() not in names}
    return {**base, **values}


def _run(args, timeout=30, **values):
    return subprocess.run(
        [sys.executable, "-m", "todo_api.cli", *args],
        env=_env(**values),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_neon_url_is_normalised_to_psycopg_with_its_parameters():
    password = secrets.token_urlsafe(12)
    settings = DatabaseSettings(database_url=NEON_URL.format(pw=password))
    url = settings.sqlalchemy_url
    assert url.drivername == DRIVER == "postgresql+psycopg"
    assert url.host == "ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech"
    assert dict(url.query) == {"sslmode": "require", "channel_binding": "require"}
    assert url.password == password
    assert password not in repr(settings)
    for scheme in ("postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        other = DatabaseSettings(database_url=f"{scheme}://u:p@h/d").sqlalchemy_url
        assert other.drivername == DRIVER


def test_neon_style_url_with_channel_binding_connects_for_real(migrated_db):
    """sslmode=require&channel_binding=require, exactly as Neon writes it, against our
    local server (SSL on, SCRAM auth): the app's engine connects with it unchanged."""
    with admin_connect() as conn:
        if conn.execute("SHOW ssl").fetchone()[0] != "on":
            pytest.skip("the local PostgreSQL has SSL off; channel binding needs TLS")
    url = migrated_db.url.replace("sslmode=prefer", "sslmode=require&channel_binding=require")
    settings = Settings(database_url=url, auth_secret=secrets.token_urlsafe(32))
    engine = build_engine(settings)
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        ).scalar()
        assert conn.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()
    # And a server that cannot do it is refused, not silently downgraded.
    plain = migrated_db.url.replace("sslmode=prefer", "sslmode=disable&channel_binding=require")
    engine = create_engine(
        Settings(database_url=plain, auth_secret="x" * 32).sqlalchemy_url, poolclass=NullPool
    )
    with pytest.raises(Exception) as info:
        engine.connect().close()
    assert isinstance(info.value.orig, psycopg.OperationalError)
    engine.dispose()


@pytest.mark.parametrize("command", [["serve"], ["check-config"]])
def test_missing_variables_one_line_no_traceback(command):
    result = _run(command)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "todo-api: configuration error: DATABASE_URL is not set; AUTH_SECRET is not set"
    ]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ({"DATABASE_URL": "mysql://root:{secret}@db/app"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://u:{secret}@host:99999/db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "{secret}"}, "DATABASE_URL"),
        ({"AUTH_SECRET": "{secret}"}, "AUTH_SECRET"),  # too short
        ({"WEB_CONCURRENCY": "many-{secret}"}, "WEB_CONCURRENCY"),
        ({"DB_POOL_SIZE": "0"}, "DB_POOL_SIZE"),
        ({"ENVIRONMENT": "staging"}, "ENVIRONMENT"),
        ({"OPENAI_BASE_URL": "ftp://{secret}"}, "OPENAI_BASE_URL"),
        ({"COOKIE_SECURE": "perhaps"}, "COOKIE_SECURE"),
    ],
)
def test_malformed_variable_is_named_without_its_value(values, name):
    secret = secrets.token_hex(3)
    env = {
        "DATABASE_URL": "postgresql://u:p@localhost/db",
        "AUTH_SECRET": secrets.token_urlsafe(32),
    }
    env.update({k: v.format(secret=secret) for k, v in values.items()})
    result = _run(["check-config"], **env)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("todo-api: configuration error: " + name), lines
    assert secret not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_valid_configuration_passes_check():
    env = {"DATABASE_URL": NEON_URL.format(pw="pw"), "AUTH_SECRET": secrets.token_urlsafe(32)}
    result = _run(["check-config"], **env, OPENAI_API_KEY="")
    assert result.returncode == 0, result.stderr
    assert "assistant disabled" in result.stdout


def test_production_command_serves_with_workers(migrated_db):
    """`todo-api serve` as the image runs it: uvicorn, WEB_CONCURRENCY workers, JSON logs."""
    port = free_port()
    env = _env(
        DATABASE_URL=migrated_db.url,
        AUTH_SECRET=secrets.token_urlsafe(32),
        WEB_CONCURRENCY="2",
        DB_CONNECT_TIMEOUT_SECONDS="2",
    )
    proc = subprocess.Popen(
        serve_argv(port),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_serving(proc, f"http://127.0.0.1:{port}")
        assert (
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health/ready", timeout=5).status_code == 200
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines and all(line.startswith("{") for line in lines), output[:2000]
    assert output.count('"todo-api started"') == 2  # one per worker
    assert env["AUTH_SECRET"] not in output and migrated_db.password not in output
