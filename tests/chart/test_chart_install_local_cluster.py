"""Install the chart for real into the local test cluster (real kube-apiserver, controllers and
scheduler; kwok plays the kubelets, so containers do not run, but Job pods complete).

What only a live API server can show: the hook Job and the hook resources it reads exist in the
right order in both secret modes (the ServiceAccount admission rejects a pod whose account is
missing), the embedded PostgreSQL's hook phase and password follow `lookup` across upgrade,
uninstall and reinstall, and an existingSecret change rolls the backend via checksum/secret.

Uses the cluster binaries the cluster tier builds (`python -m tools.cluster build`), compiling
them first when they are missing, or waiting for the build `make test` runs in the background.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from chart_render import CACHE, CHART, EXISTING_SECRET, REPO, TAG, helm_path

from tools.cluster import build as cluster_build

PORT_BASE = int(os.environ.get("TODO_CHART_CLUSTER_PORT_BASE", "16743"))
BASE_ARGS = [
    "-f",
    str(CHART / "values-dev.yaml"),
    "--set-string",
    f"backend.image.tag={TAG}",
    "--set-string",
    f"frontend.image.tag={TAG}",
]


class Cluster:
    def __init__(self, run_dir: Path):
        self.env = {
            **os.environ,
            "TODO_CLUSTER_DIR": str(run_dir),
            "TODO_CLUSTER_PORT_BASE": str(PORT_BASE),
            "KUBECONFIG": str(run_dir / "kubeconfig"),
        }

    def cluster_py(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tools.cluster", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def run(self, *argv: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=300, input=stdin)
        if check:
            assert result.returncode == 0, f"{' '.join(argv[:4])}...:\n{result.stdout}\n{result.stderr}"
        return result

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(helm_path(), *args, check=check)

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        return self.run(kubectl_path(), *args, check=check, stdin=stdin)

    def get(self, namespace: str, kind: str, name: str) -> dict | None:
        result = self.kubectl("-n", namespace, "get", kind, name, "-o", "json", check=False)
        if result.returncode != 0:
            assert "NotFound" in result.stderr, result.stderr
            return None
        return json.loads(result.stdout)

    def apply(self, manifest: dict) -> None:
        self.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))

    def namespace_with_secret(self, namespace: str, data: dict[str, str] | None) -> None:
        self.kubectl("create", "namespace", namespace)
        if data is not None:
            self.apply_secret(namespace, data)

    def apply_secret(self, namespace: str, data: dict[str, str]) -> None:
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": EXISTING_SECRET, "namespace": namespace},
                "type": "Opaque",
                "stringData": data,
            }
        )


def kubectl_path() -> str:
    """The pinned kubectl from `make kube-clis`, else the user's (tools.py leaves a fitting one alone)."""
    path = CACHE / "tools" / "bin" / "kubectl"
    found = str(path) if path.is_file() else shutil.which("kubectl")
    if not found:
        pytest.fail("kubectl not found: run `make kube-clis`")
    return found


def persistent_volume(name: str) -> dict:
    """1Gi of a (kwok) node's /tmp for one embedded PostgreSQL claim."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": f"/tmp/{name}"},
        },
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster_build.build_control_plane()
    c = Cluster(tmp_path_factory.mktemp("chart-cluster") / "run")
    up = c.cluster_py("up")
    try:
        assert up.returncode == 0, f"python -m tools.cluster up failed:\n{up.stdout}\n{up.stderr}"
        # kwok has no storage: a PersistentVolume without class stands in for Minikube's provisioner.
        c.apply(persistent_volume("chart-test-pv"))
        yield c
    finally:
        c.cluster_py("down")


def auth_secret() -> str:
    return secrets.token_urlsafe(32)


def hook_phases(c: Cluster, namespace: str) -> set[str]:
    hooks = c.helm("-n", namespace, "get", "hooks", "todo").stdout
    return {line.split(":", 1)[1].strip() for line in hooks.splitlines() if line.strip().startswith("helm.sh/hook:")}


def job_completed(c: Cluster, namespace: str) -> bool:
    events = json.loads(c.kubectl("-n", namespace, "get", "events", "-o", "json").stdout)["items"]
    return any(
        e["involvedObject"]["kind"] == "Job"
        and e["involvedObject"]["name"] == "todo-migrations"
        and e["reason"] == "Completed"
        for e in events
    )


def backend_annotation(c: Cluster, namespace: str, key: str) -> str:
    deployment = c.get(namespace, "deployment", "todo-backend")
    return deployment["spec"]["template"]["metadata"]["annotations"][key]


def test_install_with_existing_secret(cluster):
    ns = "existing"
    cluster.namespace_with_secret(ns, {"AUTH_SECRET": auth_secret(), "DATABASE_URL": "postgresql://u@db.invalid/app"})
    cluster.helm(
        "install",
        "todo",
        str(CHART),
        "-n",
        ns,
        *BASE_ARGS,
        "--set",
        f"existingSecret={EXISTING_SECRET}",
        "--wait",
        "--timeout",
        "3m",
    )
    assert job_completed(cluster, ns), "the pre-install migration Job ran to completion"
    assert hook_phases(cluster, ns) == {"pre-install,pre-upgrade", "test"}
    for kind in ("serviceaccount", "configmap", "job"):
        assert cluster.get(ns, kind, "todo-migrations") is None, f"hook {kind} deleted after success"
    for name in ("todo-backend", "todo-frontend"):
        status = cluster.get(ns, "deployment", name)["status"]
        assert status.get("readyReplicas") == 2, (name, status)
    assert cluster.get(ns, "secret", "todo") is None, "existingSecret mode renders no Secret"

    # A changed existingSecret rolls the backend on the next upgrade (checksum via lookup) ...
    before = backend_annotation(cluster, ns, "checksum/secret")
    cluster.helm("upgrade", "todo", str(CHART), "-n", ns, *BASE_ARGS, "--set", f"existingSecret={EXISTING_SECRET}")
    assert backend_annotation(cluster, ns, "checksum/secret") == before, "unchanged Secret: no rollout"
    cluster.apply_secret(ns, {"AUTH_SECRET": auth_secret(), "DATABASE_URL": "postgresql://u@db.invalid/app"})
    cluster.helm("upgrade", "todo", str(CHART), "-n", ns, *BASE_ARGS, "--set", f"existingSecret={EXISTING_SECRET}")
    assert backend_annotation(cluster, ns, "checksum/secret") != before


def test_install_with_chart_created_secret(cluster):
    ns = "chart-created"
    cluster.namespace_with_secret(ns, None)
    database_url = "postgresql://u@db.invalid/app"
    cluster.helm(
        "install",
        "todo",
        str(CHART),
        "-n",
        ns,
        *BASE_ARGS,
        "--set-string",
        f"secrets.authSecret={auth_secret()}",
        "--set-string",
        f"secrets.databaseUrl={database_url}",
        "--wait",
        "--timeout",
        "3m",
    )
    assert job_completed(cluster, ns)
    assert cluster.get(ns, "secret", "todo-migrations") is None, "the hook's copy is deleted after success"
    secret = cluster.get(ns, "secret", "todo")
    assert base64.b64decode(secret["data"]["DATABASE_URL"]).decode() == database_url


def test_embedded_postgresql_across_upgrade_uninstall_reinstall(cluster):
    ns = "embedded-db"
    cluster.namespace_with_secret(ns, {"AUTH_SECRET": auth_secret()})
    args = [*BASE_ARGS, "--set", f"existingSecret={EXISTING_SECRET}", "--set", "postgresql.enabled=true"]

    cluster.helm("install", "todo", str(CHART), "-n", ns, *args, "--wait", "--timeout", "3m")
    # no database before the install: the migration ran after it (post-install)
    assert "post-install,post-upgrade" in hook_phases(cluster, ns)
    assert job_completed(cluster, ns)
    assert cluster.get(ns, "statefulset", "todo-postgresql")["status"].get("readyReplicas") == 1
    password = cluster.get(ns, "secret", "todo-postgresql")["data"]["POSTGRES_PASSWORD"]
    checksum = backend_annotation(cluster, ns, "checksum/secret")

    cluster.helm("upgrade", "todo", str(CHART), "-n", ns, *args, "--wait", "--timeout", "3m")
    # the database exists now: migrations go back to before the new pods
    assert "pre-install,pre-upgrade" in hook_phases(cluster, ns)
    assert cluster.get(ns, "secret", "todo-postgresql")["data"]["POSTGRES_PASSWORD"] == password
    assert backend_annotation(cluster, ns, "checksum/secret") == checksum, "same password: no rollout"

    cluster.helm("uninstall", "todo", "-n", ns)
    assert cluster.get(ns, "secret", "todo-postgresql") is not None, "kept for the PVC that outlives the release"
    cluster.helm("install", "todo", str(CHART), "-n", ns, *args, "--timeout", "3m")
    assert cluster.get(ns, "secret", "todo-postgresql")["data"]["POSTGRES_PASSWORD"] == password


RESTRICTED_LABELS = {
    f"pod-security.kubernetes.io/{mode}{suffix}": value
    for mode in ("enforce", "audit", "warn")
    for suffix, value in (("", "restricted"), ("-version", "latest"))
}


def pod_security_refusals(c: Cluster, namespace: str) -> list[str]:
    """FailedCreate events of pods the PodSecurity admission refused."""
    events = json.loads(c.kubectl("-n", namespace, "get", "events", "-o", "json").stdout)["items"]
    return [e["message"] for e in events if "violates PodSecurity" in e.get("message", "")]


@pytest.mark.parametrize("embedded_db", [False, True], ids=["existing-secret", "embedded-postgresql"])
def test_every_pod_is_admitted_under_restricted_pod_security(cluster, embedded_db):
    """Issue 20, item 9: the namespace labelled as roles/secrets labels it; the API server's
    PodSecurity admission then refuses any pod `restricted` forbids. The apps, the migration
    hook Job, the in-cluster PostgreSQL and the helm test pod must all be admitted."""
    ns = "psa-embedded" if embedded_db else "psa-existing"
    data = {"AUTH_SECRET": auth_secret()}
    if not embedded_db:
        data["DATABASE_URL"] = "postgresql://u@db.invalid/app"
    cluster.namespace_with_secret(ns, data)
    cluster.kubectl("label", "namespace", ns, *[f"{k}={v}" for k, v in RESTRICTED_LABELS.items()])
    args = [*BASE_ARGS, "--set", f"existingSecret={EXISTING_SECRET}"]
    if embedded_db:
        args += ["--set", "postgresql.enabled=true"]
        # The module's PV is bound to the other embedded-database test's claim: one of our own.
        cluster.apply(persistent_volume("psa-test-pv"))
    install = cluster.helm("install", "todo", str(CHART), "-n", ns, *args, "--wait", "--timeout", "3m")
    # helm prints the admission's warnings (warn=restricted) for anything that would be refused.
    assert "violate PodSecurity" not in install.stderr, install.stderr
    assert job_completed(cluster, ns), "the migration hook Job's pod was admitted and completed"
    for name in ("todo-backend", "todo-frontend"):
        assert cluster.get(ns, "deployment", name)["status"].get("readyReplicas") == 2, name
    if embedded_db:
        assert cluster.get(ns, "statefulset", "todo-postgresql")["status"].get("readyReplicas") == 1
    # The helm test pod goes through the same admission, and runs: kwok completes bare
    # run-to-completion pods (tools/cluster/kwok-stages.yaml), so `helm test` succeeds at once.
    tested = cluster.helm("test", "todo", "-n", ns, "--timeout", "1m", check=False)
    assert "violates PodSecurity" not in tested.stderr, tested.stderr
    assert tested.returncode == 0, f"helm test failed:\n{tested.stdout}\n{tested.stderr}"
    assert re.search(r"TEST SUITE:\s+todo-test-health\n.*?Phase:\s+Succeeded", tested.stdout, re.S), tested.stdout
    assert pod_security_refusals(cluster, ns) == []
    # And the admission is really on: a pod restricted forbids is refused in this namespace.
    refused = cluster.kubectl("-n", ns, "run", "root-pod", "--image=busybox:1", "--restart=Never", check=False)
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, refused.stderr
