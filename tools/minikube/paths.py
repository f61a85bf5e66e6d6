"""Where minikube keeps its state and caches, as minikube itself works it out.

minikube's localpath.MiniPath(): `$MINIKUBE_HOME` when it ends in `.minikube`, else
`$MINIKUBE_HOME/.minikube`, and `~/.minikube` without the variable. The offline preparation
fills that directory's caches and leaves its record there, so one MINIKUBE_HOME always pairs
with the record of what was prepared for it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# The record of the offline preparation, read by the minikube role (minikube_offline_record).
RECORD = "todo-offline.json"


def mini_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    home = env.get("MINIKUBE_HOME", "")
    if not home:
        return (Path(env["HOME"]) if env.get("HOME") else Path.home()) / ".minikube"
    path = Path(home)
    return path if path.name == ".minikube" else path / ".minikube"


def binaries_cache(kubernetes_version: str, environ: Mapping[str, str] | None = None) -> Path:
    """kubeadm, kubelet and kubectl as `minikube start` looks for them before downloading."""
    return mini_path(environ) / "cache" / "linux" / "amd64" / kubernetes_version


def images_cache(environ: Mapping[str, str] | None = None) -> Path:
    return mini_path(environ) / "cache" / "images" / "amd64"


def record_path(environ: Mapping[str, str] | None = None) -> Path:
    return mini_path(environ) / RECORD
