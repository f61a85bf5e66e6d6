"""Accounts and sessions: register, login (cookie and Bearer), logout, me, bad tokens."""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid

import jwt
from helpers import new_credentials, sign_up
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from todo_api.core.config import normalise_database_url
from todo_api.core.security import SESSION_COOKIE


def test_register_returns_user_without_password_fields(client):
    creds = new_credentials()
    creds["email"] = "  Mixed.Case@Example.COM "
    response = client.post("/api/v1/auth/register", json={**creds, "name": "Ada"})
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "mixed.case@example.com"
    assert body["name"] == "Ada"
    assert set(body) == {"id", "email", "name", "created_at"}
    assert creds["password"] not in response.text


def test_duplicate_email_is_409_case_insensitive(client):
    creds = new_credentials()
    assert client.post("/api/v1/auth/register", json=creds).status_code == 201
    again = {"email": creds["email"].upper(), "password": secrets.token_urlsafe(12)}
    response = client.post("/api/v1/auth/register", json=again)
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]


def test_login_sets_httponly_lax_cookie_and_returns_bearer_token_only_when_asked(client):
    creds = new_credentials()
    client.post("/api/v1/auth/register", json=creds)
    response = client.post("/api/v1/auth/login", json=creds)
    assert response.status_code == 200
    # A cookie login (the default, what browsers do) keeps the token out of the body, where
    # page scripts could read it.
    assert response.json().keys() == {"user"}
    assert response.json()["user"]["email"] == creds["email"]
    assert response.json()["user"]["name"] is None  # null fields of the user stay
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    lowered = cookie.lower()
    assert "httponly" in lowered
    assert "samesite=lax" in lowered
    assert "path=/" in lowered
    assert "max-age=86400" in lowered
    assert "secure" not in lowered  # COOKIE_SECURE defaults to false (plain-HTTP Minikube)

    # The cookie alone is a session (what the browser uses) ...
    assert client.get("/api/v1/auth/me").json()["email"] == creds["email"]
    # ... and so is the Bearer token alone (what API clients ask for): no cookie then.
    client.cookies.clear()
    bearer = client.post("/api/v1/auth/login", json={**creds, "session": "bearer"})
    assert bearer.status_code == 200 and "set-cookie" not in bearer.headers
    body = bearer.json()
    assert body["token_type"] == "bearer" and body["user"]["email"] == creds["email"]
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=headers).json()["email"] == creds["email"]
    assert client.get("/api/v1/auth/me").status_code == 401


def test_cookie_is_secure_when_configured(db, make_client):
    client = make_client(db.url, cookie_secure=True)
    creds = new_credentials()
    client.post("/api/v1/auth/register", json=creds)
    response = client.post("/api/v1/auth/login", json=creds)
    assert "secure" in response.headers["set-cookie"].lower()


def test_wrong_password_and_unknown_email_look_the_same(client):
    creds = new_credentials()
    client.post("/api/v1/auth/register", json=creds)
    wrong = client.post("/api/v1/auth/login", json={**creds, "password": creds["password"] + "x"})
    unknown = client.post(
        "/api/v1/auth/login",
        json={"email": "nobody-" + creds["email"], "password": creds["password"]},
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "set-cookie" not in wrong.headers and "set-cookie" not in unknown.headers


def test_login_time_does_not_reveal_whether_the_email_exists(client):
    creds = new_credentials()
    client.post("/api/v1/auth/register", json=creds)

    wrong = secrets.token_urlsafe(12)
    absent = "absent-" + creds["email"]

    def timed(email: str) -> float:
        start = time.perf_counter()
        client.post("/api/v1/auth/login", json={"email": email, "password": wrong})
        return time.perf_counter() - start

    # Interleaved, and the minimum of each: the least noisy estimate of the work done on a
    # busy machine. Both pay for one argon2 verification; without the dummy hash an unknown
    # email would answer more than ten times faster.
    known, unknown = [], []
    for _ in range(7):
        known.append(timed(creds["email"]))
        unknown.append(timed(absent))
    assert min(unknown) > min(known) * 0.3, (known, unknown)


def test_me_without_session_is_401(client):
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_logout_clears_the_cookie(client):
    creds = new_credentials()
    client.post("/api/v1/auth/register", json=creds)
    client.post("/api/v1/auth/login", json=creds)
    assert client.get("/api/v1/auth/me").status_code == 200
    response = client.post("/api/v1/auth/logout")
    assert response.status_code == 204
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "max-age=0" in cookie
    assert client.get("/api/v1/auth/me").status_code == 401


def _token(secret: str, **claims: object) -> str:
    now = dt.datetime.now(dt.UTC)
    base = {
        "sub": "1",
        "sid": str(uuid.uuid4()),
        "iat": now,
        "exp": now + dt.timedelta(hours=1),
        "typ": "access",
    }
    base.update(claims)
    return jwt.encode(base, secret, algorithm="HS256")


def _sid(headers: dict[str, str]) -> str:
    """The session id in a genuine token (to mint test tokens for that live session)."""
    return jwt.decode(headers["Authorization"].split()[1], options={"verify_signature": False})[
        "sid"
    ]


def test_expired_token_is_rejected(client):
    _, headers = sign_up(client)
    user_id = client.get("/api/v1/auth/me", headers=headers).json()["id"]
    secret = client.app.state.settings.auth_secret.get_secret_value()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    sid = _sid(headers)
    expired = _token(secret, sub=str(user_id), sid=sid, iat=past - dt.timedelta(hours=1), exp=past)
    valid = _token(secret, sub=str(user_id), sid=sid)
    assert (
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {valid}"}).status_code
        == 200
    )
    assert (
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {expired}"}).status_code
        == 401
    )
    client.cookies.set(SESSION_COOKIE, expired)
    assert client.get("/api/v1/auth/me").status_code == 401


def test_forged_tokens_are_rejected(client):
    _, headers = sign_up(client)
    me = client.get("/api/v1/auth/me", headers=headers).json()
    secret = client.app.state.settings.auth_secret.get_secret_value()
    genuine = headers["Authorization"].split()[1]
    header, _, signature = genuine.split(".")
    sid = _sid(headers)  # a live session: each token below is wrong in one way only
    forged = [
        _token(secrets.token_urlsafe(32), sub=str(me["id"]), sid=sid),  # someone else's key
        jwt.encode(
            {"sub": str(me["id"]), "sid": sid, "typ": "access"}, secret, algorithm="HS256"
        ),  # no exp
        _token(secret, sub=str(me["id"]), sid=sid, typ="refresh"),  # not a session token
        _token(secret, sub="not-a-number", sid=sid),
        _token(secret, sub=str(me["id"])),  # a session that was never started
        _token(secret, sub=str(me["id"]), sid="not-a-uuid"),
        _token(secret, sub=str(me["id"] + 1), sid=sid),  # another user's id, this session
        jwt.encode({"sub": str(me["id"]), "sid": sid, "exp": 4102444800}, None, algorithm="none"),
        f"{header}.{_token(secret, sub='999', sid=sid).split('.')[1]}.{signature}",  # swapped
        genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB"),  # broken signature
        "garbage",
    ]
    for token in forged:
        response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token


def test_token_of_a_deleted_user_is_rejected(client, db):
    _, headers = sign_up(client)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    engine = create_engine(normalise_database_url(db.url), poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM users"))
    engine.dispose()
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_password_is_stored_as_argon2id_hash(client, db):
    creds = new_credentials()
    client.post("/api/v1/auth/register", json=creds)
    engine = create_engine(normalise_database_url(db.url), poolclass=NullPool)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM users")).scalar_one()
    engine.dispose()
    assert stored.startswith("$argon2id$")
    assert creds["password"] not in stored


def test_register_validation_names_the_field(client):
    cases = [
        ({"email": "not-an-email", "password": secrets.token_urlsafe(12)}, "email"),
        ({"email": "a@example.com", "password": secrets.token_urlsafe(8)[:7]}, "password"),
        ({"email": "a@example.com", "password": "x" * 129}, "password"),
        ({"password": secrets.token_urlsafe(12)}, "email"),
        ({"email": "a@example.com"}, "password"),
        (
            {"email": "a@example.com", "password": secrets.token_urlsafe(12), "name": "n" * 101},
            "name",
        ),
        ({"email": "a@example.com", "password": secrets.token_urlsafe(12), "admin": True}, "admin"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/auth/register", json=body)
        assert response.status_code == 422, body
        assert field in [item["loc"][-1] for item in response.json()["detail"]], response.json()
        # The submitted value is not echoed back (it may be a password).
        assert all("input" not in item for item in response.json()["detail"])


def test_login_upgrades_a_hash_made_with_other_parameters(client, db):
    from argon2 import PasswordHasher

    creds = new_credentials()
    client.post("/api/v1/auth/register", json=creds)
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(creds["password"])
    engine = create_engine(normalise_database_url(db.url), poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET password_hash = :h"), {"h": old})
    assert client.post("/api/v1/auth/login", json=creds).status_code == 200
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM users")).scalar_one()
    engine.dispose()
    assert stored != old and stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert client.post("/api/v1/auth/login", json=creds).status_code == 200


def test_token_stops_working_when_it_expires_even_after_use(client):
    _, headers = sign_up(client)
    user_id = client.get("/api/v1/auth/me", headers=headers).json()["id"]
    secret = client.app.state.settings.auth_secret.get_secret_value()
    now = dt.datetime.now(dt.UTC)
    short = _token(
        secret, sub=str(user_id), sid=_sid(headers), iat=now, exp=now + dt.timedelta(seconds=2)
    )
    bearer = {"Authorization": f"Bearer {short}"}
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 200
    time.sleep(2.5)
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 401
