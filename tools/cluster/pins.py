"""Pinned versions of the local test cluster and where their build output is cached.

Everything the cluster needs is compiled from the Go module proxy at these versions.
Bumping a pin changes the cache key, so an old build is never mistaken for a new one.
"""

from __future__ import annotations

import os
from pathlib import Path

from tools.cache import cache_root

# Kubernetes 1.32 to match kubectl and the schema validation used by the chart tests.
# v1.32.13 is the newest 1.32 patch the Go module proxy serves (checked via @v/<ver>.info).
KUBERNETES_VERSION = "v1.32.13"
# etcd 3.5 is the series Kubernetes 1.32 supports (Debian's 3.4 is too old).
ETCD_VERSION = "v3.5.35"
# Staging modules whose v0.X.Y zip the Go module proxy does not serve (HTTP 403 "This
# module version is not available" for k8s.io/endpointslice@v0.32.13.zip, while its .info
# answers 200). They fall back to the nearest published patch, pinned here explicitly.
STAGING_OVERRIDES = {"k8s.io/endpointslice": "v0.32.12"}
# kwok v0.7.0 needs go >= 1.24; it plays kubelet for fake nodes.
KWOK_VERSION = "v0.7.0"

# The real node's cluster DNS and Ingress controller, built from their Go modules like the
# rest. CoreDNS 1.12 serves the Kubernetes 1.32 API fine (1.32 itself ships CoreDNS 1.11.3).
COREDNS_VERSION = "v1.12.4"
# Traefik 3.6, not 3.7: 3.7.x needs a nested module that the Go module proxy does not serve.
TRAEFIK_VERSION = "v3.6.12"
# Traefik's own go.mod replaces these forks; a `replace` of a dependency is ignored, so the
# wrapper module repeats them (copied from traefik v3.6.12's go.mod).
TRAEFIK_REPLACES = (
    "github.com/abbot/go-http-auth => github.com/containous/go-http-auth v0.4.1-0.20200324110947-a37a7636d23e",
    "github.com/gorilla/mux => github.com/containous/mux v0.0.0-20250523120546-41b6ec3aed59",
    "github.com/mailgun/minheap => github.com/containous/minheap v0.0.0-20190809180810-6e71eb837595",
)


def staging_version(kubernetes_version: str = KUBERNETES_VERSION) -> str:
    """k8s.io/kubernetes v1.X.Y publishes its staging modules (k8s.io/api, ...) as v0.X.Y."""
    major_minor_patch = kubernetes_version.lstrip("v").split(".")
    return "v0." + ".".join(major_minor_patch[1:])


def version_dir() -> Path:
    """All build artefacts for one pinned Kubernetes version live under here."""
    return cache_root() / "k8s" / KUBERNETES_VERSION


def bin_dir() -> Path:
    return version_dir() / "bin"


def default_run_dir() -> Path:
    """State of a running cluster (certs, etcd data, logs, pids): outside the repo."""
    override = os.environ.get("TODO_CLUSTER_DIR")
    return Path(override) if override else cache_root() / "cluster" / "run"


BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kwok")
ADDONS = {"coredns": COREDNS_VERSION, "traefik": TRAEFIK_VERSION}


def addon_bin_dir() -> Path:
    """coredns and traefik, keyed by their own versions (not the Kubernetes one)."""
    return cache_root() / "addons" / "bin"


def addon_go_dir() -> Path:
    """One Go module and build cache for the add-ons: both are content-addressed, so sharing is safe."""
    return cache_root() / "addons" / "go"
