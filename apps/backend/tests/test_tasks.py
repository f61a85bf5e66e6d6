"""Tasks: CRUD, filters, sorting, pagination, and isolation between users."""

from __future__ import annotations

import time

import pytest
from helpers import sign_up

API = "/api/v1/tasks"


def _create(client, headers, **fields):
    body = {"title": "task"} | fields
    response = client.post(API, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def _titles(client, headers, **params):
    response = client.get(API, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [t["title"] for t in response.json()["items"]]


def test_create_with_defaults_and_read_back(client, user):
    task = _create(client, user, title="Buy milk")
    assert task["title"] == "Buy milk"
    assert task["description"] is None
    assert task["completed"] is False
    assert task["priority"] == "medium"
    assert task["due_date"] is None
    assert task["created_at"] == task["updated_at"]
    assert set(task) == {
        "id",
        "title",
        "description",
        "completed",
        "priority",
        "due_date",
        "created_at",
        "updated_at",
    }
    assert client.get(f"{API}/{task['id']}", headers=user).json() == task


def test_create_with_every_field(client, user):
    task = _create(
        client,
        user,
        title="Pay rent",
        description="before the 5th",
        priority="high",
        due_date="2030-02-01",
    )
    assert (task["description"], task["priority"], task["due_date"]) == (
        "before the 5th",
        "high",
        "2030-02-01",
    )


def test_patch_is_partial_and_touches_updated_at(client, user):
    task = _create(
        client, user, title="Old", description="keep me", priority="low", due_date="2030-01-01"
    )
    time.sleep(0.01)
    response = client.patch(f"{API}/{task['id']}", json={"title": "New"}, headers=user)
    assert response.status_code == 200
    updated = response.json()
    assert updated["title"] == "New"
    assert (updated["description"], updated["priority"], updated["due_date"]) == (
        "keep me",
        "low",
        "2030-01-01",
    )
    assert updated["updated_at"] > task["updated_at"]
    assert updated["created_at"] == task["created_at"]


def test_patch_null_clears_optional_fields(client, user):
    task = _create(client, user, description="d", due_date="2030-01-01")
    updated = client.patch(
        f"{API}/{task['id']}", json={"description": None, "due_date": None}, headers=user
    )
    assert updated.json()["description"] is None and updated.json()["due_date"] is None


def test_toggle_complete(client, user):
    task = _create(client, user)
    done = client.patch(f"{API}/{task['id']}", json={"completed": True}, headers=user).json()
    assert done["completed"] is True
    undone = client.patch(f"{API}/{task['id']}", json={"completed": False}, headers=user).json()
    assert undone["completed"] is False


def test_delete_then_404(client, user):
    task = _create(client, user)
    assert client.delete(f"{API}/{task['id']}", headers=user).status_code == 204
    assert client.get(f"{API}/{task['id']}", headers=user).status_code == 404
    assert client.delete(f"{API}/{task['id']}", headers=user).status_code == 404


def test_list_filters_by_status_priority_and_text(client, user):
    _create(client, user, title="Buy milk", priority="high")
    _create(client, user, title="Call mom", description="about the MILK delivery", priority="low")
    done = _create(client, user, title="File taxes", priority="high")
    client.patch(f"{API}/{done['id']}", json={"completed": True}, headers=user)

    assert sorted(_titles(client, user)) == ["Buy milk", "Call mom", "File taxes"]
    assert sorted(_titles(client, user, status="all")) == ["Buy milk", "Call mom", "File taxes"]
    assert sorted(_titles(client, user, status="pending")) == ["Buy milk", "Call mom"]
    assert _titles(client, user, status="completed") == ["File taxes"]
    assert sorted(_titles(client, user, priority="high")) == ["Buy milk", "File taxes"]
    assert _titles(client, user, priority="high", status="pending") == ["Buy milk"]
    # Case-insensitive, title or description.
    assert sorted(_titles(client, user, q="milk")) == ["Buy milk", "Call mom"]
    assert _titles(client, user, q="TAXES") == ["File taxes"]
    assert _titles(client, user, q="nothing like this") == []


def test_search_treats_like_wildcards_literally(client, user):
    _create(client, user, title="100% done")
    _create(client, user, title="100 percent")
    _create(client, user, title="snake_case")
    _create(client, user, title="snakeXcase")
    assert _titles(client, user, q="100%") == ["100% done"]
    assert _titles(client, user, q="e_c") == ["snake_case"]
    assert _titles(client, user, q="%") == ["100% done"]


def test_sorting(client, user):
    _create(client, user, title="b", priority="low", due_date="2030-03-01")
    _create(client, user, title="C", priority="high")
    _create(client, user, title="a", priority="medium", due_date="2030-01-01")

    assert _titles(client, user) == ["a", "C", "b"]  # default: newest first
    assert _titles(client, user, sort="created_at") == ["b", "C", "a"]
    assert _titles(client, user, sort="title") == ["a", "b", "C"]  # case-insensitive
    assert _titles(client, user, sort="-title") == ["C", "b", "a"]
    assert _titles(client, user, sort="priority") == ["b", "a", "C"]
    assert _titles(client, user, sort="-priority") == ["C", "a", "b"]
    assert _titles(client, user, sort="due_date") == ["a", "b", "C"]  # undated last
    assert _titles(client, user, sort="-due_date") == ["b", "a", "C"]  # undated last here too


def test_pagination_with_total(client, user):
    for i in range(7):
        _create(client, user, title=f"t{i}")
    page = client.get(
        API, params={"limit": 3, "offset": 0, "sort": "created_at"}, headers=user
    ).json()
    assert [t["title"] for t in page["items"]] == ["t0", "t1", "t2"] and page["total"] == 7
    page = client.get(
        API, params={"limit": 3, "offset": 6, "sort": "created_at"}, headers=user
    ).json()
    assert [t["title"] for t in page["items"]] == ["t6"] and page["total"] == 7
    page = client.get(API, params={"limit": 3, "offset": 50}, headers=user).json()
    assert page == {"items": [], "total": 7}
    page = client.get(API, params={"status": "completed", "offset": 5}, headers=user).json()
    assert page == {"items": [], "total": 0}
    default = client.get(API, headers=user).json()
    assert len(default["items"]) == 7 and default["total"] == 7


def test_every_endpoint_needs_a_session(client, user):
    task = _create(client, user)
    calls = [
        ("GET", API, None),
        ("POST", API, {"title": "x"}),
        ("GET", f"{API}/{task['id']}", None),
        ("PATCH", f"{API}/{task['id']}", {"title": "x"}),
        ("DELETE", f"{API}/{task['id']}", None),
    ]
    for method, url, body in calls:
        assert client.request(method, url, json=body).status_code == 401, (method, url)


# ---------------------------------------------------------------- isolation


@pytest.fixture
def alice_and_bob(client):
    _, alice = sign_up(client)
    _, bob = sign_up(client)
    task = _create(client, alice, title="Alice's secret", description="private")
    return alice, bob, task


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("GET", None),
        ("PATCH", {"title": "pwned"}),
        ("PATCH", {"completed": True}),
        ("DELETE", None),
    ],
)
def test_other_users_task_is_404_and_untouched(client, alice_and_bob, method, body):
    alice, bob, task = alice_and_bob
    response = client.request(method, f"{API}/{task['id']}", json=body, headers=bob)
    assert response.status_code == 404
    # Exactly the answer for an id that does not exist at all: ids do not leak.
    missing = client.request(method, f"{API}/{task['id'] + 1000}", json=body, headers=bob)
    assert missing.status_code == 404 and missing.json() == response.json()
    assert client.get(f"{API}/{task['id']}", headers=alice).json() == task


def test_lists_only_show_own_tasks(client, alice_and_bob):
    alice, bob, _ = alice_and_bob
    _create(client, bob, title="Bob's")
    assert _titles(client, bob) == ["Bob's"]
    assert _titles(client, bob, q="secret") == []
    assert client.get(API, headers=bob).json()["total"] == 1
    assert _titles(client, alice) == ["Alice's secret"]


def test_create_cannot_target_another_user(client, alice_and_bob):
    alice, bob, _ = alice_and_bob
    response = client.post(API, json={"title": "x", "user_id": 1}, headers=bob)
    assert response.status_code == 422
    assert client.get(API, headers=alice).json()["total"] == 1


def test_list_items_are_the_same_json_as_single_reads(client, user, db):
    """The list body is built by PostgreSQL, single reads by pydantic: both must write every
    field identically (timestamps in UTC with Z, microseconds only when non-zero; text with
    quotes, backslashes, control and non-ASCII characters)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool
    from todo_api.core.config import normalise_database_url

    tricky = _create(
        client,
        user,
        title='a "quoted" \\ back\tslash é \u2028 </script>',
        description="line\nbreak \x01 ctrl",
        priority="high",
        due_date="2030-02-01",
    )
    plain = _create(client, user, title="plain")
    engine = create_engine(normalise_database_url(db.url), poolclass=NullPool)
    with engine.begin() as conn:  # whole seconds: no fraction in the JSON
        conn.execute(
            text("UPDATE tasks SET updated_at = '2031-05-06 07:08:09+02' WHERE id = :id"),
            {"id": plain["id"]},
        )
    engine.dispose()
    response = client.get(API, headers=user)
    listed = response.json()["items"]
    singles = [client.get(f"{API}/{t['id']}", headers=user) for t in (plain, tricky)]
    assert listed == [single.json() for single in singles]
    assert listed[0]["updated_at"] == "2031-05-06T05:08:09Z"
    for single in singles:  # byte for byte, apart from whitespace between items
        assert single.text in response.text


@pytest.mark.parametrize(
    "stored",
    [
        "2031-05-06 07:08:09.12+02",  # trailing zeros: pydantic writes all six digits
        "2031-05-06 07:08:09.000001+00",
        "2031-12-31 23:59:59.999999-10",  # a new year in UTC
        "2032-01-01 09:30:00+14",  # whole seconds: no fraction at all
        "1970-01-01 00:00:00.5+00",
    ],
)
def test_list_timestamps_are_written_as_pydantic_writes_them(client, user, db, stored):
    """Whatever the fraction and offset, and whatever time zone the database session runs
    in, the list (JSON from PostgreSQL) and a single read (pydantic) write the same string."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool
    from todo_api.core.config import normalise_database_url

    task = _create(client, user, title="stamp")
    admin = create_engine(normalise_database_url(db.url), poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(
            text("UPDATE tasks SET created_at = :at, updated_at = :at WHERE id = :id"),
            {"at": stored, "id": task["id"]},
        )
    try:
        with admin.begin() as conn:  # new pooled connections of the app start in this zone
            conn.execute(text(f'ALTER ROLE "{db.role}" SET timezone = \'America/St_Johns\''))
        client.app.state.engine.dispose()
        listed = client.get(API, headers=user).json()["items"]
        single = client.get(f"{API}/{task['id']}", headers=user).json()
        assert listed == [single]
        assert listed[0]["created_at"] == listed[0]["updated_at"]
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'ALTER ROLE "{db.role}" RESET timezone'))
        client.app.state.engine.dispose()
        admin.dispose()
