"""GET /api/v1/tasks without FastAPI's per-request machinery, for the requests it can answer.

The task list is the UI's hot path. Its database work is one round trip whose body
PostgreSQL builds (tasks_service.list_tasks_json); profiled under load, most of the rest of
its CPU time went to FastAPI itself: routing, solving the dependency tree (settings,
HTTPBearer, principal, engine) and validating six query parameters one by one, plus
FastAPI's own middleware layers. This ASGI middleware answers the list directly when the
request is one the route would answer 200: a token that verifies, query parameters that
TaskListQuery accepts (the model the route declares its query with), each named at most once,
and a live session. It uses the route's own pieces (get_principal, list_page); the answer is
byte for byte the route's.

The query runs on a thread of the app's list executor, holding a token of anyio's default
thread limiter (the one FastAPI's sync endpoints use) from submit until the thread is done:
database threads stay within DB_POOL_SIZE as before. A plain executor hop costs the event
loop far less than anyio.to_thread.run_sync (measured in process at 16 concurrent lists:
about half the wall time per request, a quarter less CPU).

Everything else goes on to FastAPI unchanged: no or a bad token (401), a query the model
refuses (the route's 422 names the field), a dead session (list_page says 401; the route
asks again and answers it). Database errors get the app's own handler (503 with
Retry-After), without a second attempt. It sits innermost among our middlewares, so the
request id, access log line and security headers cover it as they cover the route.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import anyio.to_thread
from fastapi import HTTPException, Request
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import errors
from ..schemas import TaskListQuery
from .deps import bearer_scheme, get_principal, request_token
from .routes.tasks import list_page

R = TypeVar("R")


def list_executor(pool_size: int) -> ThreadPoolExecutor:
    """The list's threads (the app's lifespan owns them); the limiter bounds them anyway."""
    return ThreadPoolExecutor(pool_size, thread_name_prefix="task-list")


async def in_db_thread(executor: ThreadPoolExecutor, fn: Callable[..., R], *args: object) -> R:
    limiter = anyio.to_thread.current_default_thread_limiter()
    borrower = object()
    await limiter.acquire_on_behalf_of(borrower)
    loop = asyncio.get_running_loop()
    try:
        # In the request's context, as anyio's threads run (the request id in log lines).
        future: Future[R] = executor.submit(contextvars.copy_context().run, fn, *args)
    except BaseException:
        limiter.release_on_behalf_of(borrower)
        raise
    # Released when the thread is done, not when the awaiting task is: a cancelled request
    # does not free a token while its query still holds a connection.
    future.add_done_callback(lambda _: loop.call_soon_threadsafe(limiter.release_on_behalf_of, borrower))
    return await asyncio.wrap_future(future)


class TaskListFastPath:
    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == self.path:
            response = await self._answer(Request(scope))
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _answer(self, request: Request) -> Response | None:
        """The route's answer, or None to let the route give it."""
        state = request.app.state
        executor = getattr(state, "list_executor", None)
        if executor is None:  # served without its lifespan
            return None
        try:
            token = request_token(request, await bearer_scheme(request))
            principal = await get_principal(state.settings, token)
        except HTTPException:
            return None
        query = request.query_params
        if len(query) != len(query.multi_items()):
            return None  # a repeated name: the route's reading of it decides
        try:
            params = TaskListQuery.model_validate(dict(query))
        except ValidationError:
            return None
        try:
            body = await in_db_thread(executor, list_page, state.read_engine, principal, params)
        except HTTPException:
            return None
        except (DBAPIError, PoolTimeoutError) as exc:
            return await errors.db_error_handler(request, exc)
        return Response(body, media_type="application/json")
