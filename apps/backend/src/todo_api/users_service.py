"""Account queries: the SQL behind register, login and the session checks. Routes decide
what the answers mean for HTTP; nothing here hashes or verifies a password."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ColumnElement, Connection, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import User, UserSession


class EmailTaken(Exception):
    pass


def find_by_email(session: Session, email: str) -> User | None:
    """Emails are stored lower-cased; the caller passes the normalised form."""
    return session.scalars(select(User).where(User.email == email)).one_or_none()


def email_taken(session: Session, email: str) -> bool:
    return session.scalar(select(exists().where(User.email == email))) or False


def create(session: Session, *, email: str, name: str | None, password_hash: str) -> User:
    """Commits the new user; EmailTaken if the unique constraint refuses the email (the
    constraint, not an earlier look-up, is the source of truth under concurrency)."""
    user = User(email=email, name=name, password_hash=password_hash)
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise EmailTaken from None
    session.refresh(user)
    return user


def set_password_hash(session: Session, user_id: int, password_hash: str) -> None:
    session.execute(update(User).where(User.id == user_id).values(password_hash=password_hash))
    session.commit()


# ---------------------------------------------------------------- sessions


def start_session(session: Session, user_id: int, expires_at: dt.datetime) -> uuid.UUID:
    """A new live session (committed); the user's expired ones are swept on the way."""
    session.execute(
        delete(UserSession).where(
            UserSession.user_id == user_id, UserSession.expires_at <= func.now()
        )
    )
    row = UserSession(user_id=user_id, expires_at=expires_at)
    session.add(row)
    session.commit()
    return row.id


def end_session(session: Session, session_id: uuid.UUID) -> None:
    session.execute(delete(UserSession).where(UserSession.id == session_id))
    session.commit()


def end_all_sessions(session: Session, user_id: int) -> None:
    """Signs the user out everywhere (what a password change must do)."""
    session.execute(delete(UserSession).where(UserSession.user_id == user_id))
    session.commit()


def live_session(user_id: int, session_id: uuid.UUID) -> ColumnElement[bool]:
    """A condition that holds while the session exists, is the user's and has not expired:
    callers can fold it into their own query instead of paying a separate round trip. A
    deleted user has no sessions (ON DELETE CASCADE), so it also proves the user exists."""
    return exists().where(
        UserSession.id == session_id,
        UserSession.user_id == user_id,
        UserSession.expires_at > func.now(),
    )


def session_is_live(session: Session | Connection, user_id: int, session_id: uuid.UUID) -> bool:
    return session.scalar(select(live_session(user_id, session_id))) or False


def session_user(session: Session, user_id: int, session_id: uuid.UUID) -> User | None:
    """The user behind a live session, in one query."""
    return session.scalars(
        select(User).where(User.id == user_id, live_session(user_id, session_id))
    ).one_or_none()
