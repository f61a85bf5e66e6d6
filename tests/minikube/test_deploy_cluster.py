"""The deploy to a cluster that is not Minikube (playbooks/deploy-cluster.yml with
inventory/cluster): a running Minikube profile used only through its kubeconfig context, as a
remote cluster would be, the images built in this host's Docker and pushed to a real registry
(distribution v3.0.0, tools/minikube/registry.py) on the profile network's gateway, the nodes
pulling them from there by a name of their own (`host.minikube.internal`: todo_registry_pull),
the Ingress class and host from the inventory. No Minikube step runs
in the deploy and nothing is built into a node's Docker.

The cluster is the `remote_cluster` fixture: by default profile todo-reg, two nodes as issue 22
asks (started with the ingress addon unless it is up already, deleted at the end only if this
module started it), so both nodes pull from the registry.
TODO_REMOTE_PROFILE=<profile> points it at another running profile (the two-node one), which it
then leaves as it found it; the registry is trusted in every node of that profile.
Run on its own: `.venv/bin/pytest tests/minikube/test_deploy_cluster.py -s`.
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import RECAP, REPO

from tools.cluster import pki
from tools.minikube import database, paths, registry
from tools.minikube.app import CREATE, ProfileApp
from tools.minikube.nodes import node_containers

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

PROFILE = os.environ.get("TODO_REMOTE_PROFILE", "todo-reg")
NODES = 2  # of todo-reg; a TODO_REMOTE_PROFILE keeps its own
NAMESPACE = "todo-remote"
HOST = "todo.remote.test"
PULL_SECRET = "todo-registry"  # pragma: allowlist secret (a Secret's name)
TLS_SECRET = "todo-remote-tls"  # pragma: allowlist secret (a Secret's name)
TAG = f"cluster-{secrets.token_hex(4)}"


@dataclass
class RemoteCluster:
    app: ProfileApp  # for kubectl and minikube only; the deploy never sees the profile
    context: str
    ingress_address: str


@pytest.fixture(scope="module")
def remote_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteCluster]:
    app = ProfileApp(PROFILE, tmp_path_factory.mktemp("remote"), namespace=NAMESPACE, nodes=NODES)
    was_running = app.minikube("status", "--format", "{{.APIServer}}").stdout.strip() == "Running"
    if not was_running or PROFILE == "todo-reg":
        app._step("profile up with the ingress addon", lambda: app.play(CREATE))
    else:  # someone else's running profile: only its context, written into our kubeconfig
        app.minikube("update-context", check=True)
    ip = app.minikube("ip", check=True).stdout.strip()
    try:
        yield RemoteCluster(app, PROFILE, ip)
    finally:
        if not was_running:
            app.minikube("delete")


@pytest.fixture(scope="module")
def registry_address(remote_cluster: RemoteCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    run_dir = tmp_path_factory.mktemp("registry")
    address = registry.start(PROFILE, run_dir)
    try:
        yield address
    finally:
        registry.stop(run_dir)


@pytest.fixture(scope="module")
def registry_ca(registry_address: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return registry.HOST_CERTS_D / registry_address / "ca.crt"


@pytest.fixture(scope="module")
def database_url(remote_cluster: RemoteCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    run_dir = tmp_path_factory.mktemp("database")
    try:
        yield database.start(PROFILE, run_dir)
    finally:
        database.stop(run_dir)


def switches(cluster: RemoteCluster, registry_address: str, registry_ca: Path, **extra) -> list[str]:
    """The inventory's CHANGE_ME values and this machine's specifics, as a user passes them."""
    offline = json.loads(paths.record_path().read_text()) if paths.record_path().is_file() else {}
    values = {
        "todo_kube_context": cluster.context,
        "todo_kubeconfig": str(cluster.app.kubeconfig),
        "todo_registry": registry_address,
        # The nodes pull by a name of their own (todo_registry_pull), not the one pushed to.
        "todo_registry_pull": registry.pull_address(registry_address),
        "todo_registry_ca_cert": str(registry_ca),
        "todo_image_pull_secret": PULL_SECRET,
        "todo_ingress_class": "nginx",
        "todo_ingress_host": HOST,
        "todo_ingress_address": cluster.ingress_address,
        "todo_namespace": NAMESPACE,
        # A clean tag of this run (a "-dirty" one is rebuilt and pushed on every run by design).
        "todo_image_tag": TAG,
        # The offline preparation's stand-ins for the public base images (none without it).
        "todo_images_build_args": offline.get("image_build_args", {}),
        **extra,
    }
    path = cluster.app.work_dir / f"cluster-{secrets.token_hex(4)}.json"
    path.write_text(json.dumps(values))
    return ["-e", f"@{path}"]


def play(cluster: RemoteCluster, playbook: str, args: list[str], *more: str, database_url: str = ""):
    """ansible-playbook -i inventory/cluster playbooks/<playbook> with these switches, as docs/ansible.md shows."""
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "inventory/cluster", f"playbooks/{playbook}"]
    env = cluster.app.env(**({"DATABASE_URL": database_url} if database_url else {}))
    return subprocess.run([*argv, *args, *more], cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)


def deploy_cluster(cluster: RemoteCluster, args: list[str], database_url: str = "", *more: str):
    return play(cluster, "deploy-cluster.yml", args, *more, database_url=database_url)


def recap(run) -> tuple[int, int, int, int]:
    match = RECAP.search(run.stdout)
    assert match, run.stdout[-5000:] + run.stderr[-2000:]
    return tuple(int(n) for n in match.groups())


@pytest.fixture(scope="module")
def deployed(remote_cluster, registry_address, registry_ca, database_url):
    """The first deploy, after the pull Secret the user makes for a private registry (this
    registry asks for no login, so any credentials do; the pods must still name it)."""
    cluster = remote_cluster
    cluster.app.kubectl("create", "namespace", NAMESPACE, check=False)
    cluster.app.kubectl(
        "create", "secret", "docker-registry", PULL_SECRET,
        f"--docker-server={registry.pull_address(registry_address)}",
        "--docker-username=todo", f"--docker-password={secrets.token_urlsafe(16)}", check=False,
    )  # fmt: skip
    args = switches(cluster, registry_address, registry_ca)
    try:
        run = deploy_cluster(cluster, args, database_url)
        assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-3000:]
        yield args
    finally:  # this run's tags in this host's Docker (the layers stay cached)
        for name in ("todo-backend", "todo-frontend"):
            for ref in (f"{name}:{TAG}", f"{registry_address}/{name}:{TAG}"):
                subprocess.run(["docker", "rmi", ref], capture_output=True, check=False)


def test_images_are_pushed_to_the_registry_and_pulled_from_it(remote_cluster, registry_address, registry_ca, deployed):
    catalog = registry.get(registry_address, "/v2/_catalog", registry_ca)["repositories"]
    assert {"todo-backend", "todo-frontend"} <= set(catalog), catalog
    backend_tags = registry.get(registry_address, "/v2/todo-backend/tags/list", registry_ca)["tags"]
    pods = remote_cluster.app.pods("backend") + remote_cluster.app.pods("frontend")
    assert len(pods) == 4, [p["metadata"]["name"] for p in pods]
    # Each tier spread over the nodes: every node pulled from the registry.
    assert {p["spec"]["nodeName"] for p in pods} == set(remote_cluster.app.nodes()), pods
    for pod in pods:
        image = pod["spec"]["containers"][0]["image"]
        assert image.startswith(f"{registry.pull_address(registry_address)}/todo-"), image
        assert image.rsplit(":", 1)[1] in backend_tags, (image, backend_tags)
        assert pod["spec"]["imagePullSecrets"] == [{"name": PULL_SECRET}]
        assert all(c["type"] != "Ready" or c["status"] == "True" for c in pod["status"]["conditions"]), pod["status"]
        status = pod["status"]["containerStatuses"][0]
        # The node pulled it: the runtime knows it by the registry's digest.
        assert status["ready"] and f"{registry.pull_address(registry_address)}/todo-" in status["imageID"], status


def test_nothing_is_built_into_the_nodes_docker(remote_cluster, registry_address, deployed):
    for node in node_containers(PROFILE):
        names = subprocess.run(
            ["docker", "exec", node, "docker", "images", "--format", "{{.Repository}}"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        assert not {"todo-backend", "todo-frontend"} & set(names), (node, names)


def test_the_app_answers_through_the_ingress_with_the_inventorys_host(remote_cluster, deployed):
    base = f"http://{remote_cluster.ingress_address}"
    with httpx.Client(timeout=10, trust_env=False) as client:
        health = client.get(f"{base}/api/v1/health", headers={"Host": HOST})
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text
        page = client.get(f"{base}/signin", headers={"Host": HOST})
        assert page.status_code == 200, page.status_code
        # The rule is the host's only: another name finds no route.
        assert client.get(f"{base}/api/v1/health", headers={"Host": "other.test"}).status_code == 404
    ingress = json.loads(remote_cluster.app.kubectl("get", "ingress", "-o", "json").stdout)["items"][0]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == [HOST]


def test_a_rerun_and_a_check_run_change_nothing(remote_cluster, database_url, deployed):
    # The live Secret's DATABASE_URL is kept (the rerun's shell may lack it, as a user's may).
    again = deploy_cluster(remote_cluster, deployed)
    assert recap(again)[1:] == (0, 0, 0), again.stdout[-8000:]
    check = deploy_cluster(remote_cluster, deployed, "", "--check")
    assert recap(check)[1:] == (0, 0, 0), check.stdout[-8000:]


def test_bad_inputs_are_refused_before_anything_is_built(remote_cluster, registry_address, registry_ca, deployed):
    def refused(**extra) -> str:
        run = deploy_cluster(remote_cluster, switches(remote_cluster, registry_address, registry_ca, **extra))
        assert run.returncode != 0
        assert "Start building the images" not in run.stdout
        return " ".join(run.stdout.split())

    assert f"Kube context nowhere is not in {remote_cluster.app.kubeconfig}; it has: {PROFILE}" in refused(
        todo_kube_context="nowhere"
    )
    unused = f"{registry_address.rsplit(':', 1)[0]}:1"
    assert f"Registry {unused} does not answer as a container registry" in refused(todo_registry=unused)
    # Without a registry the images would go into this host's Docker, where the cluster does not run.
    assert "todo_registry is empty, so the images would be built into this machine's Docker engine" in refused(
        todo_registry=""
    )
    assert "Replace CHANGE_ME in your inventory" in refused(todo_ingress_host="CHANGE_ME")


def test_https_through_the_ingress_with_the_inventorys_tls_secret(remote_cluster, database_url, deployed, tmp_path):
    """todo_ingress_tls_secret with a certificate for HOST from a CA made now, given as
    todo_ingress_ca_cert: the deploy's final check and `make status` reach the app over https at
    the Ingress's address, naming HOST in TLS (HOST resolves nowhere here), and plain http is
    redirected there. Then the plain deploy again, which the next test reports on."""
    certs = pki.generate(tmp_path, "10.96.0.1")
    cert, key = pki.server_certificate(
        tmp_path, "todo-remote-ingress", [], str(certs["ca_cert"]), str(certs["ca_key"]), dns_names=[HOST]
    )
    remote_cluster.app.kubectl("create", "secret", "tls", TLS_SECRET, f"--cert={cert}", f"--key={key}")
    switches_tls = {"todo_ingress_tls_secret": TLS_SECRET, "todo_ingress_ca_cert": str(certs["ca_cert"])}
    tls = [*deployed, "-e", json.dumps(switches_tls)]
    run = deploy_cluster(remote_cluster, tls, database_url)
    said = " ".join(run.stdout.split())
    assert run.returncode == 0 and f"Open https://{HOST}/" in said, run.stdout[-8000:]
    address = remote_cluster.ingress_address
    trusting = ssl.create_default_context(cafile=str(certs["ca_cert"]))
    with httpx.Client(verify=trusting, timeout=10, trust_env=False) as c:
        health = c.get(f"https://{address}/api/v1/health", headers={"Host": HOST}, extensions={"sni_hostname": HOST})
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text
        plain = c.get(f"http://{address}/api/v1/health", headers={"Host": HOST})
        assert plain.is_redirect and plain.headers["location"].startswith(f"https://{HOST}/"), plain.headers
    status = play(remote_cluster, "status.yml", tls, "-e", "todo_manage_minikube=false")
    report = " ".join(status.stdout.split())
    assert f"URL: https://{HOST}/" in report and "Health: ok (200)" in report, report[-3000:]
    back = deploy_cluster(remote_cluster, deployed, database_url)
    assert back.returncode == 0 and f"Open http://{HOST}/" in " ".join(back.stdout.split()), back.stdout[-8000:]


def test_status_and_teardown_with_the_cluster_inventory(remote_cluster, deployed):
    """Last: make status / make teardown with ANSIBLE_ARGS="-i inventory/cluster -e todo_manage_minikube=false"."""
    without_minikube = ["-e", "todo_manage_minikube=false"]
    status = play(remote_cluster, "status.yml", deployed, *without_minikube)
    assert status.returncode == 0, status.stdout[-5000:]
    report = " ".join(status.stdout.split())
    assert f"URL: http://{HOST}/" in report and "Health: ok (200)" in report, report[-3000:]
    teardown = play(remote_cluster, "teardown.yml", deployed, *without_minikube)
    assert teardown.returncode == 0, teardown.stdout[-5000:]
    left = remote_cluster.app.kubectl("get", "namespace", NAMESPACE, check=False)
    assert left.returncode != 0 and "NotFound" in left.stderr, left.stdout
