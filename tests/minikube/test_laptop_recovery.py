"""What a laptop deploy meets after the first run, on a real Minikube: the pinned minikube
binary, its profile (Docker driver, the offline record of make minikube-offline), the real
ingress addon and its admission webhook, the real helm. Nothing here is a stand-in.

- the ingress admission webhook race (issue 13 item 3, minikube #13799): with the addon's
  controller scaled to 0, the minikube role's wait fails naming what is missing, and lasts
  until the controller is back and its admission Service has an endpoint; the real `helm
  install` fails with the webhook's own error, which the release role retries until the
  webhook answers, or gives up on with a clear message;
- releases an interrupted run left pending-upgrade / pending-install (item 8), made by
  SIGKILLing a real `helm --wait` that waits for a Pod no node accepts;
- the WSL2 branch of the routing decision (the kernel's version string read from a file):
  the deploy says early it goes through `minikube service --url` and verifies there;
- a profile whose kubeconfig entry `minikube status` calls Misconfigured: teardown repairs
  it (`minikube update-context`) and uninstalls the release, not skipping it;
- a stopped profile (`minikube stop`): status says so in minikube's words, and the user's
  next `make deploy` starts it again and deploys.

Run on its own: `pytest tests/minikube/test_laptop_recovery.py` (after make minikube-offline).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import RECAP, REPO
from kubernetes import client, config

from tools.minikube.app import ProfileApp

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

PROFILE = "todo-recovery"
INGRESS_NS = "ingress-nginx"
CONTROLLER = "ingress-nginx-controller"
ADMISSION = "ingress-nginx-controller-admission"
WEBHOOK = "validate.nginx.ingress.kubernetes.io"
NAMESPACE = "laptop"
RELEASE = "laptop"
WAIT_PLAYBOOK = REPO / "tests" / "minikube" / "playbooks" / "minikube_ingress_wait.yml"
TEARDOWN = "playbooks/teardown.yml"


class World(ProfileApp):
    """One real Minikube profile for the module, its kubeconfig private to the test, the
    Neon-like database on its network's gateway, and a deployed release to start from."""

    def run(self, playbook: str | Path, *args: str, **extra_env: str) -> tuple[int, str]:
        result = subprocess.run(
            self.argv(playbook, *args), cwd=REPO, env=self.env(**extra_env), capture_output=True, text=True,
            timeout=1500,
        )  # fmt: skip
        # The default callback wraps long messages: compare with single spaces.
        return result.returncode, " ".join((result.stdout + result.stderr).split())

    def run_until(self, line: str, action, playbook: str | Path, *args: str) -> tuple[int, str]:
        """Run a playbook and call action() once, when its output shows `line`."""
        process = subprocess.Popen(
            self.argv(playbook, *args), cwd=REPO, env=self.env(PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        lines, done = [], False
        assert process.stdout is not None
        for text in process.stdout:
            lines.append(text)
            if not done and line in text:
                action()
                done = True
        return process.wait(timeout=1500), " ".join("".join(lines).split())

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["helm", "--kube-context", PROFILE, "--namespace", NAMESPACE, *args],
            env=self.env(), capture_output=True, text=True, check=check, timeout=900,
        )  # fmt: skip

    def api(self) -> client.ApiClient:
        """A fresh client each time: the profile's port changes when it restarts."""
        return config.new_client_from_config(config_file=str(self.kubeconfig), context=PROFILE)

    def release_status(self) -> str | None:
        listed = json.loads(self.helm("list", "--all", "--output", "json").stdout)
        return next((r["status"] for r in listed if r["name"] == RELEASE), None)

    def scale_controller(self, replicas: int) -> None:
        client.AppsV1Api(self.api()).patch_namespaced_deployment_scale(
            CONTROLLER, INGRESS_NS, {"spec": {"replicas": replicas}}
        )

    def controller_gone(self) -> None:
        """Scaled to 0 and its Pods gone: what the first seconds after `addons enable` look like."""
        self.scale_controller(0)
        core = client.CoreV1Api(self.api())
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if not core.list_namespaced_pod(INGRESS_NS, label_selector="app.kubernetes.io/component=controller").items:
                return
            time.sleep(1)
        pytest.fail("the ingress controller's Pods did not go away")

    def deployed_output(self, *args: str) -> str:
        rc, output = self.run("playbooks/deploy-dev.yml", *args)
        assert rc == 0, output[-6000:]
        return output


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with World(PROFILE, tmp_path_factory.mktemp("laptop"), namespace=NAMESPACE, release=RELEASE) as world:
        print(f"\nlaptop recovery profile: {world.timings}")
        yield world


def recap(output: str) -> dict[str, int]:
    match = RECAP.search(output.replace(" localhost ", "\nlocalhost "))
    assert match, output[-3000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups()), strict=True))


def deployed(world: World) -> None:
    """A deployed release and a Ready controller to start from, for tests run on their own (-k)."""
    world.scale_controller(1)
    if world.release_status() != "deployed":
        world.deployed_output()


def test_ingress_wait_lasts_until_the_controller_and_its_admission_endpoint_are_back(world: World) -> None:
    world.controller_gone()
    vars_ = ["-e", f"test_kubeconfig={world.kubeconfig}", "-e", f"test_profile={PROFILE}"]

    # Nothing Ready: a clear failure that names what is missing.
    rc, output = world.run(WAIT_PLAYBOOK, *vars_, "-e", "minikube_ingress_wait_seconds=6")
    assert rc != 0, output[-4000:]
    assert "Ingress controller not ready: no Ready controller Pod" in output, output[-4000:]
    assert f"in {INGRESS_NS} after 6s, so its admission webhook would refuse the release's Ingress" in output

    # The controller comes back 10 s into the wait: the role must still be waiting then, and
    # end only once the admission Service has a ready endpoint.
    scaled: list[float] = []

    def bring_back() -> None:
        time.sleep(10)
        world.scale_controller(1)
        scaled.append(time.monotonic())

    adder = threading.Thread(target=bring_back)
    rc, output = world.run_until(
        "TASK [minikube : Wait for a Ready ingress-nginx controller Pod]", adder.start, WAIT_PLAYBOOK, *vars_
    )
    finished = time.monotonic()
    adder.join()
    assert rc == 0, output[-4000:]
    assert scaled and finished > scaled[0], "the wait ended before the controller came back"
    assert "FAILED - RETRYING: [localhost]: Wait for a Ready ingress-nginx controller Pod" in output
    slices = client.DiscoveryV1Api(world.api()).list_namespaced_endpoint_slice(
        INGRESS_NS, label_selector=f"kubernetes.io/service-name={ADMISSION}"
    )
    assert [e for s in slices.items for e in s.endpoints or [] if e.conditions.ready is not False]


# The webhook tests run the release without the minikube role (whose wait would hold them back),
# as a deploy that reaches helm while the controller is still starting does.
WITHOUT_MINIKUBE = ["-e", "todo_manage_minikube=false", "-e", "todo_build_images=false"]
WITHOUT_MINIKUBE += ["-e", "todo_verify_through_ingress=false", "-e", f"todo_kube_context={PROFILE}"]


def test_release_gives_up_on_the_webhook_error_with_a_clear_message(world: World) -> None:
    deployed(world)
    world.helm("uninstall", RELEASE, "--wait")
    world.controller_gone()
    rc, output = world.run(
        "playbooks/deploy-dev.yml", *WITHOUT_MINIKUBE, "-e", "release_retries=2", "-e", "release_retry_delay=1"
    )
    assert rc != 0, output[-4000:]
    assert f'failed calling webhook "{WEBHOOK}"' in output, output[-4000:]
    # The Service has no endpoint, so kube-proxy rejects the apiserver's call to its address.
    assert f"https://{ADMISSION}.{INGRESS_NS}.svc:443/networking/v1/ingresses" in output, output[-4000:]
    assert "FAILED - RETRYING: [localhost]: Helm upgrade --install (1 retries left)" in output
    assert "It was tried 2 times: the ingress-nginx admission webhook had no endpoint all along." in output
    assert world.release_status() is None, "--atomic removed the failed install"


def test_release_retries_the_webhook_error_until_the_webhook_answers(world: World) -> None:
    """The addon's webhook refuses the Ingress until its controller is back, brought back right
    after the first refusal: the release role must retry and then succeed."""
    if world.release_status() is not None:
        world.helm("uninstall", RELEASE, "--wait")
    world.controller_gone()
    rc, output = world.run_until(
        "FAILED - RETRYING: [localhost]: Helm upgrade --install",
        lambda: world.scale_controller(1),
        "playbooks/deploy-dev.yml",
        *WITHOUT_MINIKUBE,
        "-e",
        "release_retries=40",
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
            "helm",
            "--kube-context",
            PROFILE,
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

    output = world.deployed_output()
    assert (
        f"Release {RELEASE} in {NAMESPACE} was left pending-upgrade (revision {revision + 1}) by an interrupted run:"
        f" rolled back to revision {revision}, the last one deployed." in output
    ), output[-6000:]
    assert world.release_status() == "deployed"
    frontend = client.AppsV1Api(world.api()).list_namespaced_deployment(
        NAMESPACE, label_selector="app.kubernetes.io/component=frontend"
    )
    assert [d.spec.template.spec.node_selector for d in frontend.items] == [None]
    assert recap(world.deployed_output())["changed"] == 0


def test_a_release_left_pending_install_is_uninstalled_then_installed(world: World, tmp_path: Path) -> None:
    deployed(world)
    values = tmp_path / "values.json"
    values.write_text(world.helm("get", "values", RELEASE, "--output", "json").stdout)
    world.helm("uninstall", RELEASE, "--wait")
    interrupt_helm(
        world, "install", RELEASE, str(REPO / "chart" / "todo"), "-f", str(values), pending="pending-install"
    )
    output = world.deployed_output()
    assert (
        f"Release {RELEASE} in {NAMESPACE} was left pending-install (revision 1) by an interrupted run:"
        " it was never deployed, so it was uninstalled." in output
    ), output[-6000:]
    assert world.release_status() == "deployed"


def test_under_wsl2_the_deploy_says_so_early_and_verifies_through_minikube_service(
    world: World, tmp_path: Path
) -> None:
    """deploy-dev.yml told it runs under WSL2 (the kernel's version string, read from a file the
    test writes): it must say early that the Minikube IP is not reachable and go through
    `minikube service --url` before verifying. The real minikube here is not under WSL2, so it
    prints the controller's NodePort URL on the node's address and exits (no SSH tunnel to keep:
    ingress_tunnel.py's "reachable without a tunnel" branch); the verify goes there."""
    deployed(world)
    proc_version = tmp_path / "version"
    proc_version.write_text("Linux version 5.15.167.4-microsoft-standard-WSL2 (gcc (GCC) 11.2.0)\n")
    ip = world.minikube("ip", check=True).stdout.strip()
    output = world.deployed_output("-e", f"minikube_proc_version_file={proc_version}")
    early = f"The Minikube IP {ip} is not reachable from this machine (the docker driver under WSL2)."
    assert early in output and "keeps an SSH tunnel to it open in the background" in output, output[-6000:]
    assert "TASK [minikube : Keep a tunnel to the ingress controller open in the background]" in output
    said = world.minikube("service", CONTROLLER, "-n", INGRESS_NS, "--url", check=True).stdout
    urls = re.findall(r"^(http://\S+)$", said, re.M)
    assert urls and all(url.startswith(f"http://{ip}:") for url in urls), said
    assert any(url.split("//", 1)[1] in output for url in urls), output[-6000:]


def test_teardown_repairs_a_misconfigured_kubeconfig_and_uninstalls(world: World) -> None:
    """The profile's kubeconfig entry points at a port nothing serves: real `minikube status`
    reports Kubeconfig Misconfigured. The profile runs, so teardown must repair the entry
    (`minikube update-context`) and remove the release."""
    deployed(world)
    kubeconfig = yaml.safe_load(world.kubeconfig.read_text())
    entry = next(c for c in kubeconfig["clusters"] if c["name"] == PROFILE)
    right = entry["cluster"]["server"]
    host, port = right.rsplit(":", 1)
    entry["cluster"]["server"] = f"{host}:{int(port) + 1}"
    world.kubeconfig.write_text(yaml.safe_dump(kubeconfig))
    status = world.minikube("status", "--output", "json")
    assert json.loads(status.stdout)["Kubeconfig"] == "Misconfigured", status.stdout
    assert status.returncode != 0

    rc, output = world.run(TEARDOWN)
    assert rc == 0, output[-6000:]
    assert "is not running, so there is no release to remove" not in output
    repaired = next(c for c in yaml.safe_load(world.kubeconfig.read_text())["clusters"] if c["name"] == PROFILE)
    assert repaired["cluster"]["server"] == right
    assert world.release_status() is None
    namespaces = [n.metadata.name for n in client.CoreV1Api(world.api()).list_namespace().items]
    assert NAMESPACE not in namespaces


def test_a_stopped_profile_is_reported_then_started_by_the_next_deploy(world: World) -> None:
    world.minikube("stop", check=True)
    rc, output = world.run("playbooks/status.yml")
    assert rc != 0, output[-4000:]
    said = f"Minikube profile {PROFILE} is not running (host Stopped, kubelet Stopped, apiserver Stopped)"
    assert said in output, output[-4000:]
    status = json.loads(world.minikube("status", "--output", "json").stdout)
    assert status["Host"] == "Stopped", status

    output = world.deployed_output()
    assert world.release_status() == "deployed"
    status = json.loads(world.minikube("status", "--output", "json").stdout)
    assert (status["Host"], status["APIServer"], status["Kubeconfig"]) == ("Running", "Running", "Configured"), status
    assert "TASK [verify : Wait for the backend health through the Ingress]" in output
