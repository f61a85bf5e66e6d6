"""Fixtures for the Minikube tier: the real Docker engine, the binaries, a MINIKUBE_HOME, and
the environment the user's own commands run in.

The Kubernetes v1.35.1 and minikube binaries are the pinned builds of make minikube-offline
(compiled here first when missing).
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tools.cluster import build as cluster_build
from tools.cluster import pins, scenarios
from tools.docker import engine
from tools.minikube import faults, gobuild, images
from tools.minikube.app import REPO, ProfileApp, user_env  # noqa: F401 (for the tests)

NEEDED = (*images.REQUIRED_BINARIES, "kubeadm")
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@pytest.fixture(scope="session")
def docker_daemon() -> None:
    engine.ensure_daemon()


@pytest.fixture(scope="session")
def minikube_binaries() -> dict[str, Path]:
    """{name: path} for kube-apiserver, ..., storage-provisioner and kubeadm: the pinned builds
    (tools/cluster/build.py, tools/minikube/gobuild.py), compiled first when missing."""
    cluster_build.build_control_plane()
    found = {name: pins.bin_dir() / name for name in NEEDED if name != "storage-provisioner"}
    found["storage-provisioner"] = gobuild.build_storage_provisioner()
    return found


@pytest.fixture(scope="session")
def minikube_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("minikube-home")


TOKEN = "minikube-test-token"


def docker0_address() -> str:
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True, check=True
    ).stdout
    return out.split("inet ", 1)[1].split("/", 1)[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Api:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.base = f"https://{host}:{port}"
        self.kubeconfig = Path()
        self.service_account = Path()
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE  # the server's self-signed cert from --cert-dir

    def raw(self, method: str, path: str, body: dict | None = None) -> bytes:
        request = urllib.request.Request(  # noqa: S310 (https to our own server)
            self.base + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            method=method,
        )
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=self.context)
        )
        with opener.open(request, timeout=30) as response:
            return response.read()

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        return json.loads(self.raw(method, path, body))


@pytest.fixture(scope="session")
def api_server(minikube_binaries: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """kube-apiserver v1.35.1 on etcd 3.6.6, listening on the docker0 address (containers reach
    it as pods reach theirs), a static system:masters token; `.kubeconfig` and `.service_account`
    (token + ca.crt, as mounted into pods) for clients."""
    if "kube-apiserver" not in minikube_binaries:
        pytest.skip("no kube-apiserver binary")
    work = tmp_path_factory.mktemp("apiserver")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (work / "sa.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (work / "sa.pub").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (work / "tokens.csv").write_text(f"{TOKEN},admin,admin,system:masters\n")
    client, peer, secure = free_port(), free_port(), free_port()
    host = docker0_address()
    etcd = subprocess.Popen(
        [
            str(gobuild.build_etcd()),
            f"--data-dir={work / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{client}",
            f"--advertise-client-urls=http://127.0.0.1:{client}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=default=http://127.0.0.1:{peer}",
        ],
        stdout=open(work / "etcd.log", "wb"),  # noqa: SIM115 (closed with the process)
        stderr=subprocess.STDOUT,
    )
    apiserver = subprocess.Popen(
        [
            str(minikube_binaries["kube-apiserver"]),
            f"--etcd-servers=http://127.0.0.1:{client}",
            f"--bind-address={host}",
            f"--advertise-address={host}",
            f"--secure-port={secure}",
            f"--cert-dir={work / 'certs'}",
            f"--token-auth-file={work / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={work / 'sa.pub'}",
            f"--service-account-signing-key-file={work / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/16",
        ],
        stdout=open(work / "apiserver.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    api = Api(host, secure)
    try:
        for _ in range(240):  # until /readyz answers or the server exits; bounded by count
            if apiserver.poll() is not None or etcd.poll() is not None:
                break
            try:
                api.raw("GET", "/readyz")
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
                continue
            break
        else:
            pytest.fail("kube-apiserver did not become ready")
        assert apiserver.poll() is None, (work / "apiserver.log").read_text()[-3000:]
        (work / "kubeconfig").write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "t", "cluster": {"server": api.base, "insecure-skip-tls-verify": True}}],
                    "users": [{"name": "t", "user": {"token": TOKEN}}],
                    "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}],
                    "current-context": "t",
                }
            )
        )
        (work / "kubeconfig").chmod(0o644)
        account = work / "serviceaccount"
        account.mkdir()
        (account / "token").write_text(TOKEN)
        (account / "ca.crt").write_bytes((work / "certs" / "apiserver.crt").read_bytes())
        for path in (work, account):
            path.chmod(0o755)
        for path in account.iterdir():
            path.chmod(0o644)
        api.kubeconfig, api.service_account = work / "kubeconfig", account
        yield api
    finally:
        for process in (apiserver, etcd):
            process.terminate()
            process.wait(timeout=60)


REPORTS = REPO / "test-artifacts" / "minikube"


def scenario_cluster_of(app: ProfileApp) -> scenarios.Cluster:
    """The fault scenarios' view of an app deployed on a profile (tools/minikube/faults.py)."""
    return faults.on_profile(app.profile, app.db_dir, app.ingress, app.env(), app.kubectl_path(), app.deploy)


def report(result: scenarios.Result, file_name: str) -> None:
    """Print a scenario's numbers and append them to test-artifacts/minikube/<file_name>."""
    print("\n" + result.report())
    REPORTS.mkdir(parents=True, exist_ok=True)
    with (REPORTS / file_name).open("a") as out:
        out.write(result.report() + "\n\n")
