"""The real deploy-dev.yml against the local cluster with a malformed DATABASE_URL: it must
stop in the secrets role, name the variable (never its value) and install nothing.

Run on its own: `pytest tests/cluster/test_deploy_negative.py`.
"""

from __future__ import annotations

import re
import secrets
import subprocess
from pathlib import Path

import pytest
from conftest import LocalCluster, playbook_env, run_playbook, write_kwok_inventory
from kubernetes import client, config
from kubernetes.client.rest import ApiException

# The module fixture starts a cluster; on a machine without cached binaries that first
# compiles them (minutes), which pytest-timeout counts against the first test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

NAMESPACE = "todo"
RELEASE = "todo"


def write_inventory(path: Path, kubeconfig: Path) -> None:
    write_kwok_inventory(path, kubeconfig, NAMESPACE, RELEASE, "negative-test")


def run_deploy(cluster: LocalCluster, inventory: Path, database_url: str) -> subprocess.CompletedProcess:
    env = playbook_env(cluster, DATABASE_URL=database_url)
    return run_playbook(env, "playbooks/deploy-dev.yml", inventory=inventory, timeout=600)


@pytest.mark.parametrize(
    "shape",
    [
        "mysql://todo:{pw}@db.invalid/todo",  # wrong scheme
        "postgresql://todo:{pw}@db.invalid",  # no database
        "postgresql://todo:{pw} @db.invalid/todo?sslmode=require",  # a space
    ],
    ids=["wrong-scheme", "no-database", "space"],
)
def test_malformed_database_url_fails_in_secrets_role_and_installs_nothing(
    local_cluster: LocalCluster, tmp_path: Path, shape: str
) -> None:
    password = secrets.token_urlsafe(16)
    inventory = tmp_path / "inventory.yml"
    write_inventory(inventory, local_cluster.kubeconfig)

    result = run_deploy(local_cluster, inventory, shape.format(pw=password))
    output = result.stdout + result.stderr

    assert result.returncode != 0, output[-5000:]
    # The failing task is the secrets role's, and it names the variable.
    failed_tasks = re.findall(r"TASK \[([^\]]+)\][^\n]*\n(?:(?!TASK \[).)*?fatal:", output, flags=re.DOTALL)
    assert failed_tasks, output[-5000:]
    assert failed_tasks[-1].startswith("secrets : "), failed_tasks[-1]
    assert "DATABASE_URL" in output[output.rindex("fatal:") :]
    # The value (and so the password in it) is never printed.
    assert password not in output
    # Nothing was installed: no release records, no namespace, no Secret.
    api = config.new_client_from_config(config_file=str(local_cluster.kubeconfig))
    core = client.CoreV1Api(api)
    with pytest.raises(ApiException) as missing:
        core.read_namespace(NAMESPACE)
    assert missing.value.status == 404
    assert core.list_secret_for_all_namespaces(label_selector="owner=helm").items == []
    assert core.list_secret_for_all_namespaces(label_selector="app.kubernetes.io/part-of=todo").items == []
    names = [f"{s.metadata.namespace}/{s.metadata.name}" for s in core.list_secret_for_all_namespaces().items]
    assert [name for name in names if "/todo-secrets" in name] == []
