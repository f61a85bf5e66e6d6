"""The answers an operation can give besides its own, declared once for the OpenAPI document.

Routes (or whole routers) spread these into `responses=` by what they do: authenticate,
take a body, change something, touch the database. The answers come from dependencies,
middleware and exception handlers shared by every route, so their descriptions live here
with them rather than in each route. Route-specific answers are declared at the route.
"""

from __future__ import annotations

from typing import Any

from ..middleware import MAX_BODY_BYTES
from ..schemas import ErrorMessage

Responses = dict[int | str, dict[str, Any]]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorMessage, "description": description}


# deps.get_principal and its session check (no token, or an expired, forged or ended session).
AUTHENTICATED: Responses = {401: _error("Not signed in: no valid session token or cookie")}

# FastAPI's body parsing (400; a malformed JSON body is a 422 naming it) and
# middleware.BodySizeLimitMiddleware (413).
WITH_BODY: Responses = {
    400: _error("The body could not be parsed"),
    413: _error(f"The body is larger than {MAX_BODY_BYTES} bytes"),
}

# middleware.OriginCheckMiddleware, on every unsafe method.
CHANGES: Responses = {403: _error("Cross-origin request refused: the Origin is not allowed")}

# errors.py: the database is unreachable or a statement ran past DB_STATEMENT_TIMEOUT_MS.
DATABASE: Responses = {
    503: _error("The database is unavailable or the statement took too long (see Retry-After)")
}
