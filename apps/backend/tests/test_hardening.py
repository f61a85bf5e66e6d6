"""Issue 14: throttling and hashing isolation, revocable sessions, security headers, CSRF
stance, docs switch and small holes. All against the real app and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import re
import threading

import pytest
from fastapi.testclient import TestClient
from helpers import new_credentials, sign_up
from starlette.requests import Request
from todo_api.api.throttle import client_address
from todo_api.core.config import parse_networks
from todo_api.core.security import SESSION_COOKIE

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
TASKS = "/api/v1/tasks"


def _count_calls(monkeypatch, name: str) -> list[int]:
    """Counts calls of the real password function `name` as the auth routes use it."""
    from todo_api.api.routes import auth

    real = getattr(auth, name)
    calls: list[int] = []

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(auth, name, counted)
    return calls


# ---------------------------------------------------------------- 2. throttling, hashing


def test_login_is_throttled_per_client_address(db, make_client, monkeypatch):
    client = make_client(db.url, auth_rate_per_address=3, auth_rate_per_account=100)
    verifications = _count_calls(monkeypatch, "verify_password")
    for _ in range(3):
        assert client.post(LOGIN, json=new_credentials()).status_code == 401  # no such account
    refused = client.post(LOGIN, json=new_credentials())
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "Try again" in refused.json()["detail"]
    assert len(verifications) == 3  # the refused attempt cost no argon2 run
    # Registering counts against the same address budget.
    assert client.post(REGISTER, json=new_credentials()).status_code == 429
    # The client cannot escape by claiming another address: its peer is no trusted proxy.
    spoofed = client.post(
        LOGIN,
        json=new_credentials(),
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert spoofed.status_code == 429


def test_login_is_throttled_per_account_and_success_does_not_count(db, make_client):
    client = make_client(db.url, auth_rate_per_address=1000, auth_rate_per_account=2)
    creds = new_credentials()
    assert client.post(REGISTER, json=creds).status_code == 201
    for _ in range(4):  # successful logins are free
        assert client.post(LOGIN, json=creds).status_code == 200
    wrong = {**creds, "password": creds["password"] + "x"}
    assert client.post(LOGIN, json=wrong).status_code == 401
    assert client.post(LOGIN, json=wrong).status_code == 401
    locked = client.post(LOGIN, json=creds)  # even the right password waits now
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    # Other accounts are not affected.
    other = new_credentials()
    assert client.post(REGISTER, json=other).status_code == 201
    assert client.post(LOGIN, json=other).status_code == 200


def test_client_address_honours_forwarded_for_only_from_trusted_proxies():
    trusted = parse_networks("127.0.0.0/8,10.0.0.0/8")

    def request(peer: str, forwarded: list[str]) -> Request:
        headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
        return Request({"type": "http", "client": (peer, 4000), "headers": headers})

    # The Ingress (a trusted pod address) appended the client's address: take that.
    assert client_address(request("10.1.2.3", ["198.51.100.7"]), trusted) == "198.51.100.7"
    # A client-supplied entry left of the real one is ignored (read right to left).
    assert client_address(request("10.1.2.3", ["6.6.6.6, 198.51.100.7"]), trusted) == (
        "198.51.100.7"
    )
    # Two trusted hops (e.g. a node proxy, then the Ingress) are skipped.
    assert client_address(request("10.1.2.3", ["198.51.100.7, 10.0.0.5"]), trusted) == (
        "198.51.100.7"
    )
    # An untrusted peer's header means nothing.
    assert client_address(request("203.0.113.1", ["198.51.100.7"]), trusted) == "203.0.113.1"
    # No header: the peer itself.
    assert client_address(request("10.1.2.3", []), trusted) == "10.1.2.3"
    # Nothing trusted configured: never the header.
    assert client_address(request("10.1.2.3", ["198.51.100.7"]), ()) == "10.1.2.3"


def test_trusted_proxy_sees_distinct_clients(db, make_settings):
    from todo_api.main import create_app

    settings = make_settings(
        db.url,
        auth_rate_per_address=2,
        auth_rate_per_account=1000,
        trusted_proxies="127.0.0.1/32",  # the deployment names its proxy (issue 20)
    )
    app = create_app(settings, configure_logs=False)
    with TestClient(app, client=("127.0.0.1", 5000)) as proxy:
        bad = new_credentials()  # no such account
        for _ in range(2):
            assert (
                proxy.post(LOGIN, json=bad, headers={"X-Forwarded-For": "198.51.100.1"}).status_code
                == 401
            )
        assert (
            proxy.post(LOGIN, json=bad, headers={"X-Forwarded-For": "198.51.100.1"}).status_code
            == 429
        )
        # Another client behind the same (named, loopback) proxy has its own budget.
        assert (
            proxy.post(LOGIN, json=bad, headers={"X-Forwarded-For": "198.51.100.2"}).status_code
            == 401
        )


def test_register_hashes_only_after_the_duplicate_email_check(client, monkeypatch):
    creds = new_credentials()
    assert client.post(REGISTER, json=creds).status_code == 201
    hashes = _count_calls(monkeypatch, "hash_password")
    again = client.post(REGISTER, json={**creds, "password": creds["password"] + "2"})
    assert again.status_code == 409
    assert hashes == []
    assert client.post(REGISTER, json=new_credentials()).status_code == 201
    assert hashes == [1]


def test_task_requests_do_not_wait_for_password_hashing(db, make_client, monkeypatch):
    """One request thread (DB_POOL_SIZE=1) and a login stuck in its hash: a task request is
    still answered, before the hash is let go. Ordering, not timing: on a server where the
    login held the request thread, the task request could only finish after the release."""
    client = make_client(db.url, db_pool_size=1)
    _, headers = sign_up(client)
    creds = new_credentials()
    assert client.post(REGISTER, json=creds).status_code == 201

    from todo_api.api.routes import auth

    real_verify = auth.verify_password
    hashing, release = threading.Event(), threading.Event()

    def held_verify(*args):
        hashing.set()
        release.wait(timeout=20)
        return real_verify(*args)

    monkeypatch.setattr(auth, "verify_password", held_verify)
    results: dict[str, int] = {}
    login = threading.Thread(
        target=lambda: results.setdefault("login", client.post(LOGIN, json=creds).status_code)
    )
    login.start()
    assert hashing.wait(timeout=20)
    fallback = threading.Timer(15, release.set)  # only so a failing server cannot hang the test
    fallback.start()
    try:
        listed = client.get(TASKS, headers=headers)
        answered_while_hashing = not release.is_set()
    finally:
        release.set()
        fallback.cancel()
        login.join(timeout=30)
    assert listed.status_code == 200
    assert answered_while_hashing
    assert results["login"] == 200


# ---------------------------------------------------------------- 3. revocable sessions


def test_token_reuse_after_logout_is_401(client):
    _, headers = sign_up(client)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    for path in ("/api/v1/auth/me", TASKS):
        assert client.get(path, headers=headers).status_code == 401, path
    assert client.post(TASKS, json={"title": "x"}, headers=headers).status_code == 401


def test_copied_cookie_token_dies_with_the_cookie_logout(client):
    creds = new_credentials()
    client.post(REGISTER, json=creds)
    client.post(LOGIN, json=creds)
    copied = {"Authorization": f"Bearer {client.cookies[SESSION_COOKIE]}"}
    other_session = client.post(LOGIN, json={**creds, "session": "bearer"}).json()
    other = {"Authorization": f"Bearer {other_session['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=copied).status_code == 200

    assert client.post("/api/v1/auth/logout").status_code == 204  # the browser's logout
    client.cookies.clear()
    assert client.get("/api/v1/auth/me", headers=copied).status_code == 401
    # Only that session ended: the user's other session (another device) goes on.
    assert client.get("/api/v1/auth/me", headers=other).status_code == 200


def test_ending_all_sessions_revokes_every_token(client, db):
    """What a password change will call."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session
    from sqlalchemy.pool import NullPool
    from todo_api import users_service
    from todo_api.core.config import normalise_database_url

    _, first = sign_up(client)
    me = client.get("/api/v1/auth/me", headers=first).json()
    engine = create_engine(normalise_database_url(db.url), poolclass=NullPool)
    with Session(engine) as session:
        users_service.end_all_sessions(session, me["id"])
    engine.dispose()
    assert client.get("/api/v1/auth/me", headers=first).status_code == 401


def test_login_body_is_documented_as_it_is(db, make_client):
    client = make_client(db.url, api_docs_enabled=True)
    schemas = client.get("/api/openapi.json").json()["components"]["schemas"]
    assert schemas["LoginResponse"]["required"] == ["user"]
    assert schemas["LoginRequest"]["properties"]["session"]["enum"] == ["cookie", "bearer"]


# ---------------------------------------------------------------- 4. headers, docs switch


def _assert_security_headers(response, csp: str = "default-src 'none'; frame-ancestors 'none'"):
    assert response.headers["content-security-policy"].startswith(csp), response.headers
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_security_headers_on_real_responses(client, user):
    responses = [
        client.get("/api/v1/health"),
        client.get(TASKS, headers=user),
        client.post(TASKS, json={"title": "t"}, headers=user),
        client.get("/api/v1/auth/me"),  # 401
        client.get("/api/v1/nope"),  # 404
        client.post(TASKS, json={"title": ""}, headers=user),  # 422
        client.post(TASKS, content=b"x" * (1024 * 1024 + 1), headers=user),  # 413
        client.post(TASKS, json={"title": "t"}, headers={**user, "Origin": "https://evil.example"}),
    ]
    assert [r.status_code for r in responses] == [200, 200, 201, 401, 404, 422, 413, 403]
    for response in responses:
        _assert_security_headers(response)


@pytest.mark.parametrize(
    ("overrides", "served"),
    [
        ({"environment": "dev"}, True),
        ({"environment": "test"}, False),
        ({"environment": "prod"}, False),
        ({"environment": "prod", "api_docs_enabled": True}, True),
        ({"environment": "dev", "api_docs_enabled": False}, False),
    ],
)
def test_docs_switch(db, make_client, overrides, served):
    client = make_client(db.url, **overrides)
    assert (client.get("/api/openapi.json").status_code == 200) is served
    assert (client.get("/api/docs").status_code == 200) is served


def test_docs_page_has_a_csp_that_allows_exactly_its_assets(db, make_client):
    client = make_client(db.url, api_docs_enabled=True)
    page = client.get("/api/docs")
    csp = page.headers["content-security-policy"]
    _assert_security_headers(page, csp="default-src 'none'")
    assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp.split("style-src")[0]
    for script in re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL):
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    for asset in re.findall(r'(?:src|href)="(https://[^/"]+)', page.text):
        assert asset in csp, asset


# ---------------------------------------------------------------- 5. CSRF


def _cookie_session(client) -> None:
    creds = new_credentials()
    client.post(REGISTER, json=creds)
    assert client.post(LOGIN, json=creds).status_code == 200


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"title=csrf"),
        ("text/plain", b'{"title": "csrf"}'),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="title"\r\n\r\ncsrf\r\n--x--\r\n',
        ),
    ],
)
def test_simple_form_posts_never_reach_state_changing_routes(client, content_type, body):
    """What an HTML form on another site can send without a CORS preflight. With no Origin
    (as if a browser left it out), only the JSON-only bodies stop them."""
    _cookie_session(client)
    for path in (TASKS, REGISTER, "/api/v1/assistant/chat"):
        response = client.post(path, content=body, headers={"Content-Type": content_type})
        assert response.status_code == 422, (path, response.status_code)
    assert client.get(TASKS).json()["total"] == 0


def test_cross_origin_unsafe_requests_are_refused(client):
    _cookie_session(client)
    task = client.post(TASKS, json={"title": "mine"}).json()
    for origin in ("https://evil.example", "http://testserver.evil.example", "null"):
        headers = {"Origin": origin}
        assert client.post(TASKS, json={"title": "csrf"}, headers=headers).status_code == 403
        patch = client.patch(f"{TASKS}/{task['id']}", json={"title": "x"}, headers=headers)
        assert patch.status_code == 403
        assert client.delete(f"{TASKS}/{task['id']}", headers=headers).status_code == 403
        assert client.post("/api/v1/auth/logout", headers=headers).status_code == 403
    assert client.get("/api/v1/auth/me").status_code == 200  # still signed in
    assert [t["title"] for t in client.get(TASKS).json()["items"]] == ["mine"]
    # Reads are not refused (a cross-origin read cannot see the answer without CORS).
    assert client.get(TASKS, headers={"Origin": "https://evil.example"}).status_code == 200


def test_same_origin_configured_origin_and_no_origin_pass(db, make_client):
    client = make_client(db.url, allowed_origins="https://todo.example")
    _cookie_session(client)
    for headers in (
        {"Origin": "http://testserver"},  # the request's own host (TestClient's Host)
        {"Origin": "https://testserver"},  # the page over TLS, TLS ended at the Ingress
        {"Origin": "https://todo.example"},  # configured
        {},  # no Origin: curl, the frontend's server-side fetches, Bearer clients
    ):
        assert client.post(TASKS, json={"title": "ok"}, headers=headers).status_code == 201


# ---------------------------------------------------------------- 6. small holes


def test_nul_in_the_search_query_is_422_naming_q(client, user):
    response = client.get(TASKS, params={"q": "a\x00b"}, headers=user)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "q"
