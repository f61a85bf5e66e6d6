"""What Minikube adds to a bare node: cluster DNS (CoreDNS) and an Ingress controller (Traefik).

Both run as host processes that read the API with the admin kubeconfig, like a pod would with
its ServiceAccount: CoreDNS answers on the node's bridge address (kubelet's clusterDNS), and
Traefik's entry point listens on 127.0.0.1 only, routing to pod IPs on the bridge.

Traefik stands in for Minikube's ingress-nginx addon through an IngressClass named `nginx`.
Where it differs (see tests/cluster/README.md): `pathType: Prefix` matches as a plain string
prefix (`/apix` goes to the `/api` backend), and nginx-specific annotations are ignored.
"""

from __future__ import annotations

from pathlib import Path

INGRESS_CLASS = "nginx"
TRAEFIK_CONTROLLER = "traefik.io/ingress-controller"


def ingress_class() -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": INGRESS_CLASS, "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
        "spec": {"controller": TRAEFIK_CONTROLLER},
    }


def corefile(dns_ip: str, kubeconfig: str, context: str, health_port: int, ready_port: int) -> str:
    # No `forward`: names outside cluster.local fail fast instead of leaving this machine.
    return f""".:53 {{
    bind {dns_ip}
    errors
    health 127.0.0.1:{health_port}
    ready 127.0.0.1:{ready_port}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} {context}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
}}
"""


def coredns_argv(binary: Path, corefile_path: Path) -> list[str]:
    return [str(binary), "-conf", str(corefile_path)]


# ingress-nginx (Minikube's addon) passes a request to the next endpoint when it could not
# connect to the one it picked (`proxy_next_upstream error timeout`, 3 tries). Traefik's retry
# middleware does the same and, like nginx for a POST, only while nothing of the request has
# reached the pod (it stops retrying once the request headers are written). Without it a
# SIGKILLed pod's address keeps taking requests, all refused, until its endpoint is removed.
NEXT_ENDPOINT_MIDDLEWARE = "next-endpoint"


def traefik_dynamic_config() -> str:
    return f"""http:
  middlewares:
    {NEXT_ENDPOINT_MIDDLEWARE}:
      retry:
        attempts: 3
"""


def traefik_argv(binary: Path, web_port: int, ping_port: int, dynamic_config: Path) -> list[str]:
    return [
        str(binary),
        f"--entryPoints.web.address=127.0.0.1:{web_port}",
        f"--entryPoints.web.http.middlewares={NEXT_ENDPOINT_MIDDLEWARE}@file",
        f"--providers.file.filename={dynamic_config}",
        # Long enough for the slowest request a test sends (an assistant turn is bounded).
        "--entryPoints.web.transport.respondingTimeouts.readTimeout=120s",
        f"--entryPoints.traefik.address=127.0.0.1:{ping_port}",
        "--ping=true",
        "--ping.entryPoint=traefik",
        "--providers.kubernetesingress=true",
        f"--providers.kubernetesingress.ingressclass={INGRESS_CLASS}",
        # A Service without ready endpoints answers 503 (as ingress-nginx does) instead of
        # Traefik dropping its route, which would send /api/... to the `/` rule's frontend.
        "--providers.kubernetesingress.allowEmptyServices=true",
        # Never call home: no version check, no anonymous usage statistics.
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
        "--log.level=INFO",
        "--accesslog=false",
    ]
