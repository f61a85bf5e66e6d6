"""Account queries: the SQL behind register, login and the session checks. Routes decide
what the answers mean for HTTP; nothing here hashes or verifies a password."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import User


class EmailTaken(Exception):
    pass


def find_by_email(session: Session, email: str) -> User | None:
    """Emails are stored lower-cased; the caller passes the normalised form."""
    return session.scalars(select(User).where(User.email == email)).one_or_none()


def exists(session: Session, user_id: int) -> bool:
    return session.scalar(select(User.id).where(User.id == user_id)) is not None


def get(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


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
