"""The FastAPI application factory.

`todo-api serve` runs uvicorn with `todo_api.main:create_app` as a factory, so every worker
process builds its own engine and HTTP client. Nothing here connects to the database at
start: a warm-up thread tries for a while and only logs, so the API starts (and liveness
answers) while the database is still down.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import sessionmaker

from . import __version__, errors, tasks_service
from .api.docs_page import swagger_page
from .api.fast_list import TaskListFastPath, list_executor
from .api.hashing import HashQueue
from .api.routes import assistant, auth, health, tasks
from .api.throttle import Throttles
from .assistant.openai_client import ChatCompletionsClient
from .core.config import ConfigError, Settings, get_settings
from .core.db import build_engine, wait_for_database
from .core.logging_setup import configure_logging
from .middleware import (
    BodySizeLimitMiddleware,
    EarlyThrottleMiddleware,
    OriginCheckMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from .shutdown import watch_for_shutdown

log = logging.getLogger("todo_api")

WARMUP_SECONDS = 60
OPENAPI_URL = "/api/openapi.json"
DOCS_URL = "/api/docs"


APP_INFO: dict[str, str] = {
    "title": "Todo API",
    "version": __version__,
    "description": "Tasks, accounts and an AI assistant for the Todo application.",
}


def _api_router() -> APIRouter:
    api = APIRouter(prefix="/api/v1")
    for module in (health, auth, tasks, assistant):
        api.include_router(module.router)
    return api


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, as /api/openapi.json serves it, without settings or a
    database: the routes alone decide it. The frontend's API types are generated from it
    (`make api-types`; tests/test_openapi_contract.py fails when they are stale)."""
    app = FastAPI(**APP_INFO, openapi_url=OPENAPI_URL)
    app.include_router(_api_router())
    return app.openapi()


def _openai_client(settings: Settings) -> ChatCompletionsClient | None:
    if settings.openai_api_key is None:
        return None
    return ChatCompletionsClient(
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key.get_secret_value(),
        model=settings.openai_model,
        timeout_seconds=settings.openai_timeout_seconds,
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    # Sync endpoints run in anyio's thread pool and each uses one pooled connection at a
    # time, in its thread. Matching the threads to DB_POOL_SIZE makes excess requests queue
    # cheaply on the event loop instead of waiting on (or churning) database connections;
    # DB_MAX_OVERFLOW stays headroom for readiness probes and the start-up check.
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings.db_pool_size
    app.state.probe_limiter = anyio.CapacityLimiter(2)
    app.state.hash_queue = HashQueue(
        settings.password_hash_concurrency, settings.password_hash_queue
    )
    # The task list's fast path (api/fast_list.py) runs on these, within the same limiter.
    app.state.list_executor = list_executor(settings.db_pool_size)
    watch_for_shutdown(app.state.stopping)
    stop = threading.Event()
    warmup = threading.Thread(
        target=wait_for_database,
        args=(app.state.engine, WARMUP_SECONDS, stop),
        name="db-warmup",
        daemon=True,
    )
    warmup.start()
    log.info(
        "todo-api started",
        extra={
            "version": __version__,
            "environment": app.state.settings.environment,
            "assistant": app.state.settings.assistant_enabled,
        },
    )
    try:
        yield
    finally:
        stop.set()
        app.state.list_executor.shutdown(wait=False)
        if app.state.openai_client is not None:
            await app.state.openai_client.aclose()
        app.state.engine.dispose()
        log.info("todo-api stopped")


def create_app(settings: Settings | None = None, *, configure_logs: bool = True) -> FastAPI:
    if settings is None:
        try:
            settings = get_settings()
        except ConfigError as exc:
            # Under a bare `uvicorn --factory` there is no CLI to print this for us.
            print(f"todo-api: configuration error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    if configure_logs:
        configure_logging(settings.log_level, settings.secret_values())

    app = FastAPI(
        **APP_INFO,
        # API_DOCS_ENABLED (default: on in dev only) switches both the document and its UI.
        openapi_url=OPENAPI_URL if settings.docs_enabled else None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    if settings.docs_enabled:
        _install_docs(app)
    engine = build_engine(settings, statement_timeout_ms=settings.db_statement_timeout_ms)
    app.state.settings = settings
    app.state.stopping = threading.Event()
    app.state.engine = engine
    app.state.read_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    # The per-user task cap travels with every session, so each writer of tasks (the routes
    # and the assistant's tools) enforces the same one (tasks_service.create_task).
    app.state.session_factory = sessionmaker(
        engine,
        expire_on_commit=False,
        info={tasks_service.MAX_TASKS_INFO: settings.max_tasks_per_user},
    )
    app.state.openai_client = _openai_client(settings)
    app.state.throttles = Throttles.from_settings(settings)

    errors.install(app)
    api = _api_router()
    app.include_router(api)

    # Added innermost first: the request id and the security headers cover the 403 and 413
    # answers and the fast task list too.
    app.add_middleware(TaskListFastPath, path=f"{api.prefix}{tasks.router.prefix}")
    app.add_middleware(
        EarlyThrottleMiddleware,
        paths=frozenset(f"{api.prefix}{auth.router.prefix}{p}" for p in ("/login", "/register")),
        wait_for=app.state.throttles.address_wait,
    )
    app.add_middleware(BodySizeLimitMiddleware)
    app.add_middleware(OriginCheckMiddleware, allowed_origins=settings.allowed_origin_set)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware)
    return app


def _install_docs(app: FastAPI) -> None:
    page, csp = swagger_page(OPENAPI_URL, f"{app.title} - Swagger UI")

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": csp})
