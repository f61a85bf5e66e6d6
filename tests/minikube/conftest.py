"""Fixtures for the minikube image tests: the real Docker engine, the binaries, a MINIKUBE_HOME.

The Kubernetes v1.35.1 and minikube binaries come from the offline build (the lead's build
module); until it is wired in, point TODO_MINIKUBE_BINARIES at the directories holding them
(colon-separated, e.g. `/tmp/kick/k8s/out:/tmp/kick/mk/out`). Without them the control-plane
image tests skip and say why; the ingress tests need only what tools/minikube builds itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools.docker import engine
from tools.minikube import images

NEEDED = (*images.REQUIRED_BINARIES, "kubeadm")


@pytest.fixture(scope="session")
def docker_daemon() -> None:
    engine.ensure_daemon()


@pytest.fixture(scope="session")
def minikube_binaries() -> dict[str, Path]:
    """{name: path} for kube-apiserver, ..., storage-provisioner and kubeadm."""
    dirs = [Path(d) for d in os.environ.get("TODO_MINIKUBE_BINARIES", "").split(":") if d]
    found = {}
    for name in NEEDED:
        for directory in dirs:
            if (directory / name).is_file():
                found[name] = directory / name
                break
    missing = [name for name in NEEDED if name not in found]
    if missing:
        pytest.skip(f"TODO_MINIKUBE_BINARIES does not provide {', '.join(missing)} (dirs: {dirs or 'unset'})")
    return found


@pytest.fixture(scope="session")
def minikube_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("minikube-home")
