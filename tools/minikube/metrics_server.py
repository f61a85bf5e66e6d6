"""The image of minikube's metrics-server addon, built here, and the `--images=` that points the addon at it.

`minikube addons enable metrics-server --images=MetricsServer=<name:tag>` renders minikube
v1.38.1's own manifests (deploy/addons/metrics-server: the APIService v1beta1.metrics.k8s.io,
RBAC, the Service and the Deployment with `--kubelet-insecure-tls`, `--metric-resolution=60s`,
`--secure-port=4443`, runAsUser 1000, a read-only root filesystem and /tmp an emptyDir) with
`image: <name:tag>`: a custom image drops the addon's default registry (registry.k8s.io), so the
name is used as it is (pkg/minikube/assets/addons.go GenerateTemplateData). The image must be in
the node's Docker before the addon is enabled (imagePullPolicy IfNotPresent).

The binary is sigs.k8s.io/metrics-server v0.8.0 compiled by gobuild.py (the addon names v0.8.1,
which the Go module proxy here does not serve); the image is upstream's layout: the static
binary at /metrics-server on a distroless-like scratch root, user 65534 (the addon's Pod runs
it as uid 1000 anyway).
"""

from __future__ import annotations

from pathlib import Path

from tools.cache import file_lock
from tools.docker import base_images
from tools.docker.engine import ensure_daemon
from tools.minikube import gobuild, images

ADDON = "metrics-server"
IMAGE = f"todo-minikube/metrics-server:{gobuild.METRICS_SERVER_VERSION}"
# Upstream's Dockerfile: `USER 65534` on gcr.io/distroless/static.
USER = 65534


def dockerfile() -> str:
    return images.static_dockerfile("metrics-server", "/metrics-server", user=USER)


def addon_images_flag(image: str = IMAGE) -> str:
    """The value of `minikube addons enable metrics-server --images=`."""
    return f"MetricsServer={image}"


def build_metrics_server_image(binary: Path | None = None, *, force: bool = False) -> str:
    """Build (or reuse) the addon's image in the local Docker engine; return its reference."""
    ensure_daemon()
    base_images.ensure_base_images()
    binary = binary or gobuild.build_metrics_server()
    with file_lock("minikube-images"):
        images.build_image(IMAGE, dockerfile(), {"metrics-server": Path(binary)}, force=force)
    return IMAGE
