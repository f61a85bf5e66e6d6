"""The task list's fast path (api/fast_list.py) against the FastAPI route it stands in for.

Two apps on one database: the real one, and one built without the fast path. Every query
string, valid or not, must get the same status, body and headers from both; and the fast
path must really answer the valid ones itself (counted at the app it falls back to), and
leave every other one to the route.
"""

from __future__ import annotations

import asyncio
import threading

import anyio.to_thread
import pytest
from helpers import sign_up
from todo_api.api.fast_list import TaskListFastPath, in_db_thread, list_executor

API = "/api/v1/tasks"

# Query strings as a client sends them (raw, so repeated names and odd encodings stay).
ANSWERED_BY_FAST_PATH = [
    "",
    "limit=100",
    "limit=1&offset=2",
    "offset=10000",  # the deepest page (issue 20: LIST_OFFSET_MAX)
    "status=pending",
    "status=completed&sort=priority",
    "priority=high&sort=-due_date",
    "sort=title",
    "sort=-title&limit=3&offset=1",
    "sort=updated_at",
    "q=caf%C3%A9",
    "q=%22quoted%22",
    "q=100%25",
    "q=under_score",
    "q=",
    "q=%20%20",
    "q=" + "x" * 200,
    "limit=+5",
    "limit=%205",
    "offset=0005",
    "unknown=1&limit=2",
]
LEFT_TO_THE_ROUTE = [
    "status=done",
    "priority=urgent",
    "priority=",
    "sort=id",
    "limit=0",
    "limit=101",
    "limit=ten",
    "limit=",
    "limit=5.5",
    "offset=-1",
    "offset=10001",
    "q=" + "x" * 201,
    "q=a%00b",
    "limit=2&limit=3",
    "status=pending&status=completed",
]


class CountingApp:
    """Counts the requests that reach the app behind the fast path."""

    def __init__(self, app) -> None:
        self.app = app
        self.calls = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            self.calls += 1
        await self.app(scope, receive, send)


def _count_behind_fast_path(client) -> CountingApp:
    client.get("/api/v1/health")  # the middleware stack is built on the first request
    layer = client.app.middleware_stack
    while not isinstance(layer, TaskListFastPath):
        layer = layer.app
    layer.app = CountingApp(layer.app)
    return layer.app


@pytest.fixture
def clients(db, make_client):
    """(the real app, the same app without the fast path), on one database."""
    fast = make_client(db.url)
    plain = make_client(db.url)
    plain.app.user_middleware = [m for m in plain.app.user_middleware if m.cls is not TaskListFastPath]
    return fast, plain


@pytest.fixture
def owner(clients):
    fast, _ = clients
    _, headers = sign_up(fast)
    for i, (title, priority) in enumerate(
        [("café au lait", "high"), ('"quoted" 100% under_score', "low"), ("plain", "medium")] * 3
    ):
        body = {"title": f"{title} {i}", "priority": priority, "due_date": f"2030-01-{i + 1:02d}"}
        task = fast.post(API, json=body, headers=headers).json()
        if i % 2:
            fast.patch(f"{API}/{task['id']}", json={"completed": True}, headers=headers)
    return headers


@pytest.fixture
def behind(clients, owner) -> CountingApp:
    """Counts what reaches the route (from here on: the owner's tasks are in place)."""
    return _count_behind_fast_path(clients[0])


def _same(fast_response, plain_response) -> None:
    assert fast_response.status_code == plain_response.status_code
    assert fast_response.content == plain_response.content

    def headers(response):
        return sorted((k, v) for k, v in response.headers.items() if k != "x-request-id")

    assert headers(fast_response) == headers(plain_response)
    assert fast_response.headers["x-request-id"]


@pytest.mark.parametrize("query", ANSWERED_BY_FAST_PATH)
def test_fast_path_answers_valid_queries_like_the_route(clients, owner, behind, query):
    fast, plain = clients
    fast_response = fast.get(f"{API}?{query}", headers=owner)
    assert fast_response.status_code == 200, fast_response.text
    assert behind.calls == 0, "the route answered, not the fast path"
    _same(fast_response, plain.get(f"{API}?{query}", headers=owner))


@pytest.mark.parametrize("query", LEFT_TO_THE_ROUTE)
def test_fast_path_leaves_queries_it_does_not_accept_to_the_route(clients, owner, behind, query):
    fast, plain = clients
    fast_response = fast.get(f"{API}?{query}", headers=owner)
    assert behind.calls == 1
    _same(fast_response, plain.get(f"{API}?{query}", headers=owner))
    if not query.startswith(("limit=2&", "status=pending&")):  # repeated names: the last counts
        assert fast_response.status_code == 422


def test_fast_path_leaves_unauthenticated_requests_to_the_route(clients, owner):
    fast, plain = clients
    _, other = sign_up(fast)
    fast.post("/api/v1/auth/logout", headers=other)  # a valid token of a dead session
    behind = _count_behind_fast_path(fast)
    cases = [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic dXNlcjpwdw=="},
        {"Authorization": owner["Authorization"] + "x"},
        other,
    ]
    for headers in cases:
        fast_response = fast.get(API, headers=headers)
        assert fast_response.status_code == 401, (headers, fast_response.text)
        _same(fast_response, plain.get(API, headers=headers))
    assert behind.calls == len(cases)


def test_fast_path_takes_the_session_cookie_too(clients, owner, behind):
    fast, plain = clients
    token = owner["Authorization"].removeprefix("Bearer ")
    fast.cookies.set("todo_session", token)
    plain.cookies.set("todo_session", token)
    fast_response = fast.get(API)
    assert fast_response.status_code == 200 and behind.calls == 0
    _same(fast_response, plain.get(API))


def test_fast_path_sees_writes_at_once(clients, owner):
    """No caching: the owner's next list shows what they just changed."""
    fast, _ = clients
    before = fast.get(API, params={"limit": 100}, headers=owner).json()
    task = fast.post(API, json={"title": "just now"}, headers=owner).json()
    after = fast.get(API, params={"limit": 100}, headers=owner).json()
    assert after["total"] == before["total"] + 1 and after["items"][0] == task
    fast.delete(f"{API}/{task['id']}", headers=owner)
    assert fast.get(API, params={"limit": 100}, headers=owner).json() == before


def test_list_threads_hold_a_limiter_token_until_their_query_is_done():
    """The fast path's threads count against the limiter FastAPI's sync endpoints use (so
    database threads stay within DB_POOL_SIZE), and a request that goes away does not give
    its token back while its query still runs."""

    async def scenario() -> None:
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = 1
        executor = list_executor(2)
        release = threading.Event()
        started: list[int] = []

        def query(n: int) -> int:
            started.append(n)
            release.wait(5)
            return n

        first = asyncio.create_task(in_db_thread(executor, query, 1))
        await asyncio.sleep(0.2)
        second = asyncio.create_task(in_db_thread(executor, query, 2))
        await asyncio.sleep(0.2)
        assert started == [1]  # the second waits for the token, not for a thread
        first.cancel()
        await asyncio.sleep(0.2)
        assert started == [1] and limiter.borrowed_tokens == 1
        release.set()
        assert await asyncio.wait_for(second, 5) == 2
        assert started == [1, 2]
        executor.shutdown()

    asyncio.run(scenario())
