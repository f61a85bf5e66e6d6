"""Issue 20, item 9, on the cluster tier: deploy-dev.yml's secrets role creates the namespace
with pod-security.kubernetes.io/enforce|audit|warn: restricted, then the release installs the
chart into it, and the API server's PodSecurity admission lets every pod in: the migration
hook Job's, both Deployments'. A plain pod is refused there, which proves enforcement is on.
(The embedded PostgreSQL and helm test pods under enforcement: tests/chart/
test_chart_install_local_cluster.py; with running pods: molecule/default/verify.yml on a real Minikube.)

Run on its own: `pytest tests/cluster/test_pod_security_admission.py`.
"""

from __future__ import annotations

import secrets

import pytest
from conftest import LocalCluster, playbook_env, run_playbook, write_kwok_inventory
from kubernetes import client, config
from kubernetes.client.rest import ApiException

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

NAMESPACE = "psa-ns"
RELEASE = "todo"
RESTRICTED = {
    f"pod-security.kubernetes.io/{mode}{suffix}": value
    for mode in ("enforce", "audit", "warn")
    for suffix, value in (("", "restricted"), ("-version", "latest"))
}


@pytest.fixture(scope="module")
def deployed(local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, client.ApiClient]:
    inventory = tmp_path_factory.mktemp("inventory") / "inventory.yml"
    write_kwok_inventory(inventory, local_cluster.kubeconfig, NAMESPACE, RELEASE, "psa-test")
    # Nothing connects to it: kwok only pretends to run the pods.
    url = f"postgresql://todo_ci:{secrets.token_urlsafe(18)}@db-{secrets.token_hex(4)}.invalid/todo?sslmode=require"
    env = playbook_env(local_cluster, DATABASE_URL=url)
    result = run_playbook(env, "playbooks/deploy-dev.yml", inventory=inventory)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    return output, config.new_client_from_config(config_file=str(local_cluster.kubeconfig))


def test_the_namespace_enforces_restricted(deployed) -> None:
    _, api = deployed
    labels = client.CoreV1Api(api).read_namespace(NAMESPACE).metadata.labels or {}
    assert {k: v for k, v in labels.items() if k.startswith("pod-security.")} == RESTRICTED


def test_every_pod_of_the_release_was_admitted(deployed) -> None:
    output, api = deployed
    assert "violate PodSecurity" not in output  # helm relays the admission's warnings
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    refused = [e.message for e in core.list_namespaced_event(NAMESPACE).items if "PodSecurity" in (e.message or "")]
    assert refused == []
    for component in ("backend", "frontend"):
        (deployment,) = apps.list_namespaced_deployment(
            NAMESPACE, label_selector=f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}"
        ).items
        assert deployment.status.ready_replicas == 2, component
    events = core.list_namespaced_event(NAMESPACE).items
    migrated = [e for e in events if e.involved_object.kind == "Job" and e.reason == "Completed"]
    assert migrated, "the migration hook Job's pod was admitted and completed"


def test_a_pod_restricted_forbids_is_refused_there(deployed) -> None:
    _, api = deployed
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="plain"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1")]),
    )
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(api).create_namespaced_pod(NAMESPACE, pod)
    assert refused.value.status == 403 and "violates PodSecurity" in refused.value.body
