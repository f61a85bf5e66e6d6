"""The ingress addon's images (tools.minikube.ingress) run with the addon's own arguments."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tools.docker import containers
from tools.docker.engine import docker, image_id
from tools.minikube import gobuild, images, ingress

pytestmark = pytest.mark.slow

# The controller container's args as minikube's ingress-deploy.yaml.tmpl renders them (docker runtime).
ADDON_ARGS = [
    "/nginx-ingress-controller",
    "--election-id=ingress-nginx-leader",
    "--controller-class=k8s.io/ingress-nginx",
    "--watch-ingress-without-class=true",
    "--configmap=ingress-nginx/ingress-nginx-controller",
    "--tcp-services-configmap=ingress-nginx/tcp-services",
    "--udp-services-configmap=ingress-nginx/udp-services",
    "--validating-webhook=:8443",
    "--validating-webhook-certificate=/usr/local/certificates/cert",
    "--validating-webhook-key=/usr/local/certificates/key",
]


def write_webhook_certs(directory: Path) -> Path:
    """A CA and a server certificate for 127.0.0.1, as certgen's Secret mounts them (cert, key); returns the CA."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ingress-nginx-controller-admission")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(mode=0o755, exist_ok=True)
    (directory / "cert").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    for name in ("cert", "key"):
        (directory / name).chmod(0o644)  # the Secret volume's default mode; readable by uid 101
    (directory / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return directory / "ca.crt"


def admission_review(ingress_object: dict) -> dict:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
            "resource": {"group": "networking.k8s.io", "version": "v1", "resource": "ingresses"},
            "namespace": "todo",
            "operation": "CREATE",
            "object": ingress_object,
        },
    }


def an_ingress(annotations: dict[str, str] | None = None) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "todo", "namespace": "todo", "annotations": annotations or {}},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    }
                }
            ],
        },
    }


def post_review(port: int, ca: Path, review: dict) -> dict:
    context = ssl.create_default_context(cafile=str(ca))
    request = urllib.request.Request(
        f"https://127.0.0.1:{port}/networking/v1/ingresses",
        data=json.dumps(review).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    with opener.open(request, timeout=30) as response:
        assert response.status == 200
        return json.load(response)


def run_controller(
    image: str, certs: Path, env: dict[str, str], ports: list[int], volumes: tuple[str, ...] = ()
) -> containers.Container:
    """The controller container as the addon's Deployment runs it: its args, uid 101, only
    NET_BIND_SERVICE, the webhook certificate Secret at /usr/local/certificates."""
    return containers.docker_run_detached(
        image,
        ADDON_ARGS,
        env={"POD_NAME": "ingress-nginx-controller-0", "POD_NAMESPACE": "ingress-nginx", **env},
        ports=ports,
        user="101",
        extra_args=[
            "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE",
            "--volume", f"{certs}:/usr/local/certificates:ro",
            *(arg for volume in volumes for arg in ("--volume", volume)),
        ],
    )  # fmt: skip


@pytest.fixture(scope="module")
def ingress_images(docker_daemon: None) -> dict[str, str]:
    return ingress.build_ingress_images()


def test_addon_images_flag_names_both_images() -> None:
    assert ingress.addon_images_flag() == (
        f"IngressController={ingress.CONTROLLER_IMAGE},"
        f"KubeWebhookCertgenCreate={ingress.CERTGEN_IMAGE},KubeWebhookCertgenPatch={ingress.CERTGEN_IMAGE}"
    )


def test_ingress_images_are_cached_for_minikube(ingress_images: dict[str, str], minikube_home: Path) -> None:
    """So `minikube cache add <ref>` finds them without a registry."""
    cached = ingress.build_cache_ingress_images(minikube_home)
    assert set(cached) == set(ingress_images.values())
    for ref, path in cached.items():
        assert path == images.cache_path(minikube_home, ref)
        assert images.saved_image_ids(path) == {ref: image_id(ref)}


def test_certgen_source_is_patched_to_admissionregistration_v1() -> None:
    source = gobuild.patched_certgen_source()
    k8s_go = (source / "pkg/k8s/k8s.go").read_text()
    assert '"k8s.io/api/admissionregistration/v1"' in k8s_go
    assert "AdmissionregistrationV1()" in k8s_go
    for path in source.rglob("*.go"):
        assert "v1beta1" not in path.read_text() or path.name.endswith("_test.go"), path


def test_certgen_image_runs_as_nonroot(ingress_images: dict[str, str]) -> None:
    helped = docker("run", "--rm", "--user", "2000", ingress_images["certgen"], "--help", check=False)
    assert helped.returncode == 0, helped.stderr
    assert "create" in helped.stdout and "patch" in helped.stdout
    patch_help = docker("run", "--rm", "--user", "2000", ingress_images["certgen"], "patch", "--help").stdout
    assert "--patch-failure-policy" in patch_help


def test_webhook_review_logic_without_a_cluster() -> None:
    controller = ingress.load_controller_module()
    unreachable = []

    def no_api() -> list[dict]:
        unreachable.append(True)
        raise RuntimeError("no API here")

    plain = controller.review(admission_review(an_ingress()), lister=no_api)["response"]
    assert plain["allowed"] is True
    assert any("not checked" in w for w in plain["warnings"])

    other = an_ingress()
    other["metadata"].update(name="other", namespace="elsewhere")
    clash = controller.review(admission_review(an_ingress()), lister=lambda: [other])["response"]
    assert clash["allowed"] is False
    assert clash["status"]["message"] == 'host "" and path "/" is already defined in ingress elsewhere/other'

    traefik_class = an_ingress()
    traefik_class["spec"]["ingressClassName"] = "traefik"
    review = admission_review(traefik_class)
    assert controller.review(review, lister=no_api)["response"] == {"uid": review["request"]["uid"], "allowed": True}


def test_controller_serves_healthz_ports_and_webhook_with_the_addons_args(
    ingress_images: dict[str, str], tmp_path: Path
) -> None:
    ca = write_webhook_certs(tmp_path / "certs")
    tmp_path.chmod(0o755)
    env = {"LD_PRELOAD": "/usr/local/lib/libmimalloc.so"}
    with run_controller(ingress_images["controller"], tmp_path / "certs", env, [80, 443, 8443, 10254]) as controller:
        check_controller(controller, ca)


def check_controller(controller: containers.Container, ca: Path) -> None:
    containers.wait_http(f"http://127.0.0.1:{controller.port(10254)}/healthz", 120, container=controller)
    # :80 is bound by uid 101 (file capability on traefik) and answers for no route: 404.
    containers.wait_http(f"http://127.0.0.1:{controller.port(80)}/", 60, expect_status=404, container=controller)

    review = admission_review(an_ingress({"nginx.ingress.kubernetes.io/rewrite-target": "/"}))
    answer = post_review(controller.port(8443), ca, review)
    assert answer["apiVersion"] == "admission.k8s.io/v1"
    assert answer["kind"] == "AdmissionReview"
    assert answer["response"]["uid"] == review["request"]["uid"]
    assert answer["response"]["allowed"] is True
    assert any("rewrite-target" in w for w in answer["response"]["warnings"])

    snippet = admission_review(an_ingress({"nginx.ingress.kubernetes.io/server-snippet": "return 200;"}))
    denied = post_review(controller.port(8443), ca, snippet)["response"]
    assert denied["allowed"] is False
    assert "server-snippet annotation cannot be used" in denied["status"]["message"]

    assert "cannot be preloaded" not in controller.logs()  # the addon's LD_PRELOAD finds its library

    # preStop: /wait-shutdown stops the controller and returns once it has exited.
    stopped = controller.exec("/wait-shutdown", check=False)
    assert stopped.returncode in (0, 137), stopped.stderr
    for _ in range(120):
        if not controller.running():
            break
        time.sleep(0.5)
    assert not controller.running()
    assert "Traefik exited with 0" in controller.logs()
