"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware on every request).

RequestContextMiddleware: takes a sane X-Request-ID from the client (the Ingress may set one)
or makes one, exposes it to log records, echoes it in the response and writes one access log
line per request. Query strings are not logged.

BodySizeLimitMiddleware: refuses bodies above a limit with 413, whether the client declares
Content-Length or streams chunks.

SecurityHeadersMiddleware: CSP, X-Frame-Options, nosniff and Referrer-Policy on every
response (a response that brings its own CSP, the docs page, keeps it).

EarlyThrottleMiddleware: answers 429 for throttled paths before the request is routed or its
body read, so a flood of refused attempts costs next to nothing.

OriginCheckMiddleware: refuses unsafe methods (POST, PATCH, DELETE, ...) whose Origin is
neither the request's own host nor a configured origin: with the session in a cookie, a
page on another site must not be able to make the browser change anything. Requests
without Origin (curl, server-side fetches, Bearer clients) pass: browsers always send it on
cross-origin unsafe requests.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .core.logging_setup import request_id_var

access_log = logging.getLogger("todo_api.access")
# Request ids need to be unique, not secret: a PRNG seeded once from the OS. uuid4() would read
# os.urandom on every request, a system call that gives up the GIL on the event loop and, on a
# busy server, waits to get it back from the request threads.
_request_ids = random.Random()  # noqa: S311 - identifiers, not secrets
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

MAX_BODY_BYTES = 1024 * 1024

# An API answers JSON: nothing in a response may load, run or frame anything.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _send_json(
    send: Send, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = (
            incoming
            if incoming and _REQUEST_ID_RE.match(incoming)
            else f"{_request_ids.getrandbits(128):032x}"
        )
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_log.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)


class BodyTooLarge(HTTPException):
    """Raised from receive(); an HTTPException so FastAPI's body parsing passes it through."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"Request body too large (limit {max_bytes} bytes)")


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Send) -> None:
        await _send_json(send, 413, f"Request body too large (limit {self.max_bytes} bytes)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._reject(send)
                    return
                break

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self._reject(send)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"content-security-policy" for name, _ in headers):
                    headers.append((b"content-security-policy", API_CSP.encode()))
                headers.extend(SECURITY_HEADERS)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _host_port(netloc: str, scheme: str) -> str:
    """host[:port] in lower case, without the scheme's default port."""
    netloc = netloc.strip().lower()
    default = {"http": ":80", "https": ":443"}.get(scheme)
    if default and netloc.endswith(default):
        netloc = netloc[: -len(default)]
    return netloc


class OriginCheckMiddleware:
    def __init__(self, app: ASGIApp, allowed_origins: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.allowed_origins = allowed_origins

    def _allowed(self, origin: str, host: str) -> bool:
        origin = origin.strip().lower()
        if origin in self.allowed_origins:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # includes "null" (sandboxed frames, opaque redirects)
        # Same host and port as the request, whatever the scheme: behind a TLS-terminating
        # Ingress the page is https while this request arrives as http.
        mine = _host_port(host, "https") if host else ""
        return _host_port(parts.netloc, parts.scheme) in {mine, _host_port(host, "http")}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        origin = host = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"host":
                host = value.decode("latin-1")
        if origin is not None and not self._allowed(origin, host or ""):
            access_log.warning("cross-origin request refused", extra={"path": scope.get("path")})
            await _send_json(send, 403, "Cross-origin request refused")
            return
        await self.app(scope, receive, send)


class EarlyThrottleMiddleware:
    """`wait_for(scope)` says how many seconds the request must wait (0: let it through) for
    POSTs to `paths`."""

    def __init__(
        self, app: ASGIApp, paths: frozenset[str], wait_for: Callable[[Scope], int]
    ) -> None:
        self.app = app
        self.paths = paths
        self.wait_for = wait_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.paths:
            wait = self.wait_for(scope)
            if wait:
                await _send_json(
                    send,
                    429,
                    f"Too many sign-in attempts from your address. Try again in {wait} s.",
                    ((b"retry-after", str(wait).encode()),),
                )
                return
        await self.app(scope, receive, send)
