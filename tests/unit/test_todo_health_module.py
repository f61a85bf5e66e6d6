"""plugins/modules/todo_health.py against a real HTTP server on 127.0.0.1 (http.server in a
thread): the module is run in-process through AnsibleModule's test hook, and once through the
`ansible` CLI to prove it loads from the library path and runs in check mode."""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from tests.ansible_run import ROOT, VENV_BIN, base_env

MODULE_PATH = ROOT / "plugins" / "modules" / "todo_health.py"


def load_module():
    spec = importlib.util.spec_from_file_location("todo_health", MODULE_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


todo_health = load_module()


class Server:
    """Scripted answers per path; counts requests and remembers the headers of the last one."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.headers: dict[str, dict[str, str]] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                with server.lock:
                    count = server.hits[self.path] = server.hits.get(self.path, 0) + 1
                    server.headers[self.path] = dict(self.headers)
                status, content_type, body, delay, extra = server.answer(self.path, count)
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    for key, value in extra.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (per-try timeout): that is the point of /slow

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @staticmethod
    def answer(path: str, count: int) -> tuple[int, str, bytes, float, dict[str, str]]:
        ok = json.dumps({"status": "ok", "version": "1.0.0"}).encode()
        if path == "/flaky":  # 503 twice, then healthy
            if count <= 2:
                return 503, "application/json", b'{"detail": "starting"}', 0, {}
            return 200, "application/json", ok, 0, {}
        if path == "/ok":
            return 200, "application/json", ok, 0, {}
        if path == "/down":
            return 503, "application/json", b'{"status": "unavailable"}', 0, {}
        if path == "/wrong-json":
            return 200, "application/json", b'{"status": "degraded", "version": "1.0.0"}', 0, {}
        if path == "/html":
            return 200, "text/html", b"<!doctype html><title>todo</title>", 0, {}
        if path == "/slow":
            return 200, "application/json", ok, 1.5, {}
        if path == "/redirect":
            return 307, "text/plain", b"", 0, {"Location": "http://todo.invalid/signin"}
        return 404, "application/json", b'{"detail": "Not Found"}', 0, {}

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"


@pytest.fixture(scope="module")
def server():
    srv = Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def fresh(server):
    with server.lock:
        server.hits.clear()
        server.headers.clear()
    return server


def run_module(capsys, **args) -> tuple[bool, dict]:
    """Runs the module in-process; returns (failed, result)."""
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        todo_health.main()
    result = json.loads(capsys.readouterr().out)
    assert (exited.value.code != 0) == bool(result.get("failed")), result
    return bool(result.get("failed")), result


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_503_then_200_is_healthy_on_the_third_attempt(fresh, capsys):
    failed, result = run_module(
        capsys, url=fresh.url("/flaky"), expected_json={"status": "ok"}, interval=0.2, wait_timeout=10
    )
    assert not failed, result
    assert result["status"] == 200
    assert result["json"] == {"status": "ok", "version": "1.0.0"}
    assert result["attempts"] == 3 and fresh.hits["/flaky"] == 3
    assert result["last_error"] is None
    assert result["changed"] is False
    assert result["elapsed"] >= 0.4  # two intervals were waited


def test_wrong_json_is_unhealthy_and_says_where(fresh, capsys):
    failed, result = run_module(
        capsys, url=fresh.url("/wrong-json"), expected_json={"status": "ok"}, interval=0.1, wait_timeout=0.5
    )
    assert failed
    assert result["status"] == 200
    assert result["json"]["status"] == "degraded"
    assert result["last_error"] == 'JSON does not match: $.status is "degraded", expected "ok"'
    assert result["attempts"] >= 2
    assert "last error: JSON does not match" in result["msg"]


def test_nested_subset_and_missing_key():
    mismatch = todo_health.json_subset_mismatch
    assert mismatch({"a": {"b": [1, {"c": 2}]}}, {"a": {"b": [1, {"c": 2, "d": 3}, 4]}, "e": 5}) is None
    assert mismatch({"a": {"x": 1}}, {"a": {}}) == "$.a.x is missing"
    assert mismatch({"a": [1, 2]}, {"a": [1]}) == "$.a has 1 elements, expected at least 2"
    assert mismatch({"a": 1}, {"a": "1"}) == '$.a is "1", expected 1'


def test_non_json_body_fails_only_when_json_is_expected(fresh, capsys):
    failed, result = run_module(capsys, url=fresh.url("/html"), expected_json={"status": "ok"}, wait_timeout=0)
    assert failed
    assert result["last_error"] == "body is not JSON"
    assert result["json"] is None
    assert result["content"].startswith("<!doctype html>")

    failed, result = run_module(capsys, url=fresh.url("/html"), wait_timeout=0)
    assert not failed and result["status"] == 200 and result["json"] is None


def test_connection_refused_is_retried_then_reported(capsys):
    url = f"http://127.0.0.1:{closed_port()}/api/v1/health"
    failed, result = run_module(capsys, url=url, interval=0.2, wait_timeout=1)
    assert failed
    assert result["status"] == -1
    assert result["attempts"] >= 3
    assert "Connection refused" in result["last_error"]
    assert f"GET {url} was not healthy after {result['attempts']} attempt(s)" in result["msg"]


def test_slow_server_past_the_per_try_timeout(fresh, capsys):
    start = time.monotonic()
    failed, result = run_module(capsys, url=fresh.url("/slow"), timeout=0.3, interval=0.1, wait_timeout=0.8)
    took = time.monotonic() - start
    assert failed
    # The per-try limit, or less when the deadline was nearer.
    assert re.match(r"timed out after 0(\.[0-3]\d*)?s ", result["last_error"]), result["last_error"]
    assert result["attempts"] >= 2
    # Each try was cut at 0.3 s: the server's 1.5 s answers never held the module up.
    assert took < 1.5, took

    failed, result = run_module(capsys, url=fresh.url("/slow"), timeout=3, wait_timeout=0)
    assert not failed and result["status"] == 200


def test_total_timeout_reports_the_last_error(fresh, capsys):
    start = time.monotonic()
    failed, result = run_module(capsys, url=fresh.url("/down"), interval=0.25, wait_timeout=1.2)
    took = time.monotonic() - start
    assert failed
    assert result["msg"].endswith("last error: status 503 is not one of [200]")
    assert result["last_error"] == "status 503 is not one of [200]"
    assert result["json"] == {"status": "unavailable"}
    assert 0.9 <= took < 3, took
    assert result["attempts"] == fresh.hits["/down"] >= 4


def test_host_header_and_method_are_sent(fresh, capsys):
    failed, _result = run_module(capsys, url=fresh.url("/ok"), headers={"Host": "todo.local"}, wait_timeout=0)
    assert not failed
    assert fresh.headers["/ok"]["Host"] == "todo.local"


def test_redirect_is_a_status_when_not_followed(fresh, capsys):
    failed, result = run_module(
        capsys, url=fresh.url("/redirect"), follow_redirects=False, status_code=[200, 307], wait_timeout=0
    )
    assert not failed, result
    assert result["status"] == 307

    failed, result = run_module(capsys, url=fresh.url("/redirect"), follow_redirects=False, wait_timeout=0)
    assert failed and result["last_error"] == "status 307 is not one of [200]"


def test_check_mode_probes_and_changes_nothing(fresh, capsys):
    failed, result = run_module(capsys, url=fresh.url("/ok"), wait_timeout=0, _ansible_check_mode=True)
    assert not failed and result["changed"] is False and fresh.hits["/ok"] == 1


def test_bad_arguments_fail_clearly(capsys):
    failed, result = run_module(capsys, url="http://127.0.0.1:1/", timeout=0)
    assert failed and result["msg"] == "timeout must be greater than 0"
    failed, result = run_module(capsys, url="http://127.0.0.1:1/", interval=-1)
    assert failed and result["msg"] == "interval must not be negative"


def test_documentation_matches_the_argument_spec():
    doc = yaml.safe_load(todo_health.DOCUMENTATION)
    returns = yaml.safe_load(todo_health.RETURN)
    examples = yaml.safe_load(todo_health.EXAMPLES)
    source = MODULE_PATH.read_text()
    for name, option in doc["options"].items():
        assert f"{name}=dict(" in source, f"documented option {name} is not in the argument spec"
        assert option.get("description"), name
    assert source.count("=dict(type=") == len(doc["options"]), "an argument is undocumented"
    assert set(returns) == {"status", "json", "content", "attempts", "elapsed", "last_error", "url"}
    assert all(task["todo_health"]["url"] for task in examples)
    assert doc["attributes"]["check_mode"]["support"] == "full"


def test_ansible_cli_loads_the_module_in_check_mode(fresh):
    env = base_env()
    doc = subprocess.run(
        [str(VENV_BIN / "ansible-doc"), "--json", "todo_health"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert doc.returncode == 0, doc.stderr
    options = json.loads(doc.stdout)["todo_health"]["doc"]["options"]
    assert options["status_code"]["default"] == [200]

    args = json.dumps(
        {"url": fresh.url("/flaky"), "interval": 0.1, "wait_timeout": 10, "expected_json": {"status": "ok"}}
    )
    run = subprocess.run(
        [str(VENV_BIN / "ansible"), "localhost", "--check", "-m", "todo_health", "-a", args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "attempts: 3" in run.stdout
    assert "changed: false" in run.stdout


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """The scripted server behind TLS on 127.0.0.1, with a certificate for todo.test only,
    signed by a CA made now; records the SNI name each handshake asked for."""
    import ssl

    from tools.cluster import pki

    directory = tmp_path_factory.mktemp("tls")
    certs = pki.generate(directory, "10.96.0.1")
    cert, key = pki.server_certificate(
        directory, "todo-test", [], str(certs["ca_cert"]), str(certs["ca_key"]), dns_names=["todo.test"]
    )
    srv = Server()
    srv.sni: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: srv.sni.append(name)
    srv.httpd.socket = context.wrap_socket(srv.httpd.socket, server_side=True)
    srv.thread.start()
    srv.ca = str(certs["ca_cert"])
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def https_url(server, path: str) -> str:
    return server.url(path).replace("http://", "https://", 1)


def test_server_name_reaches_a_tls_ingress_by_address_for_its_host(tls_server, capsys):
    tls_server.sni.clear()
    failed, result = run_module(
        capsys, url=https_url(tls_server, "/ok"), server_name="todo.test", ca_path=tls_server.ca,
        expected_json={"status": "ok"}, wait_timeout=0,
    )  # fmt: skip
    assert not failed, result
    assert tls_server.sni == ["todo.test"]
    assert tls_server.headers["/ok"]["Host"] == "todo.test"


def test_server_name_still_checks_the_certificate(tls_server, capsys):
    failed, result = run_module(
        capsys, url=https_url(tls_server, "/ok"), server_name="other.test", ca_path=tls_server.ca, wait_timeout=0
    )
    assert failed and "certificate" in result["last_error"] and "other.test" in result["last_error"], result
    # Without it the address is what the certificate is checked against, and it names no address.
    failed, result = run_module(capsys, url=https_url(tls_server, "/ok"), ca_path=tls_server.ca, wait_timeout=0)
    assert failed and "certificate" in result["last_error"], result
    # An unknown CA fails too, unless the check is turned off.
    failed, result = run_module(capsys, url=https_url(tls_server, "/ok"), server_name="todo.test", wait_timeout=0)
    assert failed and "certificate verify failed" in result["last_error"], result
    failed, result = run_module(
        capsys, url=https_url(tls_server, "/ok"), server_name="todo.test", validate_certs=False, wait_timeout=0
    )
    assert not failed, result


def test_server_name_takes_a_redirect_as_its_status(tls_server, capsys):
    failed, result = run_module(
        capsys, url=https_url(tls_server, "/redirect"), server_name="todo.test", ca_path=tls_server.ca,
        status_code=[307], wait_timeout=0,
    )  # fmt: skip
    assert not failed and result["status"] == 307, result


def test_server_name_needs_an_https_url(capsys):
    failed, result = run_module(capsys, url="http://127.0.0.1:1/", server_name="todo.test")
    assert failed and result["msg"] == "server_name is for an https url; got http://127.0.0.1:1/"
