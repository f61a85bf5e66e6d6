"""Pinned versions of the local test cluster and where their build output is cached.

Everything the cluster needs is compiled from the Go module proxy at these versions.
Bumping a pin changes the cache key, so an old build is never mistaken for a new one.
"""

from __future__ import annotations

import os
from pathlib import Path

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


def staging_version(kubernetes_version: str = KUBERNETES_VERSION) -> str:
    """k8s.io/kubernetes v1.X.Y publishes its staging modules (k8s.io/api, ...) as v0.X.Y."""
    major_minor_patch = kubernetes_version.lstrip("v").split(".")
    return "v0." + ".".join(major_minor_patch[1:])


def cache_root() -> Path:
    return Path(os.environ.get("TODO_CACHE") or Path.home() / ".cache" / "todo")


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
