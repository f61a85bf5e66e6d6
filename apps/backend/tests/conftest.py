"""Shared fixtures: one migrated database for the session (real PostgreSQL), emptied after
every test that used it, and an app factory that builds the real application on it.

Nothing here is a double except the OpenAI server (fake_openai.py), used by the tests whose
names end in _fake_openai.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest
from fake_openai import FakeOpenAI
from fastapi.testclient import TestClient
from helpers import sign_up
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from todo_api.core.config import DatabaseSettings, Settings, normalise_database_url
from todo_api.main import create_app
from todo_api.migrate import run as run_migrations

from tools.postgres import Database, create_database, drop_database

TABLES = "conversation_messages, conversations, tasks, users"


@pytest.fixture(scope="session")
def migrated_db() -> Iterator[Database]:
    db = create_database(prefix="todo_test")
    try:
        run_migrations(DatabaseSettings(database_url=db.url), wait_seconds=10)
        yield db
    finally:
        drop_database(db)


@pytest.fixture
def db(migrated_db: Database) -> Iterator[Database]:
    """The migrated database, emptied after the test (each test starts from no rows)."""
    yield migrated_db
    engine = create_engine(normalise_database_url(migrated_db.url), poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def make_settings() -> Callable[..., Settings]:
    auth_secret = secrets.token_urlsafe(32)

    def make(database_url: str, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "database_url": database_url,
            "auth_secret": auth_secret,
            "environment": "test",
            "db_connect_timeout_seconds": 2,
            "openai_api_key": "",
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """Builds the real app (lifespan included) for a database URL and settings overrides."""
    clients: list[TestClient] = []

    def make(database_url: str, **overrides: object) -> TestClient:
        app = create_app(make_settings(database_url, **overrides), configure_logs=False)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(db: Database, make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(db.url)


@pytest.fixture
def user(client: TestClient) -> dict[str, str]:
    return sign_up(client)[1]


@pytest.fixture
def other_user(client: TestClient) -> dict[str, str]:
    return sign_up(client)[1]


# ---------------------------------------------------------------- the OpenAI wire fake
# For the tests whose names end in _fake_openai only.


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=secrets.token_urlsafe(16)) as server:
        yield server


@pytest.fixture
def assistant_settings(fake: FakeOpenAI) -> dict[str, object]:
    """Settings overrides that point the app's assistant at the fake."""
    return {
        "openai_api_key": fake.api_key,
        "openai_base_url": fake.base_url,
        "openai_model": "gpt-test-mini",
        "openai_timeout_seconds": 2,
    }
