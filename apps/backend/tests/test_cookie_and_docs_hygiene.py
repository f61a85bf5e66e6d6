"""Issue 20, item 8: the session cookie is __Host- prefixed whenever it is Secure, and the
dev Swagger page loads only version-pinned assets with Subresource Integrity."""

from __future__ import annotations

import re

from helpers import new_credentials
from todo_api.core.security import SECURE_SESSION_COOKIE, SESSION_COOKIE

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
ME = "/api/v1/auth/me"


def _login(client) -> str:
    creds = new_credentials()
    assert client.post(REGISTER, json=creds).status_code == 201
    response = client.post(LOGIN, json=creds)
    assert response.status_code == 200
    return response.headers["set-cookie"]


def test_secure_session_cookie_has_the_host_prefix(db, make_client):
    client = make_client(db.url, cookie_secure=True)
    cookie = _login(client)
    assert cookie.startswith(f"{SECURE_SESSION_COOKIE}=")
    attributes = [part.strip().lower() for part in cookie.split(";")]
    # What browsers demand of a __Host- cookie: Secure, Path=/ and no Domain.
    assert "secure" in attributes and "path=/" in attributes
    assert not any(part.startswith("domain=") for part in attributes)
    token = cookie.split(";", 1)[0].split("=", 1)[1]
    # Only the prefixed name is read back: a plain-named cookie (which a sibling subdomain
    # could plant) is no session.
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, token)
    assert client.get(ME).status_code == 401
    client.cookies.clear()
    client.cookies.set(SECURE_SESSION_COOKIE, token)
    assert client.get(ME).status_code == 200
    logout = client.post("/api/v1/auth/logout")
    assert logout.headers["set-cookie"].startswith(f"{SECURE_SESSION_COOKIE}=")


def test_plain_http_cookie_keeps_its_name(client):
    # A __Host- cookie without Secure would be dropped by the browser.
    cookie = _login(client)
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "secure" not in cookie.lower()


def test_docs_assets_are_version_pinned_with_subresource_integrity(db, make_client):
    page = make_client(db.url, api_docs_enabled=True).get("/api/docs").text
    tags = re.findall(r"<(?:script|link)\b[^>]*(?:src|href)=\"https?://[^>]*>", page)
    assert len(tags) == 2, tags  # the bundle and the stylesheet; no remote favicon
    for tag in tags:
        assert re.search(r"swagger-ui-dist@\d+\.\d+\.\d+/", tag), tag  # not a moving @5
        assert re.search(r'integrity="sha384-[A-Za-z0-9+/]{64}"', tag), tag
        assert 'crossorigin="anonymous"' in tag, tag
