"""The real playbooks against the local cluster with a release name that does not contain
`todo`, so the chart names everything `demo-todo-*`: deploy-dev.yml (whose verify role must
find the Deployments by label), a rerun with changed=0, a Secret change that rolls the
backend and only it, the API-level verify (tests/cluster/playbooks/verify_release.yml) without
OPENAI_API_KEY, status.yml, and teardown.yml followed by a check that nothing is left
(playbooks/cleanup_release.yml) with only .venv/bin on PATH, as a user runs molecule
(molecule/README.md): it must find the pinned helm by itself.

Run on its own: `pytest tests/cluster/test_deploy_release_name.py`.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import pytest
from conftest import REPO, LocalCluster, playbook_env, run_playbook, write_kwok_inventory
from kubernetes import client, config

# The module fixture starts a cluster; on a machine without cached binaries that first
# compiles them (minutes), which pytest-timeout counts against the first test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

NAMESPACE = "demo-ns"
RELEASE = "demo"
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def write_inventory(path: Path, kubeconfig: Path) -> None:
    write_kwok_inventory(path, kubeconfig, NAMESPACE, RELEASE, "release-name-test")


def user_path() -> str:
    """PATH as molecule/README.md asks for it: .venv/bin first, and no pinned-tools directory."""
    kept = [p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) if not p.endswith("tools/bin")]
    return os.pathsep.join([str(REPO / ".venv" / "bin"), *kept])


class Deployer:
    def __init__(self, cluster: LocalCluster, inventory: Path, database_url: str) -> None:
        self.cluster = cluster
        self.inventory = inventory
        self.database_url = database_url
        api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)

    def play(self, playbook: str, path: str | None = None, **secret_env: str) -> tuple[int, str, dict[str, int]]:
        env = playbook_env(self.cluster, path=path, DATABASE_URL=self.database_url, **secret_env)
        result = run_playbook(env, playbook, inventory=self.inventory)
        output = result.stdout + result.stderr
        match = RECAP.search(result.stdout)
        counts = map(int, match.groups()) if match else ()
        recap = dict(zip(("ok", "changed", "unreachable", "failed"), counts, strict=False))
        return result.returncode, output, recap

    def deployment(self, component: str) -> client.V1Deployment:
        found = self.apps.list_namespaced_deployment(
            NAMESPACE, label_selector=f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}"
        ).items
        assert len(found) == 1, [d.metadata.name for d in found]
        return found[0]


@pytest.fixture(scope="module")
def deployer(local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Deployer:
    inventory = tmp_path_factory.mktemp("inventory") / "inventory.yml"
    write_inventory(inventory, local_cluster.kubeconfig)
    host = f"db-{secrets.token_hex(4)}.invalid"
    # Nothing connects to it: kwok only pretends to run the pods.
    url = f"postgresql://todo_ci:{secrets.token_urlsafe(18)}@{host}/todo?sslmode=require&channel_binding=require"
    return Deployer(local_cluster, inventory, url)


def test_deploy_with_release_demo_is_verified_by_label(deployer: Deployer) -> None:
    rc, output, recap = deployer.play("playbooks/deploy-dev.yml")
    assert rc == 0, output[-6000:]
    assert recap["failed"] == 0
    # The chart named them <release>-todo-*; verify found them by label and said so (the yaml
    # result format may fold the long message over lines).
    said = " ".join(output.split())
    assert "backend Deployment demo-todo-backend, frontend Deployment demo-todo-frontend: 2/2 replicas ready" in said
    assert deployer.deployment("backend").metadata.name == "demo-todo-backend"
    assert deployer.deployment("frontend").status.ready_replicas == 2
    env = deployer.deployment("backend").spec.template.spec.containers[0].env
    secret_name = next(e for e in env if e.name == "AUTH_SECRET").value_from.secret_key_ref.name
    assert secret_name.startswith("todo-secrets-"), "named after its content (secrets role)"
    secret = deployer.core.read_namespaced_secret(secret_name, NAMESPACE)
    assert sorted(secret.data) == ["AUTH_SECRET", "DATABASE_URL"], "OPENAI_API_KEY is left out when not supplied"


def test_rerun_changes_nothing(deployer: Deployer) -> None:
    before = deployer.deployment("backend").metadata.generation
    rc, output, recap = deployer.play("playbooks/deploy-dev.yml")
    assert rc == 0, output[-6000:]
    assert recap["changed"] == 0, output[-6000:]
    assert deployer.deployment("backend").metadata.generation == before


def test_release_verify_passes_without_openai_key(deployer: Deployer) -> None:
    rc, output, recap = deployer.play("tests/cluster/playbooks/verify_release.yml")
    assert rc == 0, output[-6000:]
    assert recap["failed"] == 0 and recap["changed"] == 0


def test_a_secret_change_rolls_the_backend_only_and_a_rerun_does_not(deployer: Deployer) -> None:
    backend, frontend = deployer.deployment("backend"), deployer.deployment("frontend")
    checksum = backend.spec.template.metadata.annotations["checksum/secret"]
    key = f"sk-test-{secrets.token_urlsafe(24)}"

    rc, output, recap = deployer.play("playbooks/deploy-dev.yml", OPENAI_API_KEY=key)
    assert rc == 0, output[-6000:]
    assert recap["changed"] >= 1
    rolled = deployer.deployment("backend")
    assert rolled.spec.template.metadata.annotations["checksum/secret"] != checksum
    assert rolled.metadata.generation == backend.metadata.generation + 1, "exactly one rollout"
    assert deployer.deployment("frontend").metadata.generation == frontend.metadata.generation
    assert "todo.dev/secret-version" not in rolled.spec.template.metadata.annotations, "one mechanism, the chart's"

    rc, output, recap = deployer.play("playbooks/deploy-dev.yml", OPENAI_API_KEY=key)
    assert rc == 0, output[-6000:]
    assert recap["changed"] == 0, output[-6000:]
    assert deployer.deployment("backend").metadata.generation == rolled.metadata.generation

    # The verify, now with the key supplied: the Secret must hold all three.
    rc, output, _ = deployer.play("tests/cluster/playbooks/verify_release.yml", OPENAI_API_KEY=key)
    assert rc == 0, output[-6000:]


def test_status_reports_the_release_and_its_pods(deployer: Deployer) -> None:
    rc, output, recap = deployer.play("playbooks/status.yml")
    assert rc == 0, output[-6000:]
    assert recap["changed"] == 0
    assert f"Release {RELEASE} ({NAMESPACE}): deployed" in output
    assert re.search(r"Pods: .*demo-todo-backend-\S+ Running\s+ready 1/1", output), output[-3000:]


def test_cleanup_finds_helm_itself_and_leaves_nothing(deployer: Deployer) -> None:
    rc, output, recap = deployer.play("tests/cluster/playbooks/cleanup_release.yml", path=user_path())
    assert rc == 0, output[-6000:]
    assert recap["failed"] == 0
    assert deployer.apps.list_namespaced_deployment(NAMESPACE).items == []
    assert [ns.metadata.name for ns in deployer.core.list_namespace().items if ns.metadata.name == NAMESPACE] == []
