"""Helpers for the chart tests: run the pinned helm and parse what it renders.

helm comes from $HELM, else ${TODO_CACHE:-~/.cache/todo}/tools/bin/helm (installed by
`python3 scripts/tools.py install`), else PATH. Nothing here talks to a cluster.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tools.cluster.pins import KUBERNETES_VERSION

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "chart" / "todo"
# Image tag used in renders; a placeholder, not a secret.
TAG = "0.0.0-test"
# The Kubernetes every cluster of the tests runs (helm --kube-version, the schemas).
KUBE_VERSION = KUBERNETES_VERSION.lstrip("v")
EXISTING_SECRET = "todo-secrets"  # pragma: allowlist secret (a Secret name, the Ansible contract)
CACHE = Path(os.environ.get("TODO_CACHE", Path.home() / ".cache" / "todo"))


# The secret modes every rendering check runs in (schema validation, policy scan).
RENDER_MODES = {
    "dev-existing-secret": {},
    "dev-postgresql": {"sets": {"postgresql.enabled": "true"}},
    # An HPA per tier (CPU; memory too on one), the Deployments without `replicas`.
    "dev-autoscaling": {
        "sets": {
            "backend.autoscaling.enabled": "true",
            "frontend.autoscaling.enabled": "true",
            "frontend.autoscaling.targetMemoryUtilizationPercentage": "80",
        }
    },
    "defaults-chart-created-secret": {
        "values_files": (),
        "existing_secret": None,
        "set_strings": {
            "secrets.authSecret": secrets.token_urlsafe(32),
            "secrets.databaseUrl": "postgresql://db.example.invalid/app",
        },
    },
}


def helm_path() -> str:
    candidates = [os.environ.get("HELM"), str(CACHE / "tools" / "bin" / "helm"), shutil.which("helm")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("helm not found: run `python3 scripts/tools.py install` (or set HELM=/path/to/helm)")


def run_helm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [helm_path(), *args],
        capture_output=True,
        text=True,
        timeout=60,
        # No cluster: keep helm away from any kubeconfig of the machine.
        env={**os.environ, "KUBECONFIG": os.devnull},
    )


@dataclass
class Manifest:
    """The parsed documents of one `helm template` run."""

    docs: list[dict]
    text: str = field(repr=False, default="")

    def all(self, kind: str) -> list[dict]:
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind: str, name: str) -> dict:
        found = [d for d in self.docs if d["kind"] == kind and d["metadata"]["name"] == name]
        assert len(found) == 1, f"expected exactly one {kind}/{name}, found {len(found)}"
        return found[0]

    def has(self, kind: str, name: str) -> bool:
        return any(d["kind"] == kind and d["metadata"]["name"] == name for d in self.docs)

    def pod_specs(self) -> list[tuple[dict, dict]]:
        """(workload, pod spec) for every object that creates pods."""
        out = []
        for doc in self.docs:
            if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
                out.append((doc, doc["spec"]["template"]["spec"]))
            elif doc["kind"] == "Pod":
                out.append((doc, doc["spec"]))
        return out


def helm_args(
    *,
    values_files: tuple[str, ...] = ("values-dev.yaml",),
    sets: dict[str, str] | None = None,
    set_strings: dict[str, str] | None = None,
    existing_secret: str | None = EXISTING_SECRET,
    tags: bool = True,
    release: str = "todo",
    namespace: str = "todo",
) -> list[str]:
    args = ["template", release, str(CHART), "--namespace", namespace, "--kube-version", KUBE_VERSION]
    for values_file in values_files:
        args += ["-f", str(CHART / values_file)]
    strings: dict[str, str] = {}
    if existing_secret:
        strings["existingSecret"] = existing_secret
    if tags:
        # Tags go through --set-string as the deploy does: a sha such as 1234567 must stay a string.
        strings["backend.image.tag"] = TAG
        strings["frontend.image.tag"] = TAG
    strings.update(set_strings or {})
    # --set-string keeps values such as generated secrets exactly as given.
    for key, value in strings.items():
        args += ["--set-string", f"{key}={value}"]
    # Note: helm applies --set-string after --set whatever the order on the command line.
    for key, value in (sets or {}).items():
        args += ["--set", f"{key}={value}"]
    return args


def render(**kwargs) -> Manifest:
    result = run_helm(*helm_args(**kwargs))
    assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    return Manifest(docs=docs, text=result.stdout)


def render_fails(**kwargs) -> str:
    """Render that must fail; returns helm's error output."""
    result = run_helm(*helm_args(**kwargs))
    assert result.returncode != 0, "helm template unexpectedly succeeded"
    return result.stderr
