#!/usr/bin/python3
"""/nginx-ingress-controller of the stand-in ingress image: Traefik behind ingress-nginx's flags.

minikube's ingress addon starts `/nginx-ingress-controller --election-id=... --controller-class=...
--watch-ingress-without-class=true --configmap=... --validating-webhook=:8443
--validating-webhook-certificate=... --validating-webhook-key=...`. This launcher maps those
flags onto Traefik (its kubernetesIngressNGINX provider) and serves the admission webhook itself:

- Traefik entry points :80 (web) and :443 (websecure, TLS with Traefik's default certificate
  unless an Ingress brings its own) for Ingresses of the class, /healthz (Traefik's ping) and
  /metrics (Prometheus, Traefik's metric names) on :10254;
- every request through the `next-endpoint` retry middleware: like nginx's proxy_next_upstream,
  a refused connection to one endpoint is retried on another;
- the Ingress status gets the node's address (the pod's hostIP), as ingress-nginx reports it;
- the ValidatingWebhook on --validating-webhook answers AdmissionReview v1 at
  /networking/v1/ingresses; see `review()` for what it checks.

Standard library only: it runs on Debian's python3 in the image and is imported by the tests.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

TRAEFIK = os.environ.get("TRAEFIK_BINARY", "/usr/local/bin/traefik")
STATE_DIR = Path(os.environ.get("INGRESS_STATE_DIR", "/etc/ingress-controller"))
PID_FILE = "controller.pid"
HEALTH_PORT = 10254
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
NGINX_ANNOTATION_PREFIX = "nginx.ingress.kubernetes.io/"
# A retry middleware on every entry point: a connection refused by one endpoint is retried on
# another, as nginx's proxy_next_upstream does.
NEXT_ENDPOINT_MIDDLEWARE = "next-endpoint"

# The annotations Traefik v3.6.12's kubernetesIngressNGINX provider reads (its annotations.go);
# ingress-nginx knows many more, which Traefik ignores: the webhook warns about those.
SUPPORTED_ANNOTATIONS = frozenset(
    NGINX_ANNOTATION_PREFIX + name
    for name in [
        "affinity",
        "auth-realm",
        "auth-response-headers",
        "auth-secret",
        "auth-secret-type",
        "auth-type",
        "auth-url",
        "backend-protocol",
        "cors-allow-credentials",
        "cors-allow-headers",
        "cors-allow-methods",
        "cors-allow-origin",
        "cors-expose-headers",
        "cors-max-age",
        "enable-cors",
        "force-ssl-redirect",
        "proxy-ssl-name",
        "proxy-ssl-secret",
        "proxy-ssl-server-name",
        "proxy-ssl-verify",
        "service-upstream",
        "session-cookie-domain",
        "session-cookie-max-age",
        "session-cookie-name",
        "session-cookie-path",
        "session-cookie-samesite",
        "session-cookie-secure",
        "ssl-passthrough",
        "ssl-redirect",
        "use-regex",
    ]
)


def log(message: str) -> None:
    print(f"[nginx-ingress-controller] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------
# Flags
# ------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """ingress-nginx's flags as the addon passes them. Unknown flags fail, as in ingress-nginx."""
    parser = argparse.ArgumentParser(prog="/nginx-ingress-controller", allow_abbrev=False)
    parser.add_argument("--election-id", default="ingress-controller-leader")  # one replica: no election
    parser.add_argument("--controller-class", default="k8s.io/ingress-nginx")
    parser.add_argument("--ingress-class", default="nginx")
    parser.add_argument("--watch-ingress-without-class", nargs="?", const="true", default="false")
    parser.add_argument("--ingress-class-by-name", nargs="?", const="true", default="false")
    parser.add_argument("--configmap", default="")  # not applied: see the module docstring
    parser.add_argument("--tcp-services-configmap", default="")
    parser.add_argument("--udp-services-configmap", default="")
    parser.add_argument("--publish-service", default="")
    parser.add_argument("--publish-status-address", default="")
    parser.add_argument("--default-backend-service", default="")
    parser.add_argument("--default-ssl-certificate", default="")
    parser.add_argument("--watch-namespace", default="")
    parser.add_argument("--http-port", type=int, default=80)
    parser.add_argument("--https-port", type=int, default=443)
    parser.add_argument("--healthz-port", type=int, default=HEALTH_PORT)
    parser.add_argument("--validating-webhook", default="")
    parser.add_argument("--validating-webhook-certificate", default="")
    parser.add_argument("--validating-webhook-key", default="")
    parser.add_argument("--v", default="")
    return parser.parse_args(list(argv))


def truthy(value: str) -> bool:
    return str(value).lower() in ("1", "true", "yes")


def dynamic_config(health_entry_point: str = "health") -> str:
    """Traefik's file-provider config: the retry middleware and /healthz on the health port."""
    return f"""http:
  middlewares:
    {NEXT_ENDPOINT_MIDDLEWARE}:
      retry:
        attempts: 3
  routers:
    healthz:
      entryPoints: [{health_entry_point}]
      rule: Path(`/healthz`)
      priority: 2147483000
      service: ping@internal
"""


def traefik_argv(args: argparse.Namespace, config_file: Path, status_address: str) -> list[str]:
    provider = "--providers.kubernetesIngressNGINX"
    argv = [
        TRAEFIK,
        f"--entryPoints.web.address=:{args.http_port}",
        "--entryPoints.web.asDefault=true",
        f"--entryPoints.web.http.middlewares={NEXT_ENDPOINT_MIDDLEWARE}@file",
        f"--entryPoints.websecure.address=:{args.https_port}",
        "--entryPoints.websecure.asDefault=true",
        "--entryPoints.websecure.http.tls=true",
        f"--entryPoints.websecure.http.middlewares={NEXT_ENDPOINT_MIDDLEWARE}@file",
        # Traefik's default of 60s would cut a slow request that nginx (60s between reads, not
        # in total) lets through.
        "--entryPoints.web.transport.respondingTimeouts.readTimeout=120s",
        "--entryPoints.websecure.transport.respondingTimeouts.readTimeout=120s",
        # nginx's proxy_connect_timeout (5s), after which proxy_next_upstream tries the next
        # endpoint. Traefik's default of 30s outlasts a client: the address of a Pod whose
        # sandbox is gone answers nothing (no RST on the node's bridge) until the provider has
        # dropped it, so a request routed there in that moment hung instead of moving on.
        "--serversTransport.forwardingTimeouts.dialTimeout=5s",
        # ingress-nginx's upstream-keepalive-timeout (60s); Traefik's default is 90s. The apps
        # keep idle connections open longer than this (75 s), so the controller closes first.
        "--serversTransport.forwardingTimeouts.idleConnTimeout=60s",
        # No idle connection to a Pod is reused: a fresh connection to a Pod that is closing is
        # refused and the retry middleware moves on, where a request written onto a kept-alive
        # one fails. (ingress-nginx retries an idempotent request on the next upstream even
        # after writing it; Traefik's retry does not, so it must not write into a dying
        # connection at all.) A stopping Pod gets no new request anyway once its endpoint is
        # terminating (the patched build: tools/cluster/build.py TRAEFIK_PATCH).
        "--serversTransport.maxIdleConnsPerHost=-1",
        f"--entryPoints.health.address=:{args.healthz_port}",
        "--ping=true",
        "--ping.manualRouting=true",
        "--metrics.prometheus=true",
        "--metrics.prometheus.entryPoint=health",
        f"--providers.file.filename={config_file}",
        f"{provider}=true",
        f"{provider}.ingressClass={args.ingress_class}",
        f"{provider}.controllerClass={args.controller_class}",
        f"{provider}.watchIngressWithoutClass={str(truthy(args.watch_ingress_without_class)).lower()}",
        f"{provider}.ingressClassByName={str(truthy(args.ingress_class_by_name)).lower()}",
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
        "--log.level=INFO",
        "--log.noColor=true",
    ]
    if args.watch_namespace:
        argv.append(f"{provider}.watchNamespace={args.watch_namespace}")
    if args.publish_service:
        argv.append(f"{provider}.publishService={args.publish_service}")
    elif status_address:
        argv.append(f"{provider}.publishStatusAddress={status_address}")
    if args.default_backend_service:
        argv.append(f"{provider}.defaultBackendService={args.default_backend_service}")
    return argv


# ------------------------------------------------------------------------------------------
# The Kubernetes API, as the pod's ServiceAccount
# ------------------------------------------------------------------------------------------


def api_get(path: str, timeout: float = 5.0) -> dict:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host or not (SERVICE_ACCOUNT / "token").is_file():
        raise RuntimeError("not running in a pod (no KUBERNETES_SERVICE_HOST or ServiceAccount token)")
    context = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
    request = urllib.request.Request(
        f"https://{host}:{port}{path}",
        headers={"Authorization": "Bearer " + (SERVICE_ACCOUNT / "token").read_text().strip()},
    )
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310 (https only)
        return json.load(response)


def node_address() -> str:
    """The pod's hostIP: what ingress-nginx writes into Ingress status without --publish-service."""
    name, namespace = os.environ.get("POD_NAME"), os.environ.get("POD_NAMESPACE")
    if not name or not namespace:
        return ""
    try:
        pods = api_get(f"/api/v1/namespaces/{namespace}/pods?fieldSelector=metadata.name%3D{name}")
        return pods["items"][0]["status"].get("hostIP", "")
    except (OSError, RuntimeError, KeyError, IndexError, ValueError) as exc:
        log(f"no status address (Ingress status stays empty): {exc}")
        return ""


def list_ingresses() -> list[dict]:
    return api_get("/apis/networking.k8s.io/v1/ingresses")["items"]


# ------------------------------------------------------------------------------------------
# The admission webhook
# ------------------------------------------------------------------------------------------


def ingress_class_of(ingress: dict) -> str:
    return (ingress.get("spec") or {}).get("ingressClassName") or (ingress["metadata"].get("annotations") or {}).get(
        "kubernetes.io/ingress.class", ""
    )


def host_paths(ingress: dict) -> list[tuple[str, str, str]]:
    found = []
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        for path in ((rule.get("http") or {}).get("paths")) or []:
            found.append((rule.get("host", ""), path.get("path", "/"), path.get("pathType", "Prefix")))
    return found


def review(
    body: dict,
    ingress_class: str = "nginx",
    watch_without_class: bool = True,
    lister: Callable[[], list[dict]] = list_ingresses,
) -> dict:
    """An AdmissionReview v1 response for an AdmissionReview v1 request about an Ingress.

    Denies, with ingress-nginx's own messages: `*-snippet` annotations (ingress-nginx's default
    `allow-snippet-annotations: false`), and a host + path (+ pathType) that another Ingress of
    the class already defines. Warns about nginx annotations Traefik does not implement.
    It does not render or test an nginx configuration, so it cannot reject what only nginx
    would refuse.
    """
    request = body.get("request") or {}
    response: dict = {"uid": request.get("uid", ""), "allowed": True}
    result = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
    ingress = request.get("object") or {}
    kind = request.get("kind") or {}
    if kind.get("kind") != "Ingress" or request.get("operation") == "DELETE" or not ingress:
        return result
    chosen = ingress_class_of(ingress)
    if (chosen and chosen != ingress_class) or (not chosen and not watch_without_class):
        return result  # another controller's Ingress: ingress-nginx does not judge it either
    annotations = ingress.get("metadata", {}).get("annotations") or {}
    snippets = sorted(a for a in annotations if a.startswith(NGINX_ANNOTATION_PREFIX) and a.endswith("-snippet"))
    if snippets:
        response.update(
            allowed=False,
            status={
                "code": 400,
                "message": f"{snippets[0]} annotation cannot be used. Snippet directives are disabled by the "
                "Ingress administrator",
            },
        )
        return result
    warnings = [
        f"annotation {a} is ignored by this cluster's ingress controller (Traefik standing in for ingress-nginx)"
        for a in sorted(annotations)
        if a.startswith(NGINX_ANNOTATION_PREFIX) and a not in SUPPORTED_ANNOTATIONS
    ]
    mine = set(host_paths(ingress))
    namespace, name = (
        ingress["metadata"].get("namespace") or request.get("namespace", ""),
        ingress["metadata"].get("name", ""),
    )
    try:
        others = lister()
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        others = []
        warnings.append(f"host/path collisions were not checked: {exc}")
    for other in others:
        meta = other.get("metadata") or {}
        if (meta.get("namespace"), meta.get("name")) == (namespace, name):
            continue
        other_class = ingress_class_of(other)
        if (other_class and other_class != ingress_class) or (not other_class and not watch_without_class):
            continue
        for host, path, path_type in host_paths(other):
            if (host, path, path_type) in mine:
                response.update(
                    allowed=False,
                    status={
                        "code": 400,
                        "message": f'host "{host}" and path "{path}" is already defined in ingress '
                        f"{meta.get('namespace')}/{meta.get('name')}",
                    },
                )
                return result
    if warnings:
        response["warnings"] = warnings
    return result


class WebhookHandler(http.server.BaseHTTPRequestHandler):
    timeout = 30
    ingress_class = "nginx"
    watch_without_class = True

    def setup(self) -> None:
        super().setup()  # applies `timeout` to the connection
        self.connection.do_handshake()  # TLS, in this request's thread

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != "/networking/v1/ingresses":
            self.send_error(404)
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
        except ValueError as exc:
            self.send_error(400, f"not an AdmissionReview: {exc}")
            return
        answer = json.dumps(review(body, self.ingress_class, self.watch_without_class)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        log("webhook: " + format % args)


def serve_webhook(address: str, certificate: str, key: str, ingress_class: str, watch_without_class: bool):
    """Start the HTTPS webhook server on `address` (":8443") in a thread; return the server."""
    host, _, port = address.rpartition(":")
    for _ in range(60):  # the certificate Secret is mounted before the container starts; be patient anyway
        if Path(certificate).is_file() and Path(key).is_file():
            break
        time.sleep(1)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate, key)
    handler = type(
        "Handler", (WebhookHandler,), {"ingress_class": ingress_class, "watch_without_class": watch_without_class}
    )
    server = http.server.ThreadingHTTPServer((host or "0.0.0.0", int(port)), handler)  # noqa: S104 (pod port)
    server.daemon_threads = True
    # The TLS handshake happens in the request's thread (WebhookHandler.setup), not in accept().
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=server.serve_forever, name="webhook", daemon=True).start()
    log(f"admission webhook on {address} (TLS: {certificate})")
    return server


# ------------------------------------------------------------------------------------------
# Supervision
# ------------------------------------------------------------------------------------------


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    for ignored in ("configmap", "tcp_services_configmap", "udp_services_configmap", "default_ssl_certificate"):
        if getattr(args, ignored):
            log(f"--{ignored.replace('_', '-')}={getattr(args, ignored)} is not applied by this stand-in")
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    (STATE_DIR / PID_FILE).write_text(f"{os.getpid()}\n")
    config_file = STATE_DIR / "dynamic.yml"
    config_file.write_text(dynamic_config())
    if args.validating_webhook:
        serve_webhook(
            args.validating_webhook,
            args.validating_webhook_certificate,
            args.validating_webhook_key,
            args.ingress_class,
            truthy(args.watch_ingress_without_class),
        )
    status_address = args.publish_status_address or ("" if args.publish_service else node_address())
    argv_traefik = traefik_argv(args, config_file, status_address)
    log("starting " + " ".join(argv_traefik))
    traefik = subprocess.Popen(argv_traefik)

    def forward(signum: int, _frame: object) -> None:
        log(f"signal {signum}: stopping Traefik")
        traefik.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = traefik.wait()
    log(f"Traefik exited with {code}")
    (STATE_DIR / PID_FILE).unlink(missing_ok=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
