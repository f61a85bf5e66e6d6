"""The local cluster is a real Kubernetes API: workloads reach Ready/Complete through it,
it reports the pinned server version, and `down` leaves no process behind.

Run on its own: `pytest tests/cluster/test_cluster.py` (first run compiles the binaries).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, LocalCluster, tool
from kubernetes import client, config

from tools.cluster import pins

# The module fixture starts a cluster; on a machine without cached binaries that first
# compiles them (minutes), which pytest-timeout counts against the first test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def wait_until(description: str, predicate, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(1)
    pytest.fail(f"timed out waiting for {description}; last observation: {last!r}")


@pytest.fixture(scope="module")
def api(local_cluster: LocalCluster) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(local_cluster.kubeconfig))


@pytest.fixture
def namespace(api: client.ApiClient):
    name = f"cluster-test-{secrets.token_hex(3)}"
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    # The ServiceAccount admission rejects pods until the controller made "default".
    wait_until(
        "default ServiceAccount",
        lambda: any(sa.metadata.name == "default" for sa in core.list_namespaced_service_account(name).items),
    )
    yield name
    core.delete_namespace(name)


def container(name: str) -> client.V1Container:
    # The image is never pulled (kwok plays the kubelet), but the name must be valid.
    return client.V1Container(name=name, image="registry.invalid/todo/never-pulled:1")


def test_nodes_are_kwok_and_ready(api: client.ApiClient) -> None:
    nodes = client.CoreV1Api(api).list_node().items
    assert len(nodes) >= 1
    for node in nodes:
        ready = {c.type: c.status for c in node.status.conditions}["Ready"]
        assert ready == "True", node.metadata.name
        assert node.metadata.annotations.get("kwok.x-k8s.io/node") == "fake"


def test_deployment_with_two_replicas_becomes_ready(api: client.ApiClient, namespace: str) -> None:
    labels = {"app": "probe"}
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="probe"),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[container("probe")]),
            ),
        ),
    )
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(namespace, deployment)

    def ready_replicas():
        status = apps.read_namespaced_deployment_status("probe", namespace).status
        return status.ready_replicas == 2 and status.available_replicas == 2 and status

    wait_until("Deployment probe 2/2 ready", ready_replicas)
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector="app=probe").items
    assert len(pods) == 2
    # The scheduler really placed them: every pod is bound to a kwok node.
    assert all(pod.spec.node_name and pod.spec.node_name.startswith("kwok-node-") for pod in pods)
    # A ReplicaSet controller (kube-controller-manager) created them.
    assert all(pod.metadata.owner_references[0].kind == "ReplicaSet" for pod in pods)


def test_job_completes(api: client.ApiClient, namespace: str) -> None:
    job = client.V1Job(
        metadata=client.V1ObjectMeta(name="once"),
        spec=client.V1JobSpec(
            backoff_limit=0,
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(restart_policy="Never", containers=[container("once")]),
            ),
        ),
    )
    batch = client.BatchV1Api(api)
    batch.create_namespaced_job(namespace, job)

    def complete():
        status = batch.read_namespaced_job_status("once", namespace).status
        conditions = {c.type: c.status for c in (status.conditions or [])}
        return conditions.get("Complete") == "True" and status.succeeded == 1

    wait_until("Job once Complete", complete)


def test_kubectl_reports_pinned_server_version(local_cluster: LocalCluster) -> None:
    result = subprocess.run(
        [tool("kubectl"), "version", "-o", "json"],
        env=local_cluster.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    server = json.loads(result.stdout)["serverVersion"]
    assert server["gitVersion"] == pins.KUBERNETES_VERSION
    assert (server["major"], server["minor"]) == tuple(pins.KUBERNETES_VERSION.lstrip("v").split(".")[:2])


def test_env_prints_the_kubeconfig(local_cluster: LocalCluster) -> None:
    out = local_cluster.cli("env").stdout.strip()
    assert out == f"export KUBECONFIG={local_cluster.kubeconfig}"
    assert local_cluster.cli("status").returncode == 0


def test_down_stops_every_process_and_removes_state(tmp_path: Path) -> None:
    """A separate cluster, so the module fixture above stays up for the other tests."""
    from conftest import start_cluster

    cluster = start_cluster(tmp_path / "run", port_base=16643)
    state = json.loads((cluster.run_dir / "state.json").read_text())
    pids = [entry["pid"] for entry in state["processes"]]
    assert {entry["name"] for entry in state["processes"]} == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    }
    assert all(Path(f"/proc/{pid}").exists() for pid in pids)

    # A second `up` finds the running cluster instead of starting another one.
    again = cluster.cli("up")
    assert "already up" in again.stdout

    cluster.cli("down")
    survivors = [pid for pid in pids if Path(f"/proc/{pid}").exists() and not _is_zombie(pid)]
    assert survivors == []
    assert not cluster.run_dir.exists()
    assert cluster.cli("status", check=False).returncode != 0


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_up_names_a_port_in_use_and_starts_nothing(local_cluster: LocalCluster, tmp_path: Path) -> None:
    """The module cluster holds its API port: a second cluster on the same ports must refuse."""
    from conftest import cluster_env

    env = cluster_env(tmp_path / "run", port_base=int(local_cluster.env["TODO_CLUSTER_PORT_BASE"]))
    result = subprocess.run(
        [sys.executable, "-m", "tools.cluster", "up"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode != 0
    assert f"port {local_cluster.env['TODO_CLUSTER_PORT_BASE']} (for apiserver) is already in use" in result.stderr
    assert not (tmp_path / "run").exists()


def test_down_refuses_to_delete_a_directory_it_did_not_make(tmp_path: Path) -> None:
    foreign = tmp_path / "not-a-cluster"
    foreign.mkdir()
    (foreign / "keep-me").write_text("precious")
    env = dict(os.environ, TODO_CLUSTER_DIR=str(foreign))
    result = subprocess.run(
        [sys.executable, "-m", "tools.cluster", "down"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "not touching it" in result.stderr
    assert (foreign / "keep-me").read_text() == "precious"
