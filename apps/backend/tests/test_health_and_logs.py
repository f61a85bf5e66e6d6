"""Health endpoints, the OpenAPI document, request ids, and JSON logs without secrets."""

from __future__ import annotations

import io
import json
import logging

import pytest
from helpers import sign_up
from todo_api.core.logging_setup import REDACTED, configure_logging


def test_liveness(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readiness(client):
    response = client.get("/api/v1/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_openapi_and_docs_are_under_api(db, make_client):
    client = make_client(db.url, api_docs_enabled=True)
    spec = client.get("/api/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in (
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/auth/me",
        "/api/v1/tasks",
        "/api/v1/tasks/{task_id}",
        "/api/v1/assistant/chat",
        "/api/v1/health",
        "/api/v1/health/ready",
    ):
        assert path in paths, path
    assert all(path.startswith("/api/") for path in paths)
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "/api/openapi.json" in docs.text
    assert client.get("/docs").status_code == 404


def test_request_id_is_echoed_or_generated(client):
    given = client.get("/api/v1/health", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = client.get("/api/v1/health", headers={"X-Request-ID": "bad id\nwith newline"})
    assert made.headers["x-request-id"] != "bad id\nwith newline"
    assert len(made.headers["x-request-id"]) == 32
    assert client.get("/api/v1/health").headers["x-request-id"] != made.headers["x-request-id"]


def test_unknown_route_is_json_404(client):
    response = client.get("/api/v1/nope")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


@pytest.fixture
def json_logs(db, make_client):
    """An app that logs like production (JSON lines), and a reader for its lines."""
    client = make_client(db.url, openai_api_key="sk-" + "q" * 30)
    stream = io.StringIO()
    configure_logging("debug", client.app.state.settings.secret_values(), stream=stream)

    def lines():
        out = stream.getvalue()
        return [json.loads(line) for line in out.splitlines()], out

    yield client, lines
    logging.getLogger().handlers.clear()


def test_logs_are_json_with_request_id(json_logs):
    client, lines = json_logs
    client.get("/api/v1/health", headers={"X-Request-ID": "req-42"})
    records, _ = lines()
    access = [
        r for r in records if r["logger"] == "todo_api.access" and r.get("request_id") == "req-42"
    ]
    assert access, records
    assert access[0]["path"] == "/api/v1/health" and access[0]["status"] == 200
    assert {"ts", "level", "msg"} <= set(access[0])


def test_secrets_never_reach_the_logs(json_logs):
    client, lines = json_logs
    settings = client.app.state.settings
    password = settings.sqlalchemy_url.password
    secrets_ = [
        settings.auth_secret.get_secret_value(),
        settings.openai_api_key.get_secret_value(),
        password,
    ]

    creds, headers = sign_up(client)
    client.get("/api/v1/tasks?q=hello", headers=headers)
    client.post(
        "/api/v1/auth/login", json={"email": creds["email"], "password": "wrong-" + password}
    )
    # Even if some code did log them, the filter redacts them.
    log = logging.getLogger("todo_api.test")
    log.warning("connecting to %s", settings.database_url.get_secret_value())
    try:
        raise RuntimeError(f"boom {settings.auth_secret.get_secret_value()}")
    except RuntimeError:
        log.exception("failed")

    records, raw = lines()
    assert records
    for value in [*secrets_, creds["password"], headers["Authorization"].split()[1]]:
        assert value not in raw
    assert any(REDACTED in r["msg"] for r in records)
