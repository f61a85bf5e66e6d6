"""Many concurrent requests against a tiny connection pool, through the production server:
every request must succeed (no 503 from a pool wait, no thread-pool/pool deadlock)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from todo_api.core.config import Settings

from tools.backend_server import serve_argv, wait_until_serving
from tools.postgres import free_port


@pytest.fixture
def tiny_pool_server(db):
    port = free_port()
    names = {f.upper() for f in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env.update(
        DATABASE_URL=db.url,
        AUTH_SECRET=secrets.token_urlsafe(32),
        DB_POOL_SIZE="1",
        DB_MAX_OVERFLOW="0",
        # Also how long a request may wait for the pool: long enough for 60 requests to queue
        # through one connection on a busy machine, far shorter than a deadlock lasts.
        DB_CONNECT_TIMEOUT_SECONDS="15",
        LOG_LEVEL="warning",
    )
    proc = subprocess.Popen(
        serve_argv(port),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(proc, base, "/api/v1/health/ready")
    yield base
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def test_burst_of_requests_on_a_one_connection_pool(tiny_pool_server):
    base = tiny_pool_server
    creds = {"email": "burst@example.com", "password": secrets.token_urlsafe(12)}
    assert httpx.post(f"{base}/api/v1/auth/register", json=creds).status_code == 201
    login = {**creds, "session": "bearer"}
    token = httpx.post(f"{base}/api/v1/auth/login", json=login).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    task = httpx.post(f"{base}/api/v1/tasks", json={"title": "x"}, headers=headers).json()

    calls = [
        ("GET", "/api/v1/auth/me", None),
        ("GET", "/api/v1/auth/me", None),
        ("GET", "/api/v1/tasks", None),
        ("GET", f"/api/v1/tasks/{task['id']}", None),
        ("GET", "/api/v1/tasks/999999", None),  # the 404 path too
        ("PATCH", f"/api/v1/tasks/{task['id']}", {"completed": True}),
        ("POST", "/api/v1/tasks", {"title": "burst"}),
    ] * 9  # 63 requests: more than the thread pool has threads (40)

    def call(spec):
        method, path, body = spec
        with httpx.Client(timeout=30) as client:
            return client.request(method, base + path, json=body, headers=headers).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        statuses = list(pool.map(call, calls))
    elapsed = time.monotonic() - started
    expected = [
        404 if path.endswith("999999") else 201 if m == "POST" else 200 for m, path, _ in calls
    ]
    assert statuses == expected, (elapsed, sorted(set(statuses)))
    assert elapsed < 15, elapsed
