"""Dependencies shared by the routes: settings, a database session, the signed-in user."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, ParamSpec, TypeVar

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from .. import users_service
from ..core.config import Settings
from ..core.security import (
    SECURE_SESSION_COOKIE,
    SESSION_COOKIE,
    InvalidToken,
    decode_access_token,
    session_cookie_name,
)
from ..models import User

P = ParamSpec("P")
R = TypeVar("R")

# auto_error=False: the cookie is an equally valid way in; we decide about 401 ourselves.
bearer_scheme = HTTPBearer(auto_error=False, description="JWT from POST /api/v1/auth/login")
# The other way in, declared so the OpenAPI document names it (clients and tools see both
# schemes); the value is read by request_token, under the name the settings choose.
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="SessionCookie",
    auto_error=False,
    description=(
        "The httpOnly cookie POST /api/v1/auth/login sets (session: cookie); named "
        f"{SECURE_SESSION_COOKIE} when the server runs with COOKIE_SECURE"
    ),
)


# Async on purpose: FastAPI runs sync dependencies in the thread pool, and neither of these
# does I/O up front (a Session connects lazily); the close at the end does, so it goes to a thread.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_db(request: Request) -> AsyncIterator[Session]:
    session = request.app.state.session_factory()
    try:
        yield session
    finally:
        # Endpoints close their session in their own thread (releases_session); then this
        # close does no I/O and needs no extra trip through the thread pool.
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


async def get_read_engine(request: Request) -> Engine:
    """For hot read-only endpoints: Core connections in autocommit (no ORM session, no
    transaction round trips), checked out and returned inside the endpoint's thread."""
    return request.app.state.read_engine


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_db)]
ReadEngineDep = Annotated[Engine, Depends(get_read_engine)]

_UNAUTHENTICATED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Not authenticated",
    headers={"WWW-Authenticate": "Bearer"},
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token says is calling. Not yet proof the session is live: endpoints
    check that with the database (require_session, or folded into their own query)."""

    user_id: int
    session_id: uuid.UUID


def request_token(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The session token: the Bearer header first, else the cookie (by the name the app sets:
    with COOKIE_SECURE only the __Host- one, which no other site of the domain can plant)."""
    if credentials:
        return credentials.credentials
    return request.cookies.get(session_cookie_name(request.app.state.settings.cookie_secure))


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


async def session_token(
    request: Request,
    credentials: Credentials,
    _cookie: Annotated[str | None, Depends(cookie_scheme)],  # declares the scheme only
) -> str | None:
    return request_token(request, credentials)


SessionToken = Annotated[str | None, Depends(session_token)]


async def get_principal(settings: SettingsDep, token: SessionToken) -> Principal:
    """No database access here (it runs on the event loop); endpoints confirm the session in
    the same thread and transaction as their own queries."""
    if not token:
        raise _UNAUTHENTICATED
    try:
        user_id, session_id = decode_access_token(token, settings.auth_secret.get_secret_value())
    except InvalidToken:
        raise _UNAUTHENTICATED from None
    return Principal(user_id, session_id)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_session(session: Session | Connection, principal: Principal) -> None:
    """401 unless the token's session is live (not logged out, user not deleted)."""
    if not users_service.session_is_live(session, principal.user_id, principal.session_id):
        raise _UNAUTHENTICATED


def get_current_user(principal: CurrentPrincipal, session: SessionDep) -> User:
    try:
        user = users_service.session_user(session, principal.user_id, principal.session_id)
    finally:
        session.close()  # see releases_session; the loaded user stays usable
    if user is None:  # logged out, expired or deleted since the token was issued
        raise _UNAUTHENTICATED
    return user


def releases_session(endpoint: Callable[P, R]) -> Callable[P, R]:
    """For sync endpoints: close the request's session in the worker thread that ran them.

    No connection may stay checked out while its request waits for another trip through the
    thread pool: under enough concurrent requests every worker thread would then wait for a
    pool connection held by a request that waits for a thread (stuck until pool_timeout).
    Objects the endpoint loaded stay usable after close (expire_on_commit=False).
    """

    @functools.wraps(endpoint)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return endpoint(*args, **kwargs)
        finally:
            for value in kwargs.values():
                if isinstance(value, Session):
                    value.close()

    return wrapper


CurrentUser = Annotated[User, Depends(get_current_user)]
