"""Task CRUD for the signed-in user. Another user's task id answers 404, never 403."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ... import tasks_service
from ...models import Task
from ...schemas import (
    TaskCreate,
    TaskListQuery,
    TaskPage,
    TaskPublic,
    TaskUpdate,
)
from ..deps import (
    CurrentPrincipal,
    Principal,
    ReadEngineDep,
    SessionDep,
    releases_session,
    require_session,
)
from ..responses import AUTHENTICATED, CHANGES, DATABASE, WITH_BODY

router = APIRouter(prefix="/tasks", tags=["tasks"], responses={**AUTHENTICATED, **DATABASE})

_NOT_FOUND = {404: {"description": "No such task for this user"}}
# Path ids are bigint in the database; bound them so a huge number is a 422, not a DB error.
TaskId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _owned(session: Session, principal: Principal, task_id: int) -> Task:
    require_session(session, principal)
    task = tasks_service.get_task(session, principal.user_id, task_id)
    if task is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Task not found")
    return task


def _read_only(session: Session) -> None:
    """Plain reads need no transaction: autocommit saves the BEGIN and ROLLBACK round trips."""
    session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


EMPTY_PAGE = '{"items":[],"total":0}'


def list_page(engine: Engine, principal: Principal, flt: TaskListQuery) -> str:
    """The list response body, built by PostgreSQL (the same JSON as TaskPage: no row
    objects, no re-serialising); 401 unless the session is live. The hot path of the UI:
    one Core connection in autocommit and one round trip, the session check riding along
    in the list query (rows prove the session is live). Runs in a worker thread."""
    with engine.connect() as connection:
        body = tasks_service.list_tasks_json(
            connection, principal.user_id, principal.session_id, flt
        )
        if body is None:
            require_session(connection, principal)  # no rows prove nothing
            body = EMPTY_PAGE
    return body


# Most list requests never get here: api/fast_list.py answers them with list_page before
# FastAPI routes them. This route declares the contract (OpenAPI) and answers the rest:
# 401, 422, and query strings the fast path leaves alone.
@router.get("", response_model=TaskPage)
def list_tasks(
    principal: CurrentPrincipal,
    engine: ReadEngineDep,
    query: Annotated[TaskListQuery, Query()],
) -> Response:
    return Response(list_page(engine, principal, query), media_type="application/json")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskPublic,
    responses={
        **WITH_BODY,
        **CHANGES,
        409: {"description": "The user already holds MAX_TASKS_PER_USER tasks"},
    },
)
@releases_session
def create_task(body: TaskCreate, principal: CurrentPrincipal, session: SessionDep) -> Task:
    require_session(session, principal)
    try:
        task = tasks_service.create_task(
            session,
            principal.user_id,
            title=body.title,
            description=body.description,
            priority=body.priority,
            due_date=body.due_date,
        )
    except tasks_service.TaskLimitReached as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"Task limit reached: {exc}. Delete some tasks first."
        ) from None
    session.commit()
    return task


@router.get("/{task_id}", response_model=TaskPublic, responses=_NOT_FOUND)
@releases_session
def get_task(task_id: TaskId, principal: CurrentPrincipal, session: SessionDep) -> Task:
    _read_only(session)
    return _owned(session, principal, task_id)


@router.patch(
    "/{task_id}", response_model=TaskPublic, responses={**_NOT_FOUND, **WITH_BODY, **CHANGES}
)
@releases_session
def update_task(
    task_id: TaskId, body: TaskUpdate, principal: CurrentPrincipal, session: SessionDep
) -> Task:
    task = _owned(session, principal, task_id)
    tasks_service.update_task(session, task, body.changes())
    session.commit()
    return task


@router.delete(
    "/{task_id}", status_code=status.HTTP_204_NO_CONTENT, responses={**_NOT_FOUND, **CHANGES}
)
@releases_session
def delete_task(task_id: TaskId, principal: CurrentPrincipal, session: SessionDep) -> Response:
    task = _owned(session, principal, task_id)
    tasks_service.delete_task(session, task)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
