"""Task queries, always scoped to one user. Used by the HTTP routes and the assistant's tools."""

from __future__ import annotations

import datetime as dt
import functools
import uuid

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    DateTime,
    Text,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from .models import PRIORITIES, Task, User
from .schemas import TaskListQuery
from .users_service import live_session

# Key of the per-user task cap (MAX_TASKS_PER_USER) in Session.info; the app's session
# factory sets it. Sessions without it (scripts, tests of the service alone) have no cap.
MAX_TASKS_INFO = "max_tasks_per_user"


class TaskLimitReached(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} tasks per user (MAX_TASKS_PER_USER)")
        self.limit = limit


_PRIORITY_RANK = case({name: rank for rank, name in enumerate(PRIORITIES, 1)}, value=Task.priority)
_SORT_COLUMNS = {
    "created_at": Task.created_at,
    "updated_at": Task.updated_at,
    "due_date": Task.due_date,
    "priority": _PRIORITY_RANK,
    "title": func.lower(Task.title),
}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The columns a client sees (everything but the owner), for the list query.
_PUBLIC_COLUMNS = [column for column in Task.__table__.c if column.name != "user_id"]


def _iso_utc(column: ColumnElement) -> ColumnElement[str]:
    """A timestamptz as the API writes it everywhere else (pydantic): UTC with a Z, and the
    microseconds only when there are any. One to_char with the format chosen per value
    (cheaper for PostgreSQL than formatting the two parts apart and concatenating)."""
    utc = func.timezone(literal_column("'UTC'"), column)
    whole = func.date_trunc(literal_column("'second'"), utc) == utc
    pattern = case(
        (whole, literal_column("""'YYYY-MM-DD"T"HH24:MI:SS"Z"'""")),
        else_=literal_column("""'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"""),
    )
    return func.to_char(utc, pattern).label(column.name)


_JSON_COLUMNS = [
    _iso_utc(column) if isinstance(column.type, DateTime) else column for column in _PUBLIC_COLUMNS
]


@functools.lru_cache(maxsize=512)
def _list_statements(status: str, by_priority: bool, search: bool, sort: str, guarded: bool):
    """The list queries for one shape of filter, built once: values arrive as bound
    parameters (user_id, priority, pattern, limit, offset, session_id), so a request pays
    neither for building the expression tree nor for its cache key (most of the CPU time of
    a list request before). Returns (rows query, JSON body query, count query)."""
    conditions = [Task.user_id == bindparam("user_id", type_=BigInteger)]
    if guarded:  # users_service owns what a live session is
        conditions.append(live_session(bindparam("user_id"), bindparam("session_id")))
    if status == "pending":
        conditions.append(Task.completed.is_(False))
    elif status == "completed":
        conditions.append(Task.completed.is_(True))
    if by_priority:
        conditions.append(Task.priority == bindparam("priority"))
    if search:
        pattern = bindparam("pattern")
        conditions.append(
            or_(
                Task.title.ilike(pattern, escape="\\"),
                Task.description.ilike(pattern, escape="\\"),
            )
        )
    descending = sort.startswith("-")
    column = _SORT_COLUMNS[sort.lstrip("-")]
    order = column.desc() if descending else column.asc()
    # Undated tasks go last either way; the id makes paging stable among equal keys.
    orders = [order.nulls_last(), Task.id.desc() if descending else Task.id.asc()]
    limit, offset = bindparam("limit"), bindparam("offset")

    # One round trip: the page plus the total via a window function.
    rows = (
        select(*_PUBLIC_COLUMNS, func.count().over().label("_total"))
        .where(*conditions)
        .order_by(*orders)
        .limit(limit)
        .offset(offset)
    )
    page = (
        select(
            *_JSON_COLUMNS,
            func.count().over().label("_total"),
            func.row_number().over(order_by=orders).label("_n"),
        )
        .where(*conditions)
        .order_by(*orders)
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    # Only the public columns go into each item: a lateral row of them per page row.
    task = select(*[page.c[c.name] for c in _PUBLIC_COLUMNS]).correlate(page).subquery().lateral()
    body = select(
        cast(func.json_agg(aggregate_order_by(task.table_valued(), page.c._n)), Text),
        func.max(page.c._total),
    ).select_from(page.join(task, true()))
    count = select(func.count()).select_from(Task).where(*conditions)
    return rows, body, count


def _statements(flt: TaskListQuery, guarded: bool):
    search = bool(flt.q and flt.q.strip())
    params: dict[str, object] = {"limit": flt.limit, "offset": flt.offset}
    if flt.priority:
        params["priority"] = flt.priority
    if search:
        params["pattern"] = f"%{_escape_like(flt.q.strip())}%"  # type: ignore[union-attr]
    return _list_statements(flt.status, bool(flt.priority), search, flt.sort, guarded), params


def list_tasks(session: Session, user_id: int, flt: TaskListQuery) -> tuple[list[dict], int]:
    """One page of the user's tasks as plain dicts, and the total that match the filter."""
    (rows_query, _, count_query), params = _statements(flt, guarded=False)
    params["user_id"] = user_id
    rows = session.execute(rows_query, params).mappings().all()
    if rows:
        total = int(rows[0]["_total"])
        return [{c.name: row[c.name] for c in _PUBLIC_COLUMNS} for row in rows], total
    return [], (int(session.scalar(count_query, params) or 0) if flt.offset else 0)


def list_tasks_json(
    session: Session | Connection, user_id: int, session_id: uuid.UUID, flt: TaskListQuery
) -> str | None:
    """The same page as list_tasks, as the response body ({"items": [...], "total": n})
    built by PostgreSQL (the hot path of the UI: no row objects, no re-serialising), and
    only while the session `session_id` is live. None when nothing matched; the caller then
    tells an empty list from a dead session."""
    (_, body_query, count_query), params = _statements(flt, guarded=True)
    params.update(user_id=user_id, session_id=session_id)
    items, total = session.execute(body_query, params).one()
    if items is None:
        total = int(session.scalar(count_query, params) or 0) if flt.offset else 0
        if not total:
            return None
        items = "[]"
    return f'{{"items":{items},"total":{int(total)}}}'


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
    _check_room(session, user_id)
    task = Task(
        user_id=user_id, title=title, description=description, priority=priority, due_date=due_date
    )
    session.add(task)
    session.flush()
    session.refresh(task)
    return task


def _check_room(session: Session, user_id: int) -> None:
    """TaskLimitReached when the user already holds the cap. The user's row is locked first,
    so concurrent creates for one user count one after the other and cannot overshoot."""
    limit = session.info.get(MAX_TASKS_INFO)
    if limit is None:
        return
    session.execute(select(User.id).where(User.id == user_id).with_for_update())
    held = session.scalar(select(func.count()).select_from(Task).where(Task.user_id == user_id))
    if (held or 0) >= limit:
        raise TaskLimitReached(limit)


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
