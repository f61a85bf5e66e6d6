"""Run the helm test Pod's python probe script for real against a local HTTP server."""

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from chart_render import render


def probe_script() -> str:
    (pod,) = render().all("Pod")
    command = pod["spec"]["containers"][0]["command"]
    assert command[:2] == ["python", "-c"]
    return command[2]


@pytest.fixture
def server():
    """Serves /api/v1/health and /healthz with the status in `state['status']`."""
    state = {"status": 200, "paths": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state["paths"].append(self.path)
            body = b'{"status": "ok"}'
            self.send_response(state["status"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield base, state
    httpd.shutdown()


def run_probe(base: str) -> subprocess.CompletedProcess:
    # No waiting between retries in the test: time.sleep is replaced before the script runs.
    wrapper = "import time\ntime.sleep = lambda seconds: None\nexec(compile(SCRIPT, 'probe', 'exec'))"
    return subprocess.run(
        [sys.executable, "-c", wrapper.replace("SCRIPT", repr(probe_script()))],
        env={"TARGET_URLS": f"{base}/api/v1/health {base}/healthz", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_probe_passes_when_both_endpoints_answer_200(server):
    base, state = server
    result = run_probe(base)
    assert result.returncode == 0, result.stdout + result.stderr
    assert state["paths"] == ["/api/v1/health", "/healthz"]


def test_probe_fails_when_the_backend_is_unhealthy(server):
    base, state = server
    state["status"] = 503
    result = run_probe(base)
    assert result.returncode != 0
    assert "never answered 200" in result.stderr
    assert len(state["paths"]) == 10, "it retries before giving up"
