"""Secret changes that must not lose data or split replicas (issue 14 items 7 and 8), with
the real deploy-dev.yml against a private kwok cluster:

- a failed upgrade leaves the live release on a Secret that still holds the old values
  (each release points at a Secret named after its content; old ones are deleted only after
  a successful release);
- a run whose shell lacks DATABASE_URL / OPENAI_API_KEY keeps the live ones instead of
  switching to an empty in-cluster database or turning the assistant off; switching is
  asked for by name and announced.

Run on its own: `pytest tests/cluster/test_deploy_secret_safety.py`.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import pytest
from conftest import REPO, LocalCluster, playbook_env, run_playbook
from test_deploy_release_name import NAMESPACE, RELEASE, Deployer, write_inventory

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

SECRET_SET = "todo.dev/secret-set=todo-secrets"  # pragma: allowlist secret (a label selector)


def decoded(deployer: Deployer, name: str) -> dict[str, str]:
    data = deployer.core.read_namespaced_secret(name, NAMESPACE).data
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def live_secret_name(deployer: Deployer) -> str:
    """The Secret the backend's pods read AUTH_SECRET from (what a restarted pod gets)."""
    env = deployer.deployment("backend").spec.template.spec.containers[0].env
    (auth,) = [e for e in env if e.name == "AUTH_SECRET"]
    return auth.value_from.secret_key_ref.name


def set_members(deployer: Deployer) -> list[str]:
    return sorted(
        s.metadata.name for s in deployer.core.list_namespaced_secret(NAMESPACE, label_selector=SECRET_SET).items
    )


class World:
    def __init__(self, cluster: LocalCluster, root: Path) -> None:
        self.url = (
            f"postgresql://todo_ci:{secrets.token_urlsafe(18)}@db-{secrets.token_hex(4)}.invalid/todo?sslmode=require"
        )
        self.auth = secrets.token_urlsafe(40)
        self.key = f"sk-test-{secrets.token_urlsafe(24)}"
        inventory = root / "inventory.yml"
        write_inventory(inventory, cluster.kubeconfig)
        # The same switches, plus a schema-valid value the chart's templates refuse
        # (serviceAccount.name is required when create=false): helm fails after the secrets role ran.
        failing = root / "failing.yml"
        spec = json.loads(inventory.read_text())
        spec["all"]["vars"]["release_values"] = {"serviceAccount": {"create": False}}
        failing.write_text(json.dumps(spec))
        self.deploy = Deployer(cluster, inventory, self.url)
        self.failing = Deployer(cluster, failing, self.url)
        # A shell without DATABASE_URL (empty counts as absent).
        self.forgetful = Deployer(cluster, inventory, "")


@pytest.fixture(scope="module")
def world(local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(local_cluster, tmp_path_factory.mktemp("secret-safety"))


def test_a_failed_upgrade_leaves_the_live_release_on_the_old_values(world: World) -> None:
    rc, output, _ = world.deploy.play("playbooks/deploy-dev.yml", AUTH_SECRET=world.auth, OPENAI_API_KEY=world.key)
    assert rc == 0, output[-6000:]
    first = live_secret_name(world.deploy)
    assert first.startswith("todo-secrets-") and set_members(world.deploy) == [first]
    assert decoded(world.deploy, first) == {
        "DATABASE_URL": world.url,
        "AUTH_SECRET": world.auth,
        "OPENAI_API_KEY": world.key,
    }

    new_auth = secrets.token_urlsafe(40)
    rc, output, _ = world.failing.play("playbooks/deploy-dev.yml", AUTH_SECRET=new_auth, OPENAI_API_KEY=world.key)
    assert rc != 0, output[-6000:]
    assert "serviceAccount.name is required" in output, output[-6000:]
    assert new_auth not in output

    # The release still points at the first Secret, and it still holds the old values: a pod
    # that restarts now agrees with its siblings on AUTH_SECRET.
    assert live_secret_name(world.deploy) == first
    assert decoded(world.deploy, first)["AUTH_SECRET"] == world.auth
    # The failed run's Secret is left for now (only a successful release prunes).
    assert len(set_members(world.deploy)) == 2


def test_the_next_successful_run_keeps_the_live_values_and_prunes_the_rest(world: World) -> None:
    first = live_secret_name(world.deploy)
    # No AUTH_SECRET in the shell: the live release's one is reused (not the failed run's).
    rc, output, recap = world.deploy.play("playbooks/deploy-dev.yml", OPENAI_API_KEY=world.key)
    assert rc == 0, output[-6000:]
    assert live_secret_name(world.deploy) == first
    assert set_members(world.deploy) == [first], "the failed run's Secret is deleted after a successful release"
    assert recap["changed"] == 1, "only the deletion changed something"

    rc, output, recap = world.deploy.play("playbooks/deploy-dev.yml", OPENAI_API_KEY=world.key)
    assert rc == 0, output[-6000:]
    assert recap["changed"] == 0, output[-6000:]


def test_a_shell_without_database_url_or_key_keeps_the_live_ones(world: World) -> None:
    first = live_secret_name(world.deploy)
    backend = world.deploy.deployment("backend")
    rc, output, recap = world.forgetful.play("playbooks/deploy-dev.yml")
    assert rc == 0, output[-6000:]
    assert recap["changed"] == 0, output[-6000:]
    assert f"DATABASE_URL: the live Secret {NAMESPACE}/{first}" in output
    assert f"OPENAI_API_KEY: the live Secret {NAMESPACE}/{first}" in output
    assert world.url not in output and world.key not in output
    assert live_secret_name(world.deploy) == first
    assert decoded(world.deploy, first)["DATABASE_URL"] == world.url
    assert world.deploy.deployment("backend").metadata.generation == backend.metadata.generation
    assert world.deploy.apps.list_namespaced_stateful_set(NAMESPACE).items == [], "no in-cluster PostgreSQL"


def test_the_database_switch_is_explicit_and_loud(world: World, tmp_path: Path) -> None:
    """`todo_database=in-cluster` leaves the live external database on purpose, with a banner.
    Only the secrets role runs (kwok has no storage for the in-cluster PostgreSQL's volume)."""
    first = live_secret_name(world.deploy)
    result_file = tmp_path / "resolved.json"
    run = run_playbook(
        playbook_env(world.deploy.cluster),
        REPO / "tests" / "unit" / "playbooks" / "secrets_resolution.yml",
        "-e",
        json.dumps(
            {
                "secrets_manage_cluster": True,
                "secrets_namespace": NAMESPACE,
                "secrets_release_name": RELEASE,
                "secrets_database": "in-cluster",  # pragma: allowlist secret (a switch)
                "test_result_file": str(result_file),
            }
        ),
        timeout=600,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    assert "*** DATABASE SWITCH" in output
    assert f"The live Secret {NAMESPACE}/{first} points the app at an external DATABASE_URL" in output
    assert "DATABASE_URL: in-cluster PostgreSQL, as asked (todo_database=in-cluster)" in output
    resolved = json.loads(result_file.read_text())
    assert resolved["in_cluster_postgresql"] is True and "DATABASE_URL" not in resolved["data"]
    # The rest still comes from the live Secret.
    assert resolved["values"]["AUTH_SECRET"] == world.auth and resolved["values"]["OPENAI_API_KEY"] == world.key
    assert world.url not in output and world.auth not in output
