"""Task queries, always scoped to one user. Used by the HTTP routes and the assistant's tools."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.orm import Session

from .models import PRIORITIES, Task

_PRIORITY_RANK = case({name: rank for rank, name in enumerate(PRIORITIES, 1)}, value=Task.priority)
_SORT_COLUMNS = {
    "created_at": Task.created_at,
    "updated_at": Task.updated_at,
    "due_date": Task.due_date,
    "priority": _PRIORITY_RANK,
    "title": func.lower(Task.title),
}


@dataclass(frozen=True)
class TaskFilter:
    status: str = "all"
    priority: str | None = None
    q: str | None = None
    sort: str = "-created_at"
    limit: int = 50
    offset: int = 0


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The columns a client sees (everything but the owner), for the list query.
_PUBLIC_COLUMNS = [column for column in Task.__table__.c if column.name != "user_id"]


def list_tasks(
    session: Session, user_id: int, flt: TaskFilter, *guards: ColumnElement[bool]
) -> tuple[list[dict], int]:
    """One page of the user's tasks as plain dicts (no ORM objects: this is the hot path of
    the UI, and rows are only read and serialised), and the total that match the filter.
    `guards` are extra conditions the caller needs to hold (e.g. a live session): no rows
    come back unless they do."""
    conditions = [Task.user_id == user_id, *guards]
    if flt.status == "pending":
        conditions.append(Task.completed.is_(False))
    elif flt.status == "completed":
        conditions.append(Task.completed.is_(True))
    if flt.priority:
        conditions.append(Task.priority == flt.priority)
    if flt.q and flt.q.strip():
        pattern = f"%{_escape_like(flt.q.strip())}%"
        conditions.append(
            or_(
                Task.title.ilike(pattern, escape="\\"),
                Task.description.ilike(pattern, escape="\\"),
            )
        )

    descending = flt.sort.startswith("-")
    column = _SORT_COLUMNS[flt.sort.lstrip("-")]
    order = column.desc() if descending else column.asc()
    # Undated tasks go last either way; the id makes paging stable among equal keys.
    orders = [order.nulls_last(), Task.id.desc() if descending else Task.id.asc()]

    # One round trip: the page plus the total via a window function.
    total_col = func.count().over().label("_total")
    query = (
        select(*_PUBLIC_COLUMNS, total_col)
        .where(*conditions)
        .order_by(*orders)
        .limit(flt.limit)
        .offset(flt.offset)
    )
    rows = session.execute(query).mappings().all()
    if rows:
        total = int(rows[0]["_total"])
        return [{c.name: row[c.name] for c in _PUBLIC_COLUMNS} for row in rows], total
    if flt.offset == 0:
        return [], 0
    total = session.scalar(select(func.count()).select_from(Task).where(*conditions)) or 0
    return [], int(total)


def get_task(session: Session, user_id: int, task_id: int) -> Task | None:
    """The task if it exists and belongs to the user; None otherwise (callers answer 404)."""
    return session.scalars(
        select(Task).where(Task.id == task_id, Task.user_id == user_id)
    ).one_or_none()


def create_task(
    session: Session,
    user_id: int,
    *,
    title: str,
    description: str | None = None,
    priority: str = "medium",
    due_date: dt.date | None = None,
) -> Task:
    task = Task(
        user_id=user_id, title=title, description=description, priority=priority, due_date=due_date
    )
    session.add(task)
    session.flush()
    session.refresh(task)
    return task


def update_task(session: Session, task: Task, changes: dict[str, object]) -> Task:
    for name, value in changes.items():
        setattr(task, name, value)
    if changes:
        session.flush()
        session.refresh(task)
    return task


def delete_task(session: Session, task: Task) -> None:
    session.delete(task)
    session.flush()
