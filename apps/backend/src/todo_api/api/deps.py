"""Dependencies shared by the routes: settings, a database session, the signed-in user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from ..config import Settings
from ..models import User
from ..security import SESSION_COOKIE, InvalidToken, decode_access_token

# auto_error=False: the cookie is an equally valid way in; we decide about 401 ourselves.
bearer_scheme = HTTPBearer(auto_error=False, description="JWT from POST /api/v1/auth/login")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.session_factory() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_db)]

_UNAUTHENTICATED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Not authenticated",
    headers={"WWW-Authenticate": "Bearer"},
)


def get_current_user(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> User:
    token = credentials.credentials if credentials else request.cookies.get(SESSION_COOKIE)
    if not token:
        raise _UNAUTHENTICATED
    try:
        user_id = decode_access_token(token, settings.auth_secret.get_secret_value())
    except InvalidToken:
        raise _UNAUTHENTICATED from None
    user = session.get(User, user_id)
    if user is None:  # deleted since the token was issued
        raise _UNAUTHENTICATED
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]
