"""Small helpers the API tests share."""

from __future__ import annotations

import secrets

from fastapi.testclient import TestClient


def new_credentials() -> dict[str, str]:
    return {
        "email": f"user-{secrets.token_hex(4)}@example.com",
        "password": secrets.token_urlsafe(12),
    }


def sign_up(client: TestClient, **extra: str) -> tuple[dict[str, str], dict[str, str]]:
    """Registers a fresh user; returns (credentials, Bearer headers). The client's cookie
    jar is left empty so requests authenticate only with what the test passes."""
    creds = new_credentials()
    creds.update(extra)
    assert client.post("/api/v1/auth/register", json=creds).status_code == 201
    response = client.post(
        "/api/v1/auth/login",
        json={"email": creds["email"], "password": creds["password"], "session": "bearer"},
    )
    assert response.status_code == 200, response.text
    client.cookies.clear()
    return creds, {"Authorization": f"Bearer {response.json()['access_token']}"}
