"""Helm 4 all the way: deploy-dev.yml against the local cluster with a real Helm 4 first on PATH
(compiled from helm.sh/helm/v4, tests/unit/helm4.py), so the release role's kubernetes.core.helm
(6.5.0, from .venv/collections) runs Helm 4's upgrade --install --rollback-on-failure --wait; a
rerun changes nothing. An Ansible that loads the `ansible` package's kubernetes.core 6.2 is stopped
by the prerequisites role, naming the fix; the control shows why (6.2 passes flags Helm 4 removed).

Run on its own: `pytest tests/cluster/test_helm4_release.py`.
"""

from __future__ import annotations

import importlib.util
import re
import secrets
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, LocalCluster, playbook_env, run_playbook, write_kwok_inventory

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

NAMESPACE = "helm4-ns"
RELEASE = "helm4"
# The same for every run (a new one would change the Secret, and so the release). Nothing connects
# to it: kwok only pretends to run the pods.
DATABASE_URL = (
    f"postgresql://todo_ci:{secrets.token_urlsafe(18)}@db.invalid/todo?sslmode=require&channel_binding=require"
)
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def helm4_binary() -> Path:
    spec = importlib.util.spec_from_file_location("helm4_build", REPO / "tests" / "unit" / "helm4.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.binary()


@pytest.fixture(scope="module")
def helm4_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("helm4") / "bin"
    directory.mkdir()
    (directory / "helm").symlink_to(helm4_binary())
    return directory


@pytest.fixture(scope="module")
def empty_tool_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plays' TODO_CACHE: no pinned helm in its tools/bin (which the plays put first on PATH),
    as on a Mac, or after `make deploy` found a Helm 4 on PATH and so linked none."""
    return tmp_path_factory.mktemp("tool-cache")


@pytest.fixture(scope="module")
def inventory(local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inventory") / "inventory.yml"
    write_kwok_inventory(path, local_cluster.kubeconfig, NAMESPACE, RELEASE, "helm4-test")
    return path


def deploy(
    cluster: LocalCluster, inventory: Path, helm4_dir: Path, cache: Path, *args: str, **extra: str
) -> tuple[int, str, dict]:
    env = playbook_env(cluster, first_on_path=[helm4_dir], DATABASE_URL=DATABASE_URL, TODO_CACHE=str(cache), **extra)
    result = run_playbook(env, "playbooks/deploy-dev.yml", *args, inventory=inventory)
    output = result.stdout + result.stderr
    match = RECAP.search(result.stdout)
    recap = (
        dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups()), strict=True)) if match else {}
    )
    return result.returncode, output, recap


def test_deploy_with_helm_4_installs_and_a_rerun_changes_nothing(local_cluster, inventory, helm4_dir, empty_tool_cache):
    rc, output, _ = deploy(local_cluster, inventory, helm4_dir, empty_tool_cache)
    assert rc == 0, output[-6000:]
    assert "helm 4.0.1" in output
    history = subprocess.run(
        [str(helm4_dir / "helm"), "history", RELEASE, "-n", NAMESPACE, "-o", "json", "--kubeconfig",
         str(local_cluster.kubeconfig)], capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert '"status":"deployed"' in history.stdout.replace(" ", ""), history.stdout
    rc, output, recap = deploy(local_cluster, inventory, helm4_dir, empty_tool_cache)
    assert rc == 0, output[-6000:]
    assert recap["changed"] == 0, output[-6000:]


def test_helm_4_with_kubernetes_core_6_2_is_stopped_before_the_release(
    local_cluster, inventory, helm4_dir, empty_tool_cache, tmp_path
):
    none = str(tmp_path / "none")
    rc, output, _ = deploy(local_cluster, inventory, helm4_dir, empty_tool_cache, ANSIBLE_COLLECTIONS_PATH=none)
    assert rc != 0
    assert "is Helm 4, which needs kubernetes.core 6.5.0 or newer; this Ansible loads kubernetes.core 6.2.0" in output
    assert "TASK [release : Helm upgrade --install]" not in output


def test_why_6_2_is_stopped_it_passes_flags_helm_4_has_not(
    local_cluster, inventory, helm4_dir, empty_tool_cache, tmp_path
):
    """The control: the prerequisites' check waved through, kubernetes.core 6.2 fails at its first
    helm call (helm_info's `helm list --all`; its upgrade would pass --atomic), both gone in Helm 4."""
    none = str(tmp_path / "none")
    waved = ("-e", "prerequisites_helm4_min_kubernetes_core=0.0.1")
    # A release of its own, so that this is a first install whatever ran before.
    fresh = tmp_path / "inventory.yml"
    write_kwok_inventory(fresh, local_cluster.kubeconfig, "helm4-old-ns", "helm4-old", "helm4-test")
    rc, output, _ = deploy(local_cluster, fresh, helm4_dir, empty_tool_cache, *waved, ANSIBLE_COLLECTIONS_PATH=none)
    assert rc != 0
    assert "Error: unknown flag: --all" in output or "Error: unknown flag: --atomic" in output, output[-4000:]
