"""Exception handlers: every error is JSON {detail: ...}.

- 422: FastAPI's list of {loc, msg, type}, where loc names the field; the submitted value
  ("input") is left out so a password typed into the wrong field is not echoed or logged.
- 503: the database is unreachable (connect refused/timeout, connection lost, pool empty), or
  a statement ran past DB_STATEMENT_TIMEOUT_MS and was cancelled; both with Retry-After.
- 405: Allow names every method the path has (Starlette names only those of the first
  route it tried, and the path's other methods are separate routes).
- 500: anything unexpected; logged with the request id, the client gets no internals.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from .core.db import describe_db_error, is_connection_problem, is_statement_timeout

log = logging.getLogger("todo_api.errors")

DB_UNAVAILABLE_DETAIL = "The database is unavailable right now. Try again in a moment."
STATEMENT_TIMEOUT_DETAIL = (
    "The request took too long in the database and was stopped. Try again, or narrow it."
)


def _validation_items(exc: RequestValidationError) -> list[dict[str, object]]:
    items = []
    for error in exc.errors():
        items.append(
            {
                "loc": list(error.get("loc", ())),
                "msg": str(error.get("msg", "invalid value")),
                "type": error.get("type", "value_error"),
            }
        )
    return items


async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": _validation_items(exc)})


async def method_not_allowed_handler(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 405:
        methods: set[str] = set()
        for route in request.app.router.routes:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= getattr(route, "methods", None) or set()
        exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(methods))}
    return await http_exception_handler(request, exc)


def database_unavailable_response(exc: BaseException) -> JSONResponse:
    log.warning("database unavailable", extra={"reason": describe_db_error(exc)})
    return JSONResponse(
        status_code=503,
        content={"detail": DB_UNAVAILABLE_DETAIL},
        headers={"Retry-After": "5"},
    )


async def db_error_handler(request: Request, exc: Exception) -> JSONResponse:
    if is_statement_timeout(exc):
        log.warning("statement timeout", extra={"path": request.url.path})
        return JSONResponse(
            status_code=503,
            content={"detail": STATEMENT_TIMEOUT_DETAIL},
            headers={"Retry-After": "5"},
        )
    if is_connection_problem(exc):
        return database_unavailable_response(exc)
    log.error("database error", extra={"error": type(exc).__name__})
    return JSONResponse(status_code=500, content={"detail": "Internal server error"})


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", extra={"error": type(exc).__name__})
    return JSONResponse(status_code=500, content={"detail": "Internal server error"})


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, method_not_allowed_handler)  # type: ignore[arg-type]
    app.add_exception_handler(DBAPIError, db_error_handler)
    app.add_exception_handler(PoolTimeoutError, db_error_handler)
    app.add_exception_handler(Exception, unhandled_error_handler)
