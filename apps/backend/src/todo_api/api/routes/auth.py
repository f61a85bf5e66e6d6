"""Register, log in, log out, me.

Login answers the same 401 for an unknown email and a wrong password, and spends the same
argon2 work in both cases, so it cannot be used to find out which emails have accounts.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Response, status

from ... import users_service
from ...core.security import (
    SESSION_COOKIE,
    create_access_token,
    hash_password,
    needs_rehash,
    verify_password,
)
from ...models import User
from ...schemas import LoginRequest, LoginResponse, RegisterRequest, UserPublic
from ..deps import CurrentUser, SessionDep, SettingsDep, releases_session

router = APIRouter(prefix="/auth", tags=["auth"])
log = logging.getLogger("todo_api.auth")

_BAD_CREDENTIALS = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Incorrect email or password",
    headers={"WWW-Authenticate": "Bearer"},
)


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses={409: {"description": "Email already registered"}},
)
@releases_session
def register(body: RegisterRequest, session: SessionDep) -> User:
    try:
        user = users_service.create(
            session, email=body.email, name=body.name, password_hash=hash_password(body.password)
        )
    except users_service.EmailTaken:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "An account with this email already exists"
        ) from None
    log.info("user registered", extra={"user_id": user.id})
    return user


@router.post(
    "/login", response_model=LoginResponse, responses={401: {"description": "Bad credentials"}}
)
@releases_session
def login(
    body: LoginRequest, response: Response, session: SessionDep, settings: SettingsDep
) -> LoginResponse:
    email = body.email.strip().lower()
    user = users_service.find_by_email(session, email)
    session.close()  # no pooled connection held through the (deliberately slow) hash check
    if not verify_password(user.password_hash if user else None, body.password) or user is None:
        log.info("login failed")
        raise _BAD_CREDENTIALS
    if needs_rehash(user.password_hash):
        users_service.set_password_hash(session, user.id, hash_password(body.password))
    token, expires = create_access_token(
        user.id, settings.auth_secret.get_secret_value(), settings.access_token_expire_minutes
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.access_token_expire_minutes * 60,
        expires=expires,
        path="/",
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
    )
    log.info("user logged in", extra={"user_id": user.id})
    return LoginResponse(access_token=token, user=UserPublic.model_validate(user))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(settings: SettingsDep) -> Response:
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, secure=settings.cookie_secure, samesite="lax"
    )
    return response


@router.get("/me", response_model=UserPublic, responses={401: {"description": "Not signed in"}})
def me(user: CurrentUser) -> User:
    return user
