"""Pinned versions of the local test cluster and where their build output is cached.

Everything the cluster needs is compiled from the Go module proxy at these versions.
Bumping a pin changes the cache key, so an old build is never mistaken for a new one.
"""

from __future__ import annotations

import os
from pathlib import Path

from tools.cache import cache_root

# One Kubernetes everywhere: minikube v1.38.1's default (its DefaultKubernetesVersion) and its
# newest tested version, in every cluster the tests run and in the deploy's `minikube start`.
KUBERNETES_VERSION = "v1.35.1"
# The etcd kubeadm v1.35.1 deploys (cmd/kubeadm/app/constants: DefaultEtcdVersion 3.6.6-0).
ETCD_VERSION = "v3.6.6"
# Staging modules whose v0.X.Y zip the Go module proxy does not serve fall back to the nearest
# published patch, pinned here explicitly (none for v1.35.1: every v0.35.1 zip is served).
STAGING_OVERRIDES: dict[str, str] = {}
# kwok v0.7.0 needs go >= 1.24; it plays kubelet for fake nodes.
KWOK_VERSION = "v0.7.0"

# Cluster DNS and the Ingress controller of the offline Minikube images, built from their Go
# modules like the rest. CoreDNS: the version kubeadm v1.35.1 deploys (its constants.CoreDNSVersion).
COREDNS_VERSION = "v1.13.1"
# Traefik 3.6, not 3.7: 3.7.x needs a nested module that the Go module proxy does not serve.
TRAEFIK_VERSION = "v3.6.12"
# Traefik's own go.mod replaces these forks; a `replace` of a dependency is ignored, so the
# wrapper module repeats them (copied from traefik v3.6.12's go.mod).
TRAEFIK_REPLACES = (
    "github.com/abbot/go-http-auth => github.com/containous/go-http-auth v0.4.1-0.20200324110947-a37a7636d23e",
    "github.com/gorilla/mux => github.com/containous/mux v0.0.0-20250523120546-41b6ec3aed59",
    "github.com/mailgun/minheap => github.com/containous/minheap v0.0.0-20190809180810-6e71eb837595",
)


# A real minikube, compiled here (tools/minikube/build.py): its go.mod has no replace lines.
MINIKUBE_VERSION = "v1.38.1"
# What its node runs for the docker runtime, compiled for the offline kic base image. minikube
# v1.38.1's own kicbase ships cri-dockerd v0.4.1 with docker-ce 28 and crictl v1.35.0. Ours has
# Debian bookworm's Docker Engine 20.10 (API 1.41), which cri-dockerd 0.4.x refuses ("docker API
# version is older than 1.42.0"); v0.3.17, the newest 0.3 the Go module proxy serves, takes API
# >= 1.26 and speaks the same CRI v1 (both build on k8s.io/cri-api v0.30.1). crictl: cri-tools
# v1.34.0 is served (v1.35.0 is refused), within crictl's skew of one minor.
CRI_DOCKERD_VERSION = "v0.3.17"
CRICTL_VERSION = "v1.34.0"


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


KUBE_COMMANDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    # minikube's binary cache (kubeadm, kubelet, kubectl) and the tests' kubectl.
    "kubeadm",
    "kubectl",
)
BINARIES = ("etcd", *KUBE_COMMANDS, "kwok")
ADDONS = {"coredns": COREDNS_VERSION, "traefik": TRAEFIK_VERSION}


def addon_bin_dir() -> Path:
    """coredns and traefik, keyed by their own versions (not the Kubernetes one)."""
    return cache_root() / "addons" / "bin"


def go_dir() -> Path:
    """One Go module and build cache for every Go build of the harness (Kubernetes, etcd, the
    add-ons, minikube): both are content-addressed, so sharing is safe, and the many modules
    these builds have in common are downloaded and compiled once."""
    return cache_root() / "go"
