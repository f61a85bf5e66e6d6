"""Issue 20, item 6: a NUL in any string field of any request body is a 422 naming the
field (PostgreSQL text cannot hold NUL; before, an email with one was a 500 DataError)."""

from __future__ import annotations

import pytest
from helpers import new_credentials
from pydantic import ValidationError
from todo_api import schemas

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"

# A valid body per request model; each of its string fields gets a NUL in turn.
VALID_BODIES: dict[type[schemas.RequestModel], dict[str, object]] = {
    schemas.RegisterRequest: {"email": "a@example.com", "password": "p" * 12, "name": "Ann"},
    schemas.LoginRequest: {"email": "a@example.com", "password": "p" * 12},
    schemas.TaskCreate: {"title": "t", "description": "d"},
    schemas.TaskUpdate: {"title": "t", "description": "d"},
    schemas.ChatRequest: {"message": "hello"},
}


def test_every_request_model_is_covered():
    assert set(schemas.RequestModel.__subclasses__()) == set(VALID_BODIES)


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (model, name)
        for model, body in VALID_BODIES.items()
        for name, value in body.items()
        if isinstance(value, str)
    ],
)
def test_nul_in_any_string_field_is_refused_naming_it(model, field):
    body = dict(VALID_BODIES[model])
    body[field] = f"{body[field]}\x00x"
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    assert [error["loc"][-1] for error in caught.value.errors()] == [field]


@pytest.mark.parametrize("field", ["email", "password"])
def test_nul_in_login_is_422_not_500(client, field):
    creds = new_credentials()
    creds[field] = "a\x00" + creds[field]
    response = client.post(LOGIN, json=creds)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]


@pytest.mark.parametrize("field", ["email", "password", "name"])
def test_nul_in_register_is_422_not_500(client, field):
    creds = {**new_credentials(), "name": "Ann"}
    creds[field] = "b\x00" + creds[field]
    response = client.post(REGISTER, json=creds)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
