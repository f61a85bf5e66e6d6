"""Database tables (SQLAlchemy 2 declarative). Schema changes go through Alembic only."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal, get_args

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The one definition of task priorities, in rank order: the API schemas, the database check,
# the sort rank and the assistant's tool schemas all derive from it.
Priority = Literal["low", "medium", "high"]
PRIORITIES: tuple[str, ...] = get_args(Priority)
TITLE_MAX = 200
DESCRIPTION_MAX = 2000
EMAIL_MAX = 254
NAME_MAX = 100


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now_column(**kw: Any) -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False, **kw)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Stored lower-cased; the unique constraint is the source of truth for "email taken".
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True, nullable=False)
    name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[dt.datetime] = _now_column()


class UserSession(Base):
    """One signed-in session. Tokens name their session (claim `sid`) and are accepted only
    while its row exists: logout deletes it, a password change deletes all of a user's."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[dt.datetime] = _now_column()
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint(
            "priority IN ({})".format(", ".join(f"'{p}'" for p in PRIORITIES)), name="priority"
        ),
        CheckConstraint("char_length(title) BETWEEN 1 AND 200", name="title_length"),
        Index("ix_tasks_user_id_created_at", "user_id", "created_at"),
        # Trigram indexes serve the list's `q` search (ILIKE '%text%'; migration 0004).
        Index(
            "ix_tasks_title_trgm",
            "title",
            postgresql_using="gin",
            postgresql_ops={"title": "gin_trgm_ops"},
        ),
        Index(
            "ix_tasks_description_trgm",
            "description",
            postgresql_using="gin",
            postgresql_ops={"description": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    title: Mapped[str] = mapped_column(String(TITLE_MAX), nullable=False)
    description: Mapped[str | None] = mapped_column(String(DESCRIPTION_MAX))
    completed: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    priority: Mapped[str] = mapped_column(String(6), nullable=False, server_default="medium")
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = _now_column()
    updated_at: Mapped[dt.datetime] = _now_column(onupdate=func.now())


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_user_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[dt.datetime] = _now_column()
    updated_at: Mapped[dt.datetime] = _now_column(onupdate=func.now())


class ConversationMessage(Base):
    """One Chat Completions message, stored as sent/received so any replica can replay it."""

    __tablename__ = "conversation_messages"
    # Unique: two turns racing on one conversation cannot both write the same positions
    # (the later commit fails and is refused instead of interleaving the histories).
    __table_args__ = (
        UniqueConstraint("conversation_id", "position", name="uq_conversation_messages_position"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[dt.datetime] = _now_column()


class AssistantUsage(Base):
    """Model tokens one user's assistant turns spent on one UTC day. In the database, so the
    daily budgets hold across restarts, replicas and worker processes."""

    __tablename__ = "assistant_usage"
    __table_args__ = (Index("ix_assistant_usage_day", "day"),)

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    tokens: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
