"""Readiness fails as soon as the server is told to stop, while in-flight requests drain."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading

import httpx
import pytest
from fastapi.testclient import TestClient
from todo_api.shutdown import watch_for_shutdown

from tools.backend_server import serve_argv, wait_until_serving
from tools.postgres import free_port


@pytest.fixture
def saved_signal_handlers():
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_sigterm_sets_stopping_then_runs_the_servers_own_handler(saved_signal_handlers) -> None:
    called: list[int] = []
    signal.signal(signal.SIGTERM, lambda sig, frame: called.append(sig))
    stopping = threading.Event()
    assert watch_for_shutdown(stopping)
    os.kill(os.getpid(), signal.SIGTERM)
    assert stopping.is_set()
    assert called == [signal.SIGTERM]


def test_readiness_answers_503_once_stopping(client: TestClient) -> None:
    assert client.get("/api/v1/health/ready").status_code == 200
    client.app.state.stopping.set()
    response = client.get("/api/v1/health/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unknown"}
    # Liveness stays green: the process is healthy, only leaving.
    assert client.get("/api/v1/health").status_code == 200


def test_the_real_server_marks_itself_stopping_on_sigterm_and_exits_cleanly(db) -> None:
    port = free_port()
    env = dict(os.environ, DATABASE_URL=db.url, AUTH_SECRET=secrets.token_urlsafe(32), LOG_LEVEL="info")
    env.pop("OPENAI_API_KEY", None)
    proc = subprocess.Popen(serve_argv(port), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_serving(proc, f"http://127.0.0.1:{port}", "/api/v1/health/ready", timeout=60)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # uvicorn restores the default handler after its drain and re-raises the signal.
    assert proc.returncode in (0, -signal.SIGTERM), output[-3000:]
    assert "Application shutdown complete" in output
    assert "shutdown started: readiness now fails" in output
    assert output.index("shutdown started") < output.index("todo-api stopped")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
