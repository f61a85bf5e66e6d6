"""Password hashing (argon2id) and session tokens (JWT, HS256, signed with AUTH_SECRET)."""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import time
import uuid

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ALGORITHM = "HS256"
SESSION_COOKIE = "todo_session"
# Over HTTPS the cookie carries the __Host- prefix: browsers then accept it only with Secure,
# Path=/ and no Domain, so a sibling subdomain cannot plant or shadow a session cookie.
SECURE_SESSION_COOKIE = f"__Host-{SESSION_COOKIE}"


def session_cookie_name(secure: bool) -> str:
    """The session cookie's name for COOKIE_SECURE (the only name read back, too)."""
    return SECURE_SESSION_COOKIE if secure else SESSION_COOKIE


# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): ~30 ms here, which
# keeps login cheap for the server and still expensive for an offline guesser. Hashes made
# with other parameters are upgraded on the next successful login (needs_rehash).
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified when the email is unknown, so both cases cost the same time (no email oracle).
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if the password matches; a None hash still spends the same work and fails."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def session_expiry(expire_minutes: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=expire_minutes)


def create_access_token(
    user_id: int, session_id: uuid.UUID, secret: str, expires: dt.datetime
) -> str:
    claims = {
        "sub": str(user_id),
        "sid": str(session_id),
        "iat": dt.datetime.now(dt.UTC),
        "exp": expires,
        "typ": "access",
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


class InvalidToken(Exception):
    pass


def decode_access_token(token: str, secret: str) -> tuple[int, uuid.UUID]:
    """(user id, session id) of a valid, unexpired token signed with our secret; InvalidToken
    otherwise. Whether the session is still live is the database's answer, asked per request
    by the caller: this only proves who issued the token."""
    user_id, session_id, expires_at = _verify(token, secret)
    if expires_at <= time.time():  # the cached verification may be older than the expiry
        raise InvalidToken("ExpiredSignatureError")
    return user_id, session_id


@functools.lru_cache(maxsize=4096)
def _verify(token: str, secret: str) -> tuple[int, uuid.UUID, float]:
    """Signature and claims check, remembered per token (a session sends the same token with
    every request; only successes are cached, and expiry is re-checked on every use)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub", "sid"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from None
    if claims.get("typ") != "access":
        raise InvalidToken("wrong token type")
    try:
        return int(claims["sub"]), uuid.UUID(str(claims["sid"])), float(claims["exp"])
    except (TypeError, ValueError):
        raise InvalidToken("bad subject or session") from None
