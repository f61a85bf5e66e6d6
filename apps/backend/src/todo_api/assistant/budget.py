"""The assistant's daily token budgets, kept in the database (table assistant_usage).

Per user (ASSISTANT_TOKENS_PER_USER_PER_DAY) and for the whole deployment
(ASSISTANT_TOKENS_PER_DAY), per UTC day. Every model answer's tokens are added in the same
transaction as the round they belong to; a turn starts (and goes on to another model call)
only while both budgets have tokens left. Restarts, replicas and worker processes all see
the same counts, and a fresh account starts at zero of its own budget but the global
ceiling still holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from ..models import AssistantUsage

USER_SPENT = (
    "Your assistant budget for today is spent ({limit} tokens). It resets at 00:00 UTC; "
    "everything else in the app works as usual."
)
ALL_SPENT = (
    "The assistant has used up its budget for today on this server. It resets at 00:00 UTC; "
    "everything else in the app works as usual."
)


@dataclass(frozen=True)
class Budgets:
    per_user: int  # tokens per user and day; 0 = no limit
    total: int  # tokens per day for everyone; 0 = no limit


class BudgetSpent(Exception):
    def __init__(self, message: str, everyone: bool) -> None:
        super().__init__(message)
        self.message = message
        self.everyone = everyone  # the global ceiling (503), not the user's own (429)

    @property
    def retry_after(self) -> int:
        """Seconds until the next UTC midnight."""
        now = dt.datetime.now(dt.UTC)
        midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
        return max(1, int((midnight - now).total_seconds()))


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def check(session: Session, user_id: int, budgets: Budgets) -> None:
    """BudgetSpent unless both budgets have tokens left today."""
    day = today()
    if budgets.per_user:
        mine = session.scalar(
            select(AssistantUsage.tokens).where(
                AssistantUsage.user_id == user_id, AssistantUsage.day == day
            )
        )
        if (mine or 0) >= budgets.per_user:
            raise BudgetSpent(USER_SPENT.format(limit=budgets.per_user), everyone=False)
    if budgets.total:
        everyone = session.scalar(
            select(func.sum(AssistantUsage.tokens)).where(AssistantUsage.day == day)
        )
        if (everyone or 0) >= budgets.total:
            raise BudgetSpent(ALL_SPENT, everyone=True)


def record(session: Session, user_id: int, tokens: int) -> None:
    """Adds a model answer's tokens to today's count (the caller commits)."""
    statement = insert(AssistantUsage).values(user_id=user_id, day=today(), tokens=tokens)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[AssistantUsage.user_id, AssistantUsage.day],
            set_={"tokens": AssistantUsage.tokens + statement.excluded.tokens},
        )
    )
