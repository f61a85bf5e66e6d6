"""Database outages, for real: a private PostgreSQL server that the test stops and starts,
and a TCP line to it that the test cuts (the server goes silent instead of refusing).

In both cases liveness stays 200, readiness and the API answer 503 within the connect
timeout, and service comes back by itself when the database does (no restart).
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import sign_up
from todo_api.core.config import DatabaseSettings
from todo_api.migrate import run as run_migrations

from tools.postgres import PrivateServer, TcpProxy, create_database

CONNECT_TIMEOUT = 2  # seconds; libpq's minimum


@pytest.fixture(scope="module")
def server():
    pg = PrivateServer().init()
    pg.start()
    try:
        yield pg
    finally:
        pg.cleanup()


@pytest.fixture(scope="module")
def database(server):
    db = create_database(server.admin_url, prefix="todo_outage")
    run_migrations(DatabaseSettings(database_url=db.url), wait_seconds=10)
    return db


@pytest.fixture
def running(server):
    """Whatever a test does to the server, the next test gets it running."""
    yield server
    with contextlib.suppress(subprocess.CalledProcessError):  # already running
        server.start()


def _timed(client, method, url, **kwargs):
    start = time.monotonic()
    response = client.request(method, url, **kwargs)
    return response, time.monotonic() - start


def _wait_ready(client, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if client.get("/api/v1/health/ready").status_code == 200:
            return True
        time.sleep(0.2)
    return False


def _assert_outage(client, headers, budget):
    live, took = _timed(client, "GET", "/api/v1/health")
    assert live.status_code == 200 and took < 2, took

    ready, took = _timed(client, "GET", "/api/v1/health/ready")
    assert ready.status_code == 503, ready.text
    assert ready.json() == {"status": "unavailable", "database": "unavailable"}
    assert took < budget, took

    for method, url, body in [
        ("GET", "/api/v1/tasks", None),
        ("POST", "/api/v1/tasks", {"title": "during outage"}),
        ("GET", "/api/v1/auth/me", None),
    ]:
        response, took = _timed(client, method, url, json=body, headers=headers)
        assert response.status_code == 503, (url, response.text)
        assert "database" in response.json()["detail"].lower()
        assert response.headers.get("retry-after")
        assert took < budget, (url, took)


def test_database_stopped_then_restarted(running, database, make_client):
    client = make_client(database.url, db_connect_timeout_seconds=CONNECT_TIMEOUT)
    _, headers = sign_up(client)
    task = client.post("/api/v1/tasks", json={"title": "survives"}, headers=headers).json()

    running.stop()
    # Refused connections fail at once; allow the connect timeout as the upper bound.
    _assert_outage(client, headers, budget=CONNECT_TIMEOUT + 1)

    running.start()
    assert _wait_ready(client), "readiness did not recover"
    items = client.get("/api/v1/tasks", headers=headers).json()["items"]
    assert [t["id"] for t in items] == [task["id"]]
    assert client.post("/api/v1/tasks", json={"title": "after"}, headers=headers).status_code == 201


def test_database_silent_then_back(running, database, make_client):
    proxy = TcpProxy(database.host, database.port)
    try:
        url = database.url.replace(f":{database.port}/", f":{proxy.port}/")
        client = make_client(url, db_connect_timeout_seconds=CONNECT_TIMEOUT)
        _, headers = sign_up(client)
        client.post("/api/v1/tasks", json={"title": "x"}, headers=headers)

        proxy.cut()  # open connections die, new ones hang unanswered
        _assert_outage(client, headers, budget=CONNECT_TIMEOUT + 2)

        proxy.restore()
        assert _wait_ready(client), "readiness did not recover"
        assert client.get("/api/v1/tasks", headers=headers).json()["total"] == 1
    finally:
        proxy.close()


def test_starts_while_database_is_down_and_recovers(running, database, make_client):
    running.stop()
    client = make_client(database.url, db_connect_timeout_seconds=CONNECT_TIMEOUT)
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/api/v1/health/ready").status_code == 503
    assert (
        client.post("/api/v1/auth/login", json={"email": "a@b.co", "password": "x"}).status_code
        == 503
    )

    running.start()
    assert _wait_ready(client)
    _, headers = sign_up(client)
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200


def test_hung_database_connection_still_gives_a_readiness_answer(
    running, database, make_client, caplog
):
    """A pooled connection whose peer stops answering (but keeps the TCP connection open)
    must not hang the readiness probe: it answers 503 at its deadline, liveness stays 200."""
    proxy = TcpProxy(database.host, database.port)
    try:
        url = database.url.replace(f":{database.port}/", f":{proxy.port}/")
        client = make_client(url, db_connect_timeout_seconds=CONNECT_TIMEOUT)
        assert client.get("/api/v1/health/ready").status_code == 200  # a pooled connection

        proxy.freeze()
        caplog.set_level(logging.WARNING, logger="todo_api.health")
        for _ in range(3):  # more probes than the probe limiter has threads
            ready, took = _timed(client, "GET", "/api/v1/health/ready")
            assert ready.status_code == 503, ready.text
            assert took < CONNECT_TIMEOUT + 3, took
        # The reasons are in the log, not in the public answer.
        reasons = [r.reason for r in caplog.records if r.getMessage() == "not ready"]
        assert len(reasons) == 3, reasons
        # At least one probe got the hung pooled connection and was answered at the deadline.
        assert any("did not answer" in reason for reason in reasons), reasons
        live, took = _timed(client, "GET", "/api/v1/health")
        assert live.status_code == 200 and took < 2

        proxy.thaw()
        assert _wait_ready(client), "readiness did not recover"
    finally:
        proxy.close()


def test_idle_pooled_connections_to_a_restarted_database_are_replaced_unseen(
    running, database, make_client, monkeypatch
):
    """A busy server skips the ping; a connection idle for longer than the threshold (a
    suspended Neon compute closed it, or the server restarted) is pinged at checkout and
    replaced, so the first request after the pause still answers 200."""
    from todo_api.core import db as db_module

    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.5)
    client = make_client(database.url, db_connect_timeout_seconds=CONNECT_TIMEOUT)
    _, headers = sign_up(client)
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200

    running.stop()
    running.start()
    time.sleep(1)  # longer than the idle threshold: the pooled connections get pinged
    for _ in range(3):  # more requests than one connection: every pooled one is handled
        assert client.get("/api/v1/tasks", headers=headers).status_code == 200


def test_a_burst_during_an_outage_gets_fast_503s_not_a_queue(running, database, make_client):
    """Four times as many concurrent requests as worker threads, on a database that went
    silent: after the first failure no request waits for a connect of its own (one background
    prober does that), so none queues behind threads stuck connecting. Without that gate the
    burst drains in waves of DB_POOL_SIZE connect timeouts (about 8 s here)."""
    proxy = TcpProxy(database.host, database.port)
    try:
        url = database.url.replace(f":{database.port}/", f":{proxy.port}/")
        client = make_client(url, db_connect_timeout_seconds=CONNECT_TIMEOUT, db_pool_size=5)
        _, headers = sign_up(client)
        assert client.get("/api/v1/tasks", headers=headers).status_code == 200

        proxy.cut()
        with ThreadPoolExecutor(20) as pool:
            burst = list(pool.map(lambda _: _timed(client, "GET", "/api/v1/tasks", headers=headers), range(20)))
        assert [r.status_code for r, _ in burst] == [503] * 20, [r.text for r, _ in burst][:3]
        assert all(r.headers.get("retry-after") for r, _ in burst)
        assert max(took for _, took in burst) < CONNECT_TIMEOUT + 1, sorted(took for _, took in burst)

        # Known unreachable now: every request answers at once, readiness too.
        with ThreadPoolExecutor(20) as pool:
            again = list(pool.map(lambda _: _timed(client, "GET", "/api/v1/tasks", headers=headers), range(20)))
        assert [r.status_code for r, _ in again] == [503] * 20
        assert max(took for _, took in again) < 0.5, sorted(took for _, took in again)
        ready, took = _timed(client, "GET", "/api/v1/health/ready")
        assert ready.status_code == 503 and took < 0.5, (ready.status_code, took)

        proxy.restore()
        # The prober tries every second (plus its own connect): back well within a probe period.
        assert _wait_ready(client, seconds=CONNECT_TIMEOUT + 3), "readiness did not recover"
        assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    finally:
        proxy.close()
