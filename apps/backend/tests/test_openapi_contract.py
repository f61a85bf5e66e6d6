"""The OpenAPI document is a contract a tool can trust: schemathesis generates requests from
it (valid ones and, for the negative checks, invalid ones) and checks every answer against
it, on the real app and a real PostgreSQL: status codes documented, bodies and headers as
declared, schema-valid requests accepted, invalid ones refused, auth enforced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from helpers import sign_up
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import negative_data_rejection
from todo_api.main import OPENAPI_URL, create_app, openapi_document

# The frontend's copy, from which it generates its API types (apps/frontend/src/generated).
FRONTEND_COPY = Path(__file__).resolve().parents[2] / "frontend/src/generated/openapi.json"

schema = schemathesis.openapi.from_dict(openapi_document())


def test_the_served_document_is_the_one_the_routes_make(db, make_client):
    client = make_client(db.url, api_docs_enabled=True)
    assert client.get(OPENAPI_URL).json() == openapi_document()


def test_the_frontends_copy_of_the_document_is_current():
    assert json.loads(FRONTEND_COPY.read_text()) == openapi_document(), (
        "the API changed: run `make api-types` and commit apps/frontend/src/generated"
    )


def test_every_authenticated_operation_names_both_ways_in():
    security = {"HTTPBearer", "SessionCookie"}
    for path, operations in openapi_document()["paths"].items():
        for method, operation in operations.items():
            if "security" in operation:
                schemes = {name for requirement in operation["security"] for name in requirement}
                assert schemes == security, f"{method} {path}"


@pytest.fixture
def api(db, make_settings, assistant_settings):
    """The real app on the test database (its assistant on the OpenAI fake), its lifespan run
    by schemathesis's ASGI client (the client the generated requests go through), and a
    signed-in user's Bearer header."""
    app = create_app(make_settings(db.url, **assistant_settings), configure_logs=False)
    with asgi.get_client(app) as client:
        headers = sign_up(client)[1]
        yield app, client, headers
    # Ends the lifespan (the engine's connections) before the db fixture empties the tables.
    asgi.shutdown_lifespans()


# A dozen operations, bounded so the module adds about 20 s; derandomized (and no example
# database written into the tree) so a run is repeatable. Raise max_examples locally to explore.
@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_the_api_answers_as_its_document_says(case, api):
    app, client, headers = api
    # The document is loaded once, without an app; each test's app receives its requests,
    # the checks' own follow-up requests (e.g. the same call without credentials) included.
    case.operation.schema.app = case.operation.app = app
    # FastAPI reads a repeated query parameter as its last value (test_fast_list holds the fast
    # path to the same); OpenAPI has no way to say so, so such a case need not be refused.
    repeats = any(isinstance(value, list) for value in (case.query or {}).values())
    excluded = [negative_data_rejection] if repeats else []
    case.call_and_validate(session=client, headers=headers, excluded_checks=excluded)
