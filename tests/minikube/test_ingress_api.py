"""The controller image on a real kube-apiserver v1.35.1, through its in-cluster code path.

The container gets what a pod gets (KUBERNETES_SERVICE_HOST/PORT, a ServiceAccount token and
ca.crt at the usual path) and the addon's args; the API holds the addon's IngressClass, a
Service whose EndpointSlice points at a backend container, and an Ingress of class nginx.
No kubelet runs: the objects a kubelet and kube-controller-manager would make are written here.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from test_ingress import admission_review, an_ingress, post_review, run_controller, write_webhook_certs

from tools.docker import base_images, containers
from tools.docker.engine import docker
from tools.minikube import ingress

pytestmark = pytest.mark.slow

ECHO_SERVER = """
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("backend saw " + self.path).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()
"""


def get(url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        return 0, str(exc)


def wait_for(url: str, status: int, controller: containers.Container) -> str:
    """Poll until `url` answers `status` (Traefik applies new config within a second or two)."""
    last = (0, "")
    for _ in range(120):  # bounded by count, not asserted on time
        last = get(url)
        if last[0] == status:
            return last[1]
        assert controller.running(), controller.logs()[-3000:]
        time.sleep(0.5)
    pytest.fail(f"{url} kept answering {last}; controller logs:\n{controller.logs()[-3000:]}")


def test_controller_routes_an_nginx_ingress_and_checks_collisions_in_cluster(
    api_server, docker_daemon: None, tmp_path: Path
) -> None:
    images = ingress.build_ingress_images()
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    api_server.call("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
    try:
        api_server.call(
            "POST",
            "/apis/networking.k8s.io/v1/ingressclasses",
            {"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}},
        )
    except urllib.error.HTTPError as exc:
        assert exc.code == 409  # another test made it already
    with containers.docker_run_detached(
        base_images.build_base_images()["python"], ["python3", "-c", ECHO_SERVER]
    ) as backend:
        backend_ip = docker("inspect", "--format", "{{.NetworkSettings.IPAddress}}", backend.id).stdout.strip()
        api_server.call(
            "POST",
            f"/api/v1/namespaces/{namespace}/services",
            {"metadata": {"name": "web"}, "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
        )
        api_server.call(
            "POST",
            f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
            {
                "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                "endpoints": [{"addresses": [backend_ip], "conditions": {"ready": True}}],
            },
        )
        api_object = an_ingress()
        api_object["metadata"] = {"name": "todo", "namespace": namespace}
        path = api_object["spec"]["rules"][0]["http"]["paths"][0]
        path["path"] = "/api"
        path["backend"]["service"] = {"name": "web", "port": {"name": "http"}}
        api_server.call("POST", f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses", api_object)

        ca = write_webhook_certs(tmp_path / "certs")
        tmp_path.chmod(0o755)
        in_cluster = {"KUBERNETES_SERVICE_HOST": api_server.host, "KUBERNETES_SERVICE_PORT": str(api_server.port)}
        account = f"{api_server.service_account}:/var/run/secrets/kubernetes.io/serviceaccount:ro"
        with run_controller(images["controller"], tmp_path / "certs", in_cluster, [80, 8443], (account,)) as controller:
            web = f"http://127.0.0.1:{controller.port(80)}"
            assert wait_for(f"{web}/api/items", 200, controller) == "backend saw /api/items"
            assert get(f"{web}/api")[0] == 200
            assert get(f"{web}/apix")[0] == 404  # Prefix matches whole path elements
            assert get(f"{web}/")[0] == 404

            # The webhook lists Ingresses with the ServiceAccount and refuses a second /api.
            clash = an_ingress()
            clash["metadata"] = {"name": "other", "namespace": "default"}
            clash["spec"]["rules"][0]["http"]["paths"][0]["path"] = "/api"
            review = admission_review(clash)
            denied = post_review(controller.port(8443), ca, review)["response"]
            assert denied["allowed"] is False
            assert denied["status"]["message"] == (
                f'host "" and path "/api" is already defined in ingress {namespace}/todo'
            )
            fine = post_review(controller.port(8443), ca, admission_review(an_ingress()))["response"]
            assert fine["allowed"] is True
            assert "warnings" not in fine
            assert "Error while initializing provider" not in controller.logs()
