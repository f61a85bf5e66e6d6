"""Liveness never touches the database; readiness runs SELECT 1 with a short deadline."""

from __future__ import annotations

import asyncio
import logging

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ... import __version__
from ...core.db import describe_db_error, ping
from ...schemas import Health, Readiness

router = APIRouter(prefix="/health", tags=["health"])
log = logging.getLogger("todo_api.health")


@router.get("", response_model=Health)
async def liveness() -> Health:
    return Health(status="ok", version=__version__)


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
async def readiness(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    if request.app.state.stopping.is_set():
        # Draining after SIGTERM: take this pod out of the Service before it goes away.
        return JSONResponse(Readiness(status="unavailable", database="unknown").model_dump(), status_code=503)
    # The connect timeout bounds a new connection; this bounds everything, including a
    # pooled connection whose peer went silent.
    deadline = settings.db_connect_timeout_seconds + 1
    try:
        # Its own small thread limiter: a server busy with requests must still answer probes.
        # abandon_on_cancel: at the deadline we answer, even if the thread is still stuck.
        probe = anyio.to_thread.run_sync(
            ping,
            request.app.state.engine,
            limiter=request.app.state.probe_limiter,
            abandon_on_cancel=True,
        )
        await asyncio.wait_for(probe, timeout=deadline)
    except TimeoutError:
        reason = f"database did not answer within {deadline} s"
    except Exception as exc:
        reason = describe_db_error(exc)
    else:
        return JSONResponse(Readiness(status="ok", database="ok").model_dump())
    # The reason is for operators (logs), not for whoever can reach the public Ingress.
    log.warning("not ready", extra={"reason": reason})
    body = Readiness(status="unavailable", database="unavailable")
    return JSONResponse(body.model_dump(), status_code=503)
