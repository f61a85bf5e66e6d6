"""Input handling: every bad field is a 422 naming it; big bodies are refused; unicode and
SQL-looking text are stored and returned exactly as sent."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from todo_api.core.config import normalise_database_url
from todo_api.middleware import MAX_BODY_BYTES

API = "/api/v1/tasks"


def _fields(response) -> list[str]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    for item in detail:
        assert set(item) == {"loc", "msg", "type"}  # no "input": values are not echoed
    return [str(item["loc"][-1]) for item in detail]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 42}, "title"),
        ({"title": None}, "title"),
        ({"title": "nul\x00byte"}, "title"),
        ({"title": "ok", "description": "d" * 2001}, "description"),
        ({"title": "ok", "description": ["list"]}, "description"),
        ({"title": "ok", "priority": "urgent"}, "priority"),
        ({"title": "ok", "priority": None}, "priority"),
        ({"title": "ok", "due_date": "tomorrow"}, "due_date"),
        ({"title": "ok", "due_date": "2030-13-01"}, "due_date"),
        ({"title": "ok", "due_date": 0}, "due_date"),  # a date is a string, as the document says
        ({"title": "ok", "completed": "yes please"}, "completed"),
        ({"title": "ok", "colour": "red"}, "colour"),
    ],
)
def test_create_rejects_bad_field(client, user, body, field):
    assert field in _fields(client.post(API, json=body, headers=user))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"completed": None}, "completed"),
        ({"completed": "maybe"}, "completed"),
        ({"completed": 1}, "completed"),  # true or false only
        ({"completed": "true"}, "completed"),
        ({"due_date": 86400}, "due_date"),
        ({"priority": None}, "priority"),
        ({"priority": "HIGHEST"}, "priority"),
        ({"description": "d" * 2001}, "description"),
        ({"due_date": "01/02/2030"}, "due_date"),
        ({"user_id": 2}, "user_id"),
        ({"id": 5}, "id"),
    ],
)
def test_patch_rejects_bad_field(client, user, body, field):
    task = client.post(API, json={"title": "t"}, headers=user).json()
    assert field in _fields(client.patch(f"{API}/{task['id']}", json=body, headers=user))
    assert client.get(f"{API}/{task['id']}", headers=user).json() == task


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "done"}, "status"),
        ({"priority": "urgent"}, "priority"),
        ({"sort": "id; DROP TABLE tasks"}, "sort"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"q": "q" * 201}, "q"),
    ],
)
def test_list_rejects_bad_query_parameter(client, user, params, field):
    assert field in _fields(client.get(API, params=params, headers=user))


@pytest.mark.parametrize("task_id", ["abc", "0", "-3", str(2**64)])
def test_bad_task_id_is_422(client, user, task_id):
    assert "task_id" in _fields(client.get(f"{API}/{task_id}", headers=user))


def test_limits_are_inclusive(client, user):
    body = {"title": "t" * 200, "description": "d" * 2000}
    response = client.post(API, json=body, headers=user)
    assert response.status_code == 201
    assert (len(response.json()["title"]), len(response.json()["description"])) == (200, 2000)
    assert client.get(API, params={"limit": 100}, headers=user).status_code == 200


def test_malformed_json_is_422(client, user):
    response = client.post(
        API, content=b'{"title": ', headers={**user, "content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_oversized_body_is_413(client, user):
    big = {"title": "x", "description": "d" * (MAX_BODY_BYTES + 10)}
    response = client.post(API, json=big, headers=user)
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]
    assert client.get(API, headers=user).json()["total"] == 0


def test_oversized_chunked_body_without_length_is_413(client, user):
    def chunks():
        yield b'{"title": "x", "description": "'
        for _ in range(40):
            yield b"d" * 65536
        yield b'"}'

    response = client.post(
        API, content=chunks(), headers={**user, "content-type": "application/json"}
    )
    assert response.status_code == 413
    assert client.get(API, headers=user).json()["total"] == 0


UNICODE_TITLES = [
    "Milch kaufen 🥛 — schnell!",
    "牛乳を買う",
    "اشترِ الحليب",  # right-to-left
    "e\u0301 combining accent",
    "\U0001d518\U0001d52b\U0001d526 outside the BMP",  # fraktur letters
    "🧑‍🤝‍🧑" * 20,  # ZWJ sequences: 100 code points
]


@pytest.mark.parametrize("title", UNICODE_TITLES)
def test_unicode_round_trips(client, user, title):
    created = client.post(API, json={"title": title, "description": title * 3}, headers=user)
    assert created.status_code == 201, created.text
    fetched = client.get(f"{API}/{created.json()['id']}", headers=user).json()
    assert fetched["title"] == title and fetched["description"] == title * 3
    assert [
        t["title"] for t in client.get(API, params={"q": title[:4]}, headers=user).json()["items"]
    ] == [title]


def test_title_limit_counts_characters_not_bytes(client, user):
    assert client.post(API, json={"title": "🥛" * 200}, headers=user).status_code == 201
    assert "title" in _fields(client.post(API, json={"title": "🥛" * 201}, headers=user))


SQLISH = [
    "Robert'); DROP TABLE tasks;--",
    "' OR '1'='1",
    "1; DELETE FROM users WHERE 1=1",
    '"; SELECT pg_sleep(5); --',
    "\\x27 \\' %' _ \\",
    "$$ ; COMMIT; $$",
]


@pytest.mark.parametrize("payload", SQLISH)
def test_sql_looking_text_is_stored_verbatim(client, user, db, payload):
    created = client.post(API, json={"title": payload, "description": payload}, headers=user)
    assert created.status_code == 201
    task_id = created.json()["id"]
    got = client.get(f"{API}/{task_id}", headers=user).json()
    assert got["title"] == payload and got["description"] == payload
    found = client.get(API, params={"q": payload}, headers=user).json()
    assert [t["id"] for t in found["items"]] == [task_id]
    patched = client.patch(f"{API}/{task_id}", json={"title": payload + "!"}, headers=user).json()
    assert patched["title"] == payload + "!"
    # The database holds exactly that, and the tables are all still there.
    engine = create_engine(normalise_database_url(db.url), poolclass=NullPool)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT description FROM tasks")).scalar_one() == payload
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 1
    engine.dispose()


def test_transport_level_garbage_does_not_500(client, user):
    response = client.post(
        API, content=b"\xff\xfe not utf-8", headers={**user, "content-type": "application/json"}
    )
    assert response.status_code == 422
    response = client.post(API, content=b"title=x", headers={**user, "content-type": "text/plain"})
    assert response.status_code == 422
