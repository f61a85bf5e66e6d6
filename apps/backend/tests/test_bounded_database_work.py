"""Issue 20, item 4: one user cannot tie up the database. Statements of the API's
connections are cancelled after DB_STATEMENT_TIMEOUT_MS (503 + Retry-After, not 500; the
migrator has no timeout), a user holds at most MAX_TASKS_PER_USER tasks (409 naming it),
`offset` stops at 10,000 (422 naming it) and the `q` search has an index to use."""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from todo_api.core.config import DatabaseSettings, normalise_database_url
from todo_api.core.db import build_engine

TASKS = "/api/v1/tasks"


def _admin(db):
    return create_engine(normalise_database_url(db.url), poolclass=NullPool)


def test_api_connections_carry_the_statement_timeout_and_migrations_do_not(db, make_client):
    client = make_client(db.url, db_statement_timeout_ms=1234)
    with client.app.state.engine.connect() as conn:
        assert conn.scalar(text("SHOW statement_timeout")) == "1234ms"
        assert conn.scalar(text("SHOW idle_in_transaction_session_timeout")) == "1234ms"
        # and the planner cost that lets the search take its trigram index
        assert conn.scalar(text("SHOW random_page_cost")) == "1.1"
    # What `todo-api migrate` builds (migrate.run): no timeout for DDL on big tables.
    engine = build_engine(DatabaseSettings(database_url=db.url), poolclass=NullPool)
    with engine.connect() as conn:
        assert conn.scalar(text("SHOW statement_timeout")) == "0"
    engine.dispose()


def test_a_statement_past_the_timeout_is_503_with_retry_after(db, make_client, user):
    client = make_client(db.url, db_statement_timeout_ms=200)
    assert client.post(TASKS, json={"title": "before"}, headers=user).status_code == 201
    admin = _admin(db)
    # Another transaction holds the table: every task statement would wait for it forever.
    with admin.connect() as holder:
        holder.execute(text("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE"))
        listed = client.get(TASKS, headers=user)  # the fast path
        created = client.post(TASKS, json={"title": "blocked"}, headers=user)  # a route
        holder.rollback()
    admin.dispose()
    for response in (listed, created):
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
        assert "took too long" in response.json()["detail"]
    assert client.get(TASKS, headers=user).json()["total"] == 1  # and the pool is fine


def test_a_transaction_its_pod_abandoned_does_not_block_that_users_creates(db, make_client, user):
    """What a database outage leaves behind (the CI failure of stop 25): a create whose COMMIT
    never reached the server keeps the user's row locked on the server. Here a connection of
    the API's engine takes that lock and goes silent; the server ends it after the timeout,
    and the user's next create succeeds instead of waiting out the statement timeout (503)."""
    client = make_client(db.url, db_statement_timeout_ms=300, max_tasks_per_user=10)
    engine = client.app.state.engine
    orphan = engine.connect()
    orphan.execute(text("SELECT id FROM users FOR UPDATE"))  # and then nothing more
    time.sleep(1.0)
    created = client.post(TASKS, json={"title": "after the outage"}, headers=user)
    assert created.status_code == 201, created.text
    orphan.invalidate()
    orphan.close()


def test_tasks_per_user_are_capped_with_a_409_naming_the_cap(db, make_client, user):
    client = make_client(db.url, max_tasks_per_user=3)
    for n in range(3):
        assert client.post(TASKS, json={"title": f"t{n}"}, headers=user).status_code == 201
    refused = client.post(TASKS, json={"title": "one too many"}, headers=user)
    assert refused.status_code == 409
    assert "MAX_TASKS_PER_USER" in refused.json()["detail"]
    assert "3" in refused.json()["detail"]
    assert client.get(TASKS, headers=user).json()["total"] == 3


def test_offset_beyond_10000_is_422_naming_offset(client, user):
    assert client.get(TASKS, params={"offset": 10_000}, headers=user).status_code == 200
    for params in ({"offset": 10_001}, {"offset": 999_900, "q": "zz", "sort": "title"}):
        response = client.get(TASKS, params=params, headers=user)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "offset"]


def test_the_search_can_use_trigram_indexes(db):
    """Which plan wins depends on the data (bench/task_search.py measures it at 100k tasks);
    here: an index exists that serves ILIKE '%text%' on both searched columns."""
    admin = _admin(db)
    with admin.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(
            conn.scalars(
                text(
                    "EXPLAIN SELECT id FROM tasks "
                    "WHERE title ILIKE '%milk%' OR description ILIKE '%milk%'"
                )
            )
        )
    admin.dispose()
    assert "ix_tasks_title_trgm" in plan and "ix_tasks_description_trgm" in plan, plan
