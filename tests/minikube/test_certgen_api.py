"""The addon's certgen create and patch Jobs, as they run, against a real kube-apiserver v1.35.1.

etcd (tools/minikube/gobuild) and kube-apiserver (TODO_MINIKUBE_BINARIES) run on 127.0.0.1 with a
static token; the certgen image runs as uid 2000 with the Jobs' arguments and a kubeconfig (a
pod would use its ServiceAccount: the same client code). admissionregistration/v1beta1 is not
served by 1.35, so an unpatched certgen fails its `patch` here.
"""

from __future__ import annotations

import base64
import json
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

from tools.docker.engine import docker
from tools.minikube import gobuild, ingress

pytestmark = pytest.mark.slow

TOKEN = "certgen-test-token"
NAMESPACE = "ingress-nginx"
WEBHOOK = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingWebhookConfiguration",
    "metadata": {"name": "ingress-nginx-admission"},
    "webhooks": [
        {
            "name": "validate.nginx.ingress.kubernetes.io",
            "admissionReviewVersions": ["v1"],
            "clientConfig": {
                "service": {
                    "name": "ingress-nginx-controller-admission",
                    "namespace": NAMESPACE,
                    "path": "/networking/v1/ingresses",
                }
            },
            # The addon writes Fail; Ignore here shows that `patch --patch-failure-policy=Fail` sets it.
            "failurePolicy": "Ignore",
            "matchPolicy": "Equivalent",
            "rules": [
                {
                    "apiGroups": ["networking.k8s.io"],
                    "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["ingresses"],
                }
            ],
            "sideEffects": "None",
        }
    ],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Api:
    def __init__(self, port: int) -> None:
        self.base = f"https://127.0.0.1:{port}"
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


@pytest.fixture(scope="module")
def api_server(minikube_binaries: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
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
            "--bind-address=127.0.0.1",
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
    api = Api(secure)
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
        work.chmod(0o755)
        api.kubeconfig = work / "kubeconfig"
        yield api
    finally:
        for process in (apiserver, etcd):
            process.terminate()
            process.wait(timeout=60)


def certgen(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The certgen image as the Jobs run it (uid 2000), on the host network to reach 127.0.0.1."""
    return docker(
        "run", "--rm", "--network", "host", "--user", "2000", "--volume", f"{kubeconfig}:/kubeconfig:ro",
        ingress.CERTGEN_IMAGE, *args, "--kubeconfig=/kubeconfig", check=False, timeout=300,
    )  # fmt: skip


def test_create_and_patch_jobs_succeed_against_kubernetes_1_35(api_server: Api, docker_daemon: None) -> None:
    ingress.build_ingress_images()
    api_server.call("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    api_server.call("POST", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", WEBHOOK)

    created = certgen(
        api_server.kubeconfig,
        "create",
        f"--host=ingress-nginx-controller-admission,ingress-nginx-controller-admission.{NAMESPACE}.svc",
        f"--namespace={NAMESPACE}",
        "--secret-name=ingress-nginx-admission",
    )
    assert created.returncode == 0, created.stdout + created.stderr
    secret = api_server.call("GET", f"/api/v1/namespaces/{NAMESPACE}/secrets/ingress-nginx-admission")
    assert set(secret["data"]) == {"ca", "cert", "key"}

    patched = certgen(
        api_server.kubeconfig,
        "patch",
        "--webhook-name=ingress-nginx-admission",
        f"--namespace={NAMESPACE}",
        "--patch-mutating=false",
        "--secret-name=ingress-nginx-admission",
        "--patch-failure-policy=Fail",
    )
    assert patched.returncode == 0, patched.stdout + patched.stderr
    webhook = api_server.call(
        "GET", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/ingress-nginx-admission"
    )["webhooks"][0]
    assert base64.b64decode(webhook["clientConfig"]["caBundle"]) == base64.b64decode(secret["data"]["ca"])
    assert webhook["failurePolicy"] == "Fail"


def test_v1beta1_which_unpatched_certgen_uses_is_not_served(api_server: Api) -> None:
    with pytest.raises(urllib.error.HTTPError) as missing:
        api_server.raw("GET", "/apis/admissionregistration.k8s.io/v1beta1/validatingwebhookconfigurations")
    assert missing.value.code == 404
