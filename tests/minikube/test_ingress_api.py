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
from collections import Counter
from pathlib import Path

import pytest
from test_ingress import admission_review, an_ingress, post_review, run_controller, write_webhook_certs

from tools.docker import base_images, containers
from tools.docker.engine import docker
from tools.minikube import ingress

pytestmark = pytest.mark.slow

NODE_IP = "192.168.49.2"  # minikube's usual node address; only reported, never dialled
ECHO_SERVER = """
import http.server, socket
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("backend saw " + self.path).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", socket.gethostname()); self.end_headers()
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


def served_by(url: str) -> str:
    """The hostname (container's short id) of the echo server that answered, or the failure."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as response:
            return response.headers.get("X-Served-By", "")
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        return str(exc)


def answered_by(url: str, servers: set[str], controller: containers.Container) -> None:
    """Poll until 20 requests in a row are answered by exactly `servers` (the controller applies
    an endpoint change after its 2 s provider throttle)."""
    seen: list[str] = []
    for _ in range(60):  # bounded by count, not asserted on time
        seen = [served_by(url) for _ in range(20)]
        if set(seen) == servers:
            return
        assert controller.running(), controller.logs()[-3000:]
        time.sleep(0.5)
    pytest.fail(
        f"{url} answered from {Counter(seen)}, not only {servers}; controller logs:\n{controller.logs()[-3000:]}"
    )


def set_endpoints(api_server, namespace: str, endpoints: list[tuple[str, dict]]) -> None:
    """Replace the endpoints of the Service's EndpointSlice: [(address, conditions)]."""
    path = f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices/web-1"
    current = api_server.call("GET", path)
    current["endpoints"] = [{"addresses": [address], "conditions": conditions} for address, conditions in endpoints]
    api_server.call("PUT", path, current)


READY = {"ready": True, "serving": True, "terminating": False}
# A Pod shutting down (its preStop running): still serving what it has, out of the rotation.
TERMINATING = {"ready": False, "serving": True, "terminating": True}


def ensure(api_server, path: str, body: dict) -> None:
    """POST unless it exists already (another test may have made it)."""
    try:
        api_server.call("POST", path, body)
    except urllib.error.HTTPError as exc:
        assert exc.code == 409, exc.read()


def controller_pod(api_server, node_ip: str) -> None:
    """The controller's Pod object with status.hostIP, as the kubelet would report it."""
    base = "/api/v1/namespaces/ingress-nginx"
    ensure(api_server, "/api/v1/namespaces", {"metadata": {"name": "ingress-nginx"}})
    ensure(api_server, f"{base}/serviceaccounts", {"metadata": {"name": "default"}})
    ensure(
        api_server,
        f"{base}/pods",
        {
            "metadata": {"name": "ingress-nginx-controller-0"},
            "spec": {"nodeName": "minikube", "containers": [{"name": "controller", "image": "controller"}]},
        },
    )
    pod = api_server.call("GET", f"{base}/pods/ingress-nginx-controller-0")
    pod["status"].update(hostIP=node_ip, hostIPs=[{"ip": node_ip}])
    api_server.call("PUT", f"{base}/pods/ingress-nginx-controller-0/status", pod)


def ip_of(container: containers.Container) -> str:
    return docker("inspect", "--format", "{{.NetworkSettings.IPAddress}}", container.id).stdout.strip()


def test_controller_routes_an_nginx_ingress_and_checks_collisions_in_cluster(
    api_server, docker_daemon: None, tmp_path: Path
) -> None:
    """Also: an endpoint's conditions alone move it in and out of the rotation (a Pod that is
    shutting down gets no new request; one that turns ready gets its share)."""
    images = ingress.build_ingress_images()
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    api_server.call("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
    ensure(
        api_server,
        "/apis/networking.k8s.io/v1/ingressclasses",
        {"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}},
    )
    controller_pod(api_server, NODE_IP)
    python = base_images.build_base_images()["python"]
    # `dead` listens on nothing: its endpoint refuses connections, like a SIGKILLed pod's.
    with (
        containers.docker_run_detached(python, ["python3", "-c", ECHO_SERVER]) as backend,
        containers.docker_run_detached(python, ["sleep", "3600"]) as dead,
        containers.docker_run_detached(python, ["python3", "-c", ECHO_SERVER]) as other,
    ):
        backend_ip, dead_ip = ip_of(backend), ip_of(dead)
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
                "endpoints": [
                    {"addresses": [backend_ip], "conditions": {"ready": True}},
                    {"addresses": [dead_ip], "conditions": {"ready": True}},
                ],
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
        with run_controller(
            images["controller"], tmp_path / "certs", in_cluster, [80, 8443, 10254], (account,)
        ) as controller:
            web = f"http://127.0.0.1:{controller.port(80)}"
            assert wait_for(f"{web}/api/items", 200, controller) == "backend saw /api/items"
            assert get(f"{web}/api")[0] == 200
            assert get(f"{web}/apix")[0] == 404  # Prefix matches whole path elements
            assert get(f"{web}/")[0] == 404
            # Round robin over both endpoints; the refused one is retried on the next (next-endpoint).
            assert [get(f"{web}/api/{n}")[0] for n in range(10)] == [200] * 10
            metrics = get(f"http://127.0.0.1:{controller.port(10254)}/metrics")[1]
            # Traefik counts each attempt per service: the refused ones as 502, which no client saw.
            refused = [
                float(line.rsplit(" ", 1)[1])
                for line in metrics.splitlines()
                if line.startswith('traefik_service_requests_total{code="502"')
            ]
            assert sum(refused) >= 1, metrics[-2000:]

            # Conditions alone, addresses unchanged (what a rollout does to a slice): a Pod that
            # is shutting down leaves the rotation before its SIGTERM, as with ingress-nginx;
            # one that turns ready joins it. Traefik 3.6.12 as released ignored both
            # (tools/cluster/build.py TRAEFIK_PATCH).
            first, second = backend.id[:12], other.id[:12]
            set_endpoints(api_server, namespace, [(backend_ip, READY), (ip_of(other), READY)])
            answered_by(f"{web}/api/x", {first, second}, controller)
            set_endpoints(api_server, namespace, [(backend_ip, TERMINATING), (ip_of(other), READY)])
            answered_by(f"{web}/api/x", {second}, controller)
            set_endpoints(api_server, namespace, [(backend_ip, READY), (ip_of(other), READY)])
            answered_by(f"{web}/api/x", {first, second}, controller)

            # Ingress status: the node's address (the Pod's hostIP), as ingress-nginx reports it.
            status: dict = {}
            for _ in range(60):  # bounded by count
                ing = api_server.call("GET", f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/todo")
                status = ing.get("status", {}).get("loadBalancer", {})
                if status.get("ingress"):
                    break
                time.sleep(0.5)
            assert status == {"ingress": [{"ip": NODE_IP}]}, controller.logs()[-2000:]

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
