"""Behind a proxy: helm, the kubernetes.core modules and the health check reach the Minikube IP
(its API server and Ingress) and 127.0.0.1 directly, everything else through the proxy, and
Minikube's node gets the proxy (`minikube start --docker-env`) with a NO_PROXY that keeps the
cluster's own addresses out of it.

All real: a forward/CONNECT proxy on an address of this machine that counts what passes through
it, an HTTP server and a TLS-less "API server" socket on another address of this machine standing
where the Minikube IP is, the pinned helm, ansible-playbook with the play-wide environment
(playbooks/vars/environment.yml) and the minikube role's proxy tasks.
"""

from __future__ import annotations

import json
import secrets
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.ansible_run import ROOT, base_env, run_playbook

PLAYBOOK = ROOT / "tests" / "unit" / "playbooks" / "proxy_paths.yml"


def this_machines_address() -> str:
    """A non-loopback address of this machine (the one its default route leaves from)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
            address = probe.getsockname()[0]
        except OSError:
            address = ""
    if not address or address.startswith("127."):
        pytest.fail("this test needs a non-loopback IPv4 address on this machine (a default route)")
    return address


class Counter:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.lock = threading.Lock()

    def add(self, what: str) -> None:
        with self.lock:
            self.seen.append(what)


def counting_proxy(address: str, counter: Counter) -> ThreadingHTTPServer:
    """Answers every proxied request itself (502) and refuses every CONNECT: it only counts."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            counter.add(f"{self.command} {self.path}")
            self.send_response(502)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_HEAD = do_POST = do_CONNECT = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer((address, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def origin(address: str, counter: Counter) -> ThreadingHTTPServer:
    """The Ingress on the Minikube IP: answers the health check, 404 for the rest."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            counter.add(f"GET {self.path}")
            body = b'{"status": "ok"}' if self.path == "/api/v1/health" else b"{}"
            self.send_response(200 if self.path == "/api/v1/health" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer((address, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def api_socket(address: str, counter: Counter) -> socketserver.ThreadingTCPServer:
    """Where the API server would be: counts the connections and closes them."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            counter.add("connection")

    server = socketserver.ThreadingTCPServer((address, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def world():
    address = this_machines_address()
    counts = {name: Counter() for name in ("proxy", "origin", "api")}
    servers = {
        "proxy": counting_proxy(address, counts["proxy"]),
        "origin": origin(address, counts["origin"]),
        "api": api_socket(address, counts["api"]),
    }
    ports = {name: server.server_address[1] for name, server in servers.items()}
    yield address, ports, counts
    for server in servers.values():
        server.shutdown()
        server.server_close()


def play(tmp_path: Path, address: str, ports: dict, *extra: str, userinfo: str = "", **env: str):
    facts = tmp_path / "facts.json"
    variables = {"test_minikube_ip": address, "test_origin_port": ports["origin"], "test_api_port": ports["api"],
                 "test_facts_file": str(facts)}  # fmt: skip
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(variables))
    proxy = f"http://{userinfo}{address}:{ports['proxy']}"
    run_env = base_env(HTTP_PROXY=proxy, HTTPS_PROXY=proxy, NO_PROXY="corp.example", HOME=str(tmp_path), **env)
    for name in ("http_proxy", "https_proxy", "no_proxy"):
        run_env.pop(name, None)
    run = run_playbook(PLAYBOOK, "-e", f"@{vars_file}", *extra, env=run_env)
    assert run.returncode == 0, run.output[-3000:]
    return json.loads(facts.read_text()), run


def test_the_cluster_is_reached_directly_and_the_rest_through_the_proxy(tmp_path, world):
    address, ports, counts = world
    facts, _ = play(tmp_path, address, ports)

    through_proxy = counts["proxy"].seen
    assert "GET http://charts.example.test/todo.tgz" in through_proxy, through_proxy
    assert not [seen for seen in through_proxy if address in seen], through_proxy
    assert "GET /todo.tgz" in counts["origin"].seen  # helm, directly
    assert "GET /api/v1/health" in counts["origin"].seen and facts["health"] == 200  # todo_health, directly
    # helm list and k8s_info: both connected to the "API server" itself, not through the proxy.
    assert len(counts["api"].seen) >= 2, counts["api"].seen

    # Minikube's node: the proxy, and a NO_PROXY that keeps the node's and the cluster's addresses out.
    proxy = f"http://{address}:{ports['proxy']}"
    args = facts["minikube_start_proxy_args"]
    assert f"--docker-env=HTTP_PROXY={proxy}" in args and f"--docker-env=HTTPS_PROXY={proxy}" in args
    no_proxy = next(a for a in args if a.startswith("--docker-env=NO_PROXY=")).split("=", 2)[2].split(",")
    assert no_proxy[0] == "corp.example"
    for needed in ("127.0.0.1", "localhost", "192.168.49.0/24", "10.96.0.0/12", "10.244.0.0/16", ".svc",
                   "host.minikube.internal", "control-plane.minikube.internal"):  # fmt: skip
        assert needed in no_proxy, needed


def test_without_the_deploys_no_proxy_the_same_calls_go_through_the_proxy(tmp_path, world):
    """The control: the plain environment (PATH only) sends helm's cluster calls to the proxy
    (todo_health ignores proxies unless asked: use_proxy is off by default)."""
    address, ports, counts = world
    plain = json.dumps({"todo_environment": {"PATH": base_env()["PATH"]}})
    play(tmp_path, address, ports, "-e", plain)
    through_proxy = counts["proxy"].seen
    assert f"GET http://{address}:{ports['origin']}/todo.tgz" in through_proxy, through_proxy
    assert f"CONNECT {address}:{ports['api']}" in through_proxy, through_proxy
    assert counts["origin"].seen == ["GET /api/v1/health"]


def test_a_proxy_on_loopback_is_not_handed_to_minikube(tmp_path, world):
    address, ports, _ = world
    loopback = json.dumps({"minikube_proxy": {"HTTP_PROXY": "http://127.0.0.1:3128", "HTTPS_PROXY": "",
                                              "NO_PROXY": ""}})  # fmt: skip
    facts, run = play(tmp_path, address, ports, "-e", loopback)
    assert facts["minikube_start_proxy_args"] == [] and facts["minikube_proxy_env"] == {}
    assert facts["minikube_proxy_loopback"] == ["HTTP_PROXY"]
    assert "HTTP_PROXY=http://127.0.0.1:3128 names this machine's loopback" in run.stdout


CA_PLAYBOOK = ROOT / "tests" / "unit" / "playbooks" / "minikube_ca.yml"


def make_ca(directory: Path, name: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_a_ca_bundle_reaches_minikubes_certs_one_certificate_per_file(tmp_path):
    first, second = make_ca(tmp_path, "Corp Root CA"), make_ca(tmp_path, "Corp Proxy CA")
    bundle = tmp_path / "corp-bundle.pem"
    bundle.write_text(f"# the corporate bundle\n{first}{second}")
    home = tmp_path / "mk"
    env = base_env(MINIKUBE_HOME=str(home), HOME=str(tmp_path))
    args = ("-e", f"test_ca_bundle={bundle}")

    dry = run_playbook(CA_PLAYBOOK, *args, "--check", env=env)
    assert dry.returncode == 0, dry.output[-3000:]
    assert not (home / ".minikube" / "certs").exists(), "check mode writes nothing"

    run = run_playbook(CA_PLAYBOOK, *args, env=env)
    assert run.returncode == 0, run.output[-3000:]
    certs = home / ".minikube" / "certs"
    assert sorted(p.name for p in certs.iterdir()) == ["todo-ca-0.pem", "todo-ca-1.pem"]
    assert (certs / "todo-ca-0.pem").read_text() == first and (certs / "todo-ca-1.pem").read_text() == second
    assert run.recap["changed"] == 2  # the directory, and the looped copy of two files

    again = run_playbook(CA_PLAYBOOK, *args, "-e", "test_running=true", env=env)
    assert again.recap["changed"] == 0, again.output[-3000:]
    assert "gets it at its next start" not in again.stdout


def test_a_file_without_certificates_is_refused_by_name(tmp_path):
    bundle = tmp_path / "not-a-bundle.pem"
    # PEM, but no certificate: a revocation list (nothing secret, unlike a key block).
    bundle.write_text("-----BEGIN X509 CRL-----\nabc\n-----END X509 CRL-----\n")
    run = run_playbook(CA_PLAYBOOK, "-e", f"test_ca_bundle={bundle}", env=base_env(MINIKUBE_HOME=str(tmp_path)))
    assert run.returncode == 2
    assert f"minikube_ca_bundle={bundle} holds no PEM certificate" in run.stdout


def test_a_proxy_password_is_not_shown(tmp_path, world):
    """With -v, as a user debugging would run it: the proxy tasks log nothing of their values."""
    address, ports, counts = world
    # Made here, so no password-shaped literal sits in the tree.
    password = secrets.token_hex(8)
    facts, run = play(tmp_path, address, ports, "-v", userinfo=f"deploy:{password}@")
    assert f"--docker-env=HTTP_PROXY=http://deploy:{password}@" in " ".join(facts["minikube_start_proxy_args"])
    assert password not in run.output
    assert "GET http://charts.example.test/todo.tgz" in counts["proxy"].seen


def test_a_ca_bundle_that_is_not_there_is_named(tmp_path):
    missing = tmp_path / "nowhere.pem"
    run = run_playbook(CA_PLAYBOOK, "-e", f"test_ca_bundle={missing}", env=base_env(MINIKUBE_HOME=str(tmp_path)))
    assert run.returncode == 2
    assert f"minikube_ca_bundle={missing} (todo_ca_bundle) is not a file on this machine" in run.stdout
