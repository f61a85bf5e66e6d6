"""What a laptop deploy meets after the first run, against the real API server of a private
local cluster (kwok nodes) and the real helm; only `minikube` is the stand-in
(tests/unit/stub_minikube/minikube), the last tests that use it: these scenarios need a
webhook that never answers, releases killed mid-wait and a stale kubeconfig, which are
still to be made on the real Minikube (tests/minikube runs the user's path there):

- the ingress admission webhook race (issue 13 item 3): the minikube role's wait must last
  until the admission Service has a ready endpoint, which the test creates late; and a
  ValidatingWebhookConfiguration shaped like the addon's, pointing at a Service nothing
  answers, makes the real `helm install` fail with the addon's exact error, which the release
  role retries until the webhook goes away;
- releases an interrupted run left pending-upgrade / pending-install (item 8), made by
  SIGKILLing a real `helm --wait` that waits for a Pod no node accepts;
- teardown of a running profile whose kubeconfig entry `minikube status` calls Misconfigured
  (exit 4, item 7): the release must be uninstalled, not skipped.

Run on its own: `pytest tests/cluster/test_laptop_recovery.py`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import (
    REPO,
    LocalCluster,
    playbook_argv,
    playbook_env,
    run_playbook,
    start_cluster,
    tool,
    write_kwok_inventory,
)
from kubernetes import client, config
from kubernetes.client.rest import ApiException

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

PORT_BASE = int(os.environ.get("TODO_TEST_RECOVERY_PORT_BASE", "18143"))
STUB_DIR = REPO / "tests" / "unit" / "stub_minikube"
INGRESS_NS = "ingress-nginx"
ADMISSION = "ingress-nginx-controller-admission"
WEBHOOK = "validate.nginx.ingress.kubernetes.io"
NAMESPACE = "laptop"
RELEASE = "laptop"
RECAP = re.compile(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


class World:
    def __init__(self, cluster: LocalCluster, root: Path) -> None:
        self.cluster = cluster
        self.root = root
        api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.discovery = client.DiscoveryV1Api(api)
        self.admission = client.AdmissionregistrationV1Api(api)
        kubeconfig = yaml.safe_load(cluster.kubeconfig.read_text())
        self.context = kubeconfig["current-context"]
        self.stub_state = root / "stub-state.json"
        self.database_url = (
            f"postgresql://todo_ci:{secrets.token_urlsafe(18)}@db-{secrets.token_hex(4)}.invalid/todo?sslmode=require"
        )
        self.inventory = root / "inventory.yml"
        write_kwok_inventory(self.inventory, cluster.kubeconfig, NAMESPACE, RELEASE, "recovery-test")

    def env(self) -> dict[str, str]:
        return playbook_env(
            self.cluster,
            first_on_path=[STUB_DIR],
            DATABASE_URL=self.database_url,
            STUB_MINIKUBE_STATE=str(self.stub_state),
            # The playbooks put $TODO_CACHE/tools/bin first on PATH, where `make minikube` links
            # the real minikube; an empty cache keeps the stand-in first (the pinned helm comes
            # in through playbook_env's PATH).
            TODO_CACHE=str(self.root / "tool-cache"),
            # No offline record (make minikube-offline's) for the stand-in to be asked about.
            MINIKUBE_HOME=str(self.root / "minikube-home"),
        )

    def play(self, playbook: str | Path, *args: str, timeout: float = 900, **extra_env: str) -> tuple[int, str]:
        env = {**self.env(), **extra_env}
        result = run_playbook(env, playbook, *args, inventory=self.inventory, timeout=timeout)
        # The default callback wraps long messages: compare with single spaces.
        return result.returncode, " ".join((result.stdout + result.stderr).split())

    def play_until(self, line: str, action, playbook: str | Path, *args: str) -> tuple[int, str]:
        """Run a playbook and call action() once, when its output shows `line`."""
        env = self.env()
        env["PYTHONUNBUFFERED"] = "1"
        process = subprocess.Popen(
            playbook_argv(playbook, *args, inventory=self.inventory),
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines, done = [], False
        assert process.stdout is not None
        for text in process.stdout:
            lines.append(text)
            if not done and line in text:
                action()
                done = True
        return process.wait(timeout=900), " ".join("".join(lines).split())

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [tool("helm"), "--kubeconfig", str(self.cluster.kubeconfig), "--namespace", NAMESPACE, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            check=check,
            timeout=600,
        )

    def release_status(self) -> str | None:
        listed = json.loads(self.helm("list", "--all", "--output", "json").stdout)
        return next((r["status"] for r in listed if r["name"] == RELEASE), None)

    def stub_profile(self, **profile: object) -> None:
        self.stub_state.write_text(json.dumps({"profiles": {"todo": {"running": True, **profile}}, "calls": []}))

    def stub_calls(self, word: str) -> list[list[str]]:
        return [c for c in json.loads(self.stub_state.read_text())["calls"] if word in c]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("laptop")
    cluster = start_cluster(root / "run", port_base=PORT_BASE)
    try:
        yield World(cluster, root)
    finally:
        cluster.cli("down", check=False)


def recap(output: str) -> dict[str, int]:
    match = RECAP.search(output)
    assert match, output[-3000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups()), strict=True))


def ingress_addon_shaped_objects(world: World) -> None:
    """The addon's controller Deployment (Available as soon as its Pod is Ready, as with the
    real addon) and its admission Service, without a selector: its EndpointSlice is the test's."""
    labels = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
    world.core.create_namespace({"metadata": {"name": INGRESS_NS}})
    container = {"name": "controller", "image": "registry.k8s.io/ingress-nginx/controller:v1.12.1"}
    world.apps.create_namespaced_deployment(
        INGRESS_NS,
        {
            "metadata": {"name": "ingress-nginx-controller", "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "strategy": {"rollingUpdate": {"maxUnavailable": 1}},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        },
    )
    world.core.create_namespaced_service(
        INGRESS_NS,
        {
            "metadata": {"name": ADMISSION},
            "spec": {"ports": [{"name": "https-webhook", "port": 443, "targetPort": 8443}]},
        },
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        deployment = world.apps.read_namespaced_deployment("ingress-nginx-controller", INGRESS_NS)
        conditions = {c.type: c.status for c in deployment.status.conditions or []}
        if conditions.get("Available") == "True" and (deployment.status.ready_replicas or 0) == 1:
            return
        time.sleep(1)
    pytest.fail("the controller Deployment never became Available")


def admission_slice() -> dict:
    return {
        "metadata": {
            "name": f"{ADMISSION}-test",
            "labels": {"kubernetes.io/service-name": ADMISSION, "endpointslice.kubernetes.io/managed-by": "test"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.244.0.10"], "conditions": {"ready": True}}],
        "ports": [{"name": "https-webhook", "port": 8443, "protocol": "TCP"}],
    }


def test_ingress_wait_lasts_until_the_admission_service_has_an_endpoint(world: World) -> None:
    ingress_addon_shaped_objects(world)
    world.stub_profile(addons={"ingress": True})
    playbook = REPO / "tests" / "cluster" / "playbooks" / "minikube_ingress_wait.yml"
    vars_ = ["-e", f"test_kubeconfig={world.cluster.kubeconfig}", "-e", f"test_context={world.context}"]

    # No endpoint at all: a clear failure that names the Service.
    rc, output = world.play(playbook, *vars_, "-e", "minikube_ingress_wait_seconds=6")
    assert rc != 0, output[-4000:]
    assert (
        f"Ingress controller not ready: Service {ADMISSION} has no ready endpoint in {INGRESS_NS} after 6s" in output
    ), output[-4000:]

    # The endpoint appears 10 s into the wait: the role must still be waiting then.
    created: list[float] = []

    def add_endpoint() -> None:
        time.sleep(10)
        world.discovery.create_namespaced_endpoint_slice(INGRESS_NS, admission_slice())
        created.append(time.monotonic())

    adder = threading.Thread(target=add_endpoint)
    rc, output = world.play_until(
        "TASK [minikube : Wait for an endpoint on the admission webhook Service]", adder.start, playbook, *vars_
    )
    finished = time.monotonic()
    adder.join()
    assert rc == 0, output[-4000:]
    assert created and finished > created[0], "the wait ended before the admission Service had an endpoint"
    assert "FAILED - RETRYING: [localhost]: Wait for an endpoint on the admission webhook Service" in output


def ingress_ready(world: World) -> None:
    """The addon-shaped objects with their endpoint, for tests run on their own (-k)."""
    try:
        world.apps.read_namespaced_deployment("ingress-nginx-controller", INGRESS_NS)
    except ApiException:
        ingress_addon_shaped_objects(world)
    if not world.discovery.list_namespaced_endpoint_slice(INGRESS_NS).items:
        world.discovery.create_namespaced_endpoint_slice(INGRESS_NS, admission_slice())


def deployed(world: World) -> None:
    """A deployed release to start from, for tests run on their own (-k)."""
    if world.release_status() != "deployed":
        with contextlib.suppress(ApiException):
            world.admission.delete_validating_webhook_configuration("ingress-nginx-admission")
        rc, output = world.play("playbooks/deploy-dev.yml")
        assert rc == 0, output[-4000:]


def admission_webhook() -> dict:
    """Named and shaped like the addon's ValidatingWebhookConfiguration."""
    return {
        "metadata": {"name": "ingress-nginx-admission"},
        "webhooks": [
            {
                "name": WEBHOOK,
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "timeoutSeconds": 3,
                "matchPolicy": "Equivalent",
                "clientConfig": {
                    "service": {"namespace": INGRESS_NS, "name": ADMISSION, "path": "/networking/v1/ingresses"}
                },
                "rules": [
                    {
                        "apiGroups": ["networking.k8s.io"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["ingresses"],
                    }
                ],
            }
        ],
    }


def test_release_gives_up_on_the_webhook_error_with_a_clear_message(world: World) -> None:
    world.admission.create_validating_webhook_configuration(admission_webhook())
    rc, output = world.play("playbooks/deploy-dev.yml", "-e", "release_retries=2", "-e", "release_retry_delay=1")
    assert rc != 0, output[-4000:]
    assert f'failed calling webhook "{WEBHOOK}"' in output
    assert "FAILED - RETRYING: [localhost]: Helm upgrade --install (1 retries left)" in output
    assert "It was tried 2 times: the ingress-nginx admission webhook had no endpoint all along." in output
    assert world.release_status() is None, "--atomic removed the failed install"


def test_release_retries_the_webhook_error_until_the_webhook_answers(world: World) -> None:
    """The addon's webhook refuses the Ingress until the test removes it, right after the first
    refusal (standing in for the controller getting its endpoint): the release role must retry
    and then succeed."""
    try:
        world.admission.create_validating_webhook_configuration(admission_webhook())
    except ApiException as error:
        assert error.status == 409  # left by the previous test

    def remove_webhook() -> None:
        world.admission.delete_validating_webhook_configuration("ingress-nginx-admission")

    rc, output = world.play_until(
        "FAILED - RETRYING: [localhost]: Helm upgrade --install",
        remove_webhook,
        "playbooks/deploy-dev.yml",
        "-e",
        "release_retries=30",
        "-e",
        "release_retry_delay=3",
    )
    assert rc == 0, output[-6000:]
    assert output.count("FAILED - RETRYING: [localhost]: Helm upgrade --install") >= 1
    assert world.release_status() == "deployed"


def interrupt_helm(world: World, *args: str, pending: str) -> None:
    """Start a real `helm <args> --wait` on a frontend no node accepts and SIGKILL it once the
    release is recorded as `pending`: what Ctrl-C during the wait leaves behind."""
    process = subprocess.Popen(
        [
            tool("helm"),
            "--kubeconfig",
            str(world.cluster.kubeconfig),
            "--namespace",
            NAMESPACE,
            *args,
            "--set",
            "frontend.nodeSelector.todo-test/never=here",
            "--wait",
            "--timeout",
            "10m",
        ],
        env=world.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if world.release_status() == pending:
                time.sleep(3)  # well into the wait
                break
            time.sleep(1)
        assert process.poll() is None, process.communicate()[0]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert world.release_status() == pending


def test_a_release_left_pending_upgrade_is_rolled_back_then_upgraded(world: World) -> None:
    deployed(world)
    revision = json.loads(world.helm("status", RELEASE, "--output", "json").stdout)["version"]
    interrupt_helm(world, "upgrade", RELEASE, str(REPO / "chart" / "todo"), "--reuse-values", pending="pending-upgrade")
    before = world.helm("upgrade", RELEASE, str(REPO / "chart" / "todo"), "--reuse-values", check=False)
    assert "another operation (install/upgrade/rollback) is in progress" in before.stderr

    rc, output = world.play("playbooks/deploy-dev.yml")
    assert rc == 0, output[-6000:]
    assert (
        f"Release {RELEASE} in {NAMESPACE} was left pending-upgrade (revision {revision + 1}) by an interrupted run:"
        f" rolled back to revision {revision}, the last one deployed." in output
    ), output[-6000:]
    assert world.release_status() == "deployed"
    frontend = world.apps.list_namespaced_deployment(NAMESPACE, label_selector="app.kubernetes.io/component=frontend")
    assert [d.spec.template.spec.node_selector for d in frontend.items] == [None]

    again, output = world.play("playbooks/deploy-dev.yml")
    assert again == 0 and recap(output)["changed"] == 0, output[-6000:]


def test_a_release_left_pending_install_is_uninstalled_then_installed(world: World, tmp_path: Path) -> None:
    deployed(world)
    values = tmp_path / "values.json"
    values.write_text(world.helm("get", "values", RELEASE, "--output", "json").stdout)
    world.helm("uninstall", RELEASE, "--wait")
    interrupt_helm(
        world, "install", RELEASE, str(REPO / "chart" / "todo"), "-f", str(values), pending="pending-install"
    )

    rc, output = world.play("playbooks/deploy-dev.yml")
    assert rc == 0, output[-6000:]
    assert (
        f"Release {RELEASE} in {NAMESPACE} was left pending-install (revision 1) by an interrupted run:"
        " it was never deployed, so it was uninstalled." in output
    ), output[-6000:]
    assert world.release_status() == "deployed"


def test_an_unroutable_minikube_ip_opens_a_tunnel_before_the_long_steps(world: World, tmp_path: Path) -> None:
    """deploy-dev.yml with the stand-in minikube playing WSL2 with the docker driver (its `minikube ip`
    answers 192.0.2.10, which nothing routes to): the deploy must say early that it reaches the Ingress
    through a tunnel, and open it (`minikube service --url`) before the long steps. The stand-in has no
    `minikube service`, so the tunnel cannot open, and the failure must say so and name the fallback."""
    deployed(world)
    ingress_ready(world)
    world.stub_profile(addons={"ingress": True})
    proc_version = tmp_path / "version"
    proc_version.write_text("Linux version 5.15.167.4-microsoft-standard-WSL2 (gcc (GCC) 11.2.0)\n")
    rc, output = world.play(
        "playbooks/deploy-dev.yml",
        "-e",
        "todo_manage_minikube=true",
        "-e",
        f"todo_kube_context={world.context}",
        "-e",
        "todo_verify_through_ingress=true",
        "-e",
        f"minikube_proc_version_file={proc_version}",
        "-e",
        "verify_wait_seconds=4",
        STUB_MINIKUBE_IP="192.0.2.10",
    )
    assert rc != 0, output[-6000:]
    early = "The Minikube IP 192.0.2.10 is not reachable from this machine (the docker driver under WSL2)."
    assert early in output and "keeps an SSH tunnel to it open in the background" in output, output[-6000:]
    failure = output[output.index("TASK [minikube : Fail with what Minikube said when no tunnel came up]") :]
    assert "the tunnel to the ingress controller did not come up" in failure, failure[:3000]
    assert "minikube -p todo tunnel" in failure and "-e todo_ingress_address=127.0.0.1" in failure, failure[:3000]
    assert "TASK [release : Helm upgrade --install]" not in output, "it stops before the long steps"


def test_teardown_uninstalls_when_the_profile_runs_with_a_stale_kubeconfig(world: World) -> None:
    """`minikube status` exits 4 with "Kubeconfig": "Misconfigured" (the stand-in answers as
    minikube does): the profile runs, so the release must go."""
    deployed(world)
    world.stub_profile(kubeconfig_misconfigured=True, addons={"ingress": True})
    rc, output = world.play(
        "playbooks/teardown.yml", "-e", "todo_manage_minikube=true", "-e", f"todo_kube_context={world.context}"
    )
    assert rc == 0, output[-6000:]
    assert "is not running, so there is no release to remove" not in output
    assert world.stub_calls("update-context") == [["--profile", "todo", "update-context"]]
    assert world.release_status() is None
    with pytest.raises(ApiException) as gone:
        world.core.read_namespace(NAMESPACE)
    assert gone.value.status == 404
