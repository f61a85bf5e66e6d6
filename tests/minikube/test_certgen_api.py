"""The addon's certgen create and patch Jobs, as they run, against a real kube-apiserver v1.35.1.

etcd (tools/minikube/gobuild) and kube-apiserver (TODO_MINIKUBE_BINARIES) run with a static
token (conftest.api_server); the certgen image runs as uid 2000 with the Jobs' arguments and a
kubeconfig (a pod would use its ServiceAccount: the same client code). admissionregistration/v1beta1 is not
served by 1.35, so an unpatched certgen fails its `patch` here.
"""

from __future__ import annotations

import base64
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.docker.engine import docker
from tools.minikube import ingress

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


def certgen(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The certgen image as the Jobs run it (uid 2000)."""
    return docker(
        "run", "--rm", "--user", "2000", "--volume", f"{kubeconfig}:/kubeconfig:ro",
        ingress.CERTGEN_IMAGE, *args, "--kubeconfig=/kubeconfig", check=False, timeout=300,
    )  # fmt: skip


WEBHOOK_PATH = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"


@pytest.fixture
def webhook_configuration(api_server) -> Iterator[str]:
    """The addon's ValidatingWebhookConfiguration; deleted afterwards, since nothing serves it here
    and with failurePolicy Fail it would refuse every Ingress other tests create."""
    api_server.call("POST", WEBHOOK_PATH, WEBHOOK)
    yield f"{WEBHOOK_PATH}/{WEBHOOK['metadata']['name']}"
    api_server.call("DELETE", f"{WEBHOOK_PATH}/{WEBHOOK['metadata']['name']}")


def test_create_and_patch_jobs_succeed_against_kubernetes_1_35(
    api_server, webhook_configuration: str, docker_daemon: None
) -> None:
    ingress.build_ingress_images()
    api_server.call("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})

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
    webhook = api_server.call("GET", webhook_configuration)["webhooks"][0]
    assert base64.b64decode(webhook["clientConfig"]["caBundle"]) == base64.b64decode(secret["data"]["ca"])
    assert webhook["failurePolicy"] == "Fail"


def test_v1beta1_which_unpatched_certgen_uses_is_not_served(api_server) -> None:
    with pytest.raises(urllib.error.HTTPError) as missing:
        api_server.raw("GET", "/apis/admissionregistration.k8s.io/v1beta1/validatingwebhookconfigurations")
    assert missing.value.code == 404
