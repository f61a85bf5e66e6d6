"""Register, log in, log out, me.

Login answers the same 401 for an unknown email and a wrong password, and spends the same
argon2 work in both cases, so it cannot be used to find out which emails have accounts.

argon2 runs on its own small, bounded queue (api/hashing.py), never on the request threads
that serve tasks, and login/register are throttled per client address and per (account,
client) before any hashing (api/throttle.py): a login flood costs the task API neither
threads nor (beyond that queue) CPU, and a stranger's failures never lock the owner out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ... import users_service
from ...core.config import Settings
from ...core.security import (
    InvalidToken,
    create_access_token,
    decode_access_token,
    hash_password,
    needs_rehash,
    session_cookie_name,
    session_expiry,
    verify_password,
)
from ...models import User
from ...schemas import LoginRequest, LoginResponse, RegisterRequest, UserPublic
from ..deps import CurrentUser, SessionDep, SessionToken, SettingsDep
from ..responses import AUTHENTICATED, CHANGES, DATABASE, WITH_BODY
from ..throttle import AccountAttempt

router = APIRouter(prefix="/auth", tags=["auth"])
log = logging.getLogger("todo_api.auth")

_BAD_CREDENTIALS = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Incorrect email or password",
    headers={"WWW-Authenticate": "Bearer"},
)
# What register and login share: a body, a change, the throttles and the hashing queue.
_SIGN_IN = {
    **WITH_BODY,
    **CHANGES,
    429: {"description": "Too many attempts from this address (see Retry-After)"},
    503: {
        "description": "Too many sign-ins waiting for a password hash, or the database is "
        "unavailable (see Retry-After)"
    },
}

T = TypeVar("T")


async def _hashing(request: Request, function: Callable[..., T], *args: object) -> T:
    return await request.app.state.hash_queue.run(function, *args)


async def _attempt(request: Request, account: str) -> AccountAttempt:
    """Counts the attempt (the address was checked before routing); 429 for this client
    only, or a short wait while the account is under a distributed guess."""
    attempt = request.app.state.throttles.account_attempt(account, request)
    if attempt.delay:
        await asyncio.sleep(attempt.delay)
    return attempt


def _in_thread_then_close(session: Session, function: Callable[..., T], *args: object) -> T:
    """A database step for an async endpoint: runs in a request thread and releases the
    connection there (no connection held while the endpoint awaits the hash limiter)."""
    try:
        return function(session, *args)
    finally:
        session.close()


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses={409: {"description": "Email already registered"}, **_SIGN_IN},
)
async def register(body: RegisterRequest, request: Request, session: SessionDep) -> User:
    attempt = await _attempt(request, body.email)
    taken = await run_in_threadpool(
        _in_thread_then_close, session, users_service.email_taken, body.email
    )
    if not taken:  # hash only for an email that can be registered
        password_hash = await _hashing(request, hash_password, body.password)
        try:
            user = await run_in_threadpool(
                _in_thread_then_close,
                session,
                _create_user,
                body.email,
                body.name,
                password_hash,
            )
        except users_service.EmailTaken:
            taken = True  # registered by a concurrent request since the check
    if taken:
        raise HTTPException(status.HTTP_409_CONFLICT, "An account with this email already exists")
    attempt.succeeded()
    log.info("user registered", extra={"user_id": user.id})
    return user


def _create_user(session: Session, email: str, name: str | None, password_hash: str) -> User:
    return users_service.create(session, email=email, name=name, password_hash=password_hash)


@router.post(
    "/login",
    response_model=LoginResponse,
    response_model_exclude_unset=True,  # token fields only when set (bearer logins)
    responses={401: {"description": "Bad credentials"}, **_SIGN_IN},
)
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
) -> LoginResponse:
    email = body.email.strip().lower()
    attempt = await _attempt(request, email)
    user = await run_in_threadpool(
        _in_thread_then_close, session, users_service.find_by_email, email
    )
    # An unknown email is checked against a dummy hash: same work, same answer.
    password_hash = user.password_hash if user else None
    verified = await _hashing(request, verify_password, password_hash, body.password)
    if user is None or not verified:
        log.info("login failed")
        raise _BAD_CREDENTIALS
    attempt.succeeded()
    new_hash = None
    if needs_rehash(user.password_hash):
        new_hash = await _hashing(request, hash_password, body.password)
    expires = session_expiry(settings.access_token_expire_minutes)
    session_id = await run_in_threadpool(
        _in_thread_then_close, session, _start_session, user.id, expires, new_hash
    )
    token = create_access_token(
        user.id, session_id, settings.auth_secret.get_secret_value(), expires
    )
    log.info("user logged in", extra={"user_id": user.id, "session": body.session})
    public = UserPublic.model_validate(user)
    if body.session == "bearer":
        return LoginResponse(access_token=token, token_type="bearer", user=public)  # noqa: S106
    response.set_cookie(
        session_cookie_name(settings.cookie_secure),
        token,
        max_age=settings.access_token_expire_minutes * 60,
        expires=expires,
        path="/",
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
    )
    return LoginResponse(user=public)


def _start_session(
    session: Session, user_id: int, expires: dt.datetime, new_hash: str | None
) -> uuid.UUID:
    if new_hash is not None:
        users_service.set_password_hash(session, user_id, new_hash)
    return users_service.start_session(session, user_id, expires)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**CHANGES, **DATABASE},
    # Signed in or not, logout answers 204: the empty requirement says no credentials will do.
    openapi_extra={"security": [{}]},
)
async def logout(
    token: SessionToken, session: SessionDep, settings: SettingsDep
) -> Response:
    """Ends the presented session (cookie or Bearer) server-side, so a copy of its token
    stops working too, and clears the cookie. Without a valid token it only clears."""
    if token:
        try:
            _, session_id = decode_access_token(token, settings.auth_secret.get_secret_value())
        except InvalidToken:
            pass
        else:
            await run_in_threadpool(
                _in_thread_then_close, session, users_service.end_session, session_id
            )
    return _cleared(settings)


def _cleared(settings: Settings) -> Response:
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        session_cookie_name(settings.cookie_secure),
        path="/",
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
    )
    return response


@router.get("/me", response_model=UserPublic, responses={**AUTHENTICATED, **DATABASE})
def me(user: CurrentUser) -> User:
    return user
