"""The prerequisites, minikube and images roles against a stand-in `minikube` CLI
(tests/unit/stub_minikube/minikube; minikube is the one tool that cannot run here).

Everything else is real: ansible-playbook with the repo's ansible.cfg, the roles, and a real
Docker daemon that the stand-in's `docker-env` points at, into which community.docker builds
two small images (FROM scratch, so no registry is needed). The ingress-controller wait needs a
real cluster and is switched off here (covered by molecule/default on a real Minikube).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, VENV_BIN, base_env, run_playbook

from tools.cluster.pins import KUBERNETES_VERSION

STUB_DIR = ROOT / "tests" / "unit" / "stub_minikube"
PLAYBOOK = ROOT / "tests" / "unit" / "playbooks" / "stub_minikube_images.yml"
BUILD_TASK = "images : Build the images into the target Docker daemon"
START_BUILDS_TASK = "images : Start building the images into the target Docker daemon, all at once"
START_TASK = "minikube : Start Minikube"
ENABLE_TASK = "minikube : Enable the ingress addon"
OWN_TASKS = {"Write the facts the roles handed on, for the test to read"}

pytestmark = pytest.mark.slow


def docker_cli() -> str:
    found = shutil.which("docker")
    assert found, "the docker CLI is needed (Debian: apt-get install docker.io)"
    return found


@pytest.fixture(scope="module")
def docker_daemon() -> None:
    """A running dockerd: started by tools/docker/engine.py if needed."""
    from tools.docker import engine

    engine.ensure_daemon()  # raises, saying why, when no daemon can be had


class Stage:
    """A stand-in Minikube world: its state file, two build contexts and unique image names."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = root / "stub-state.json"
        self.suffix = secrets.token_hex(4)
        self.images = [f"todo-unit-{self.suffix}/backend", f"todo-unit-{self.suffix}/frontend"]
        for index, name in enumerate(self.images):
            context = root / "src" / f"app{index}"
            context.mkdir(parents=True)
            (context / "Dockerfile").write_text("FROM scratch\nCOPY content.txt /content.txt\n")
            (context / "content.txt").write_text(f"{name} v1\n")
        self.runs = 0

    def vars_file(self, tag: str, **extra) -> Path:
        self.runs += 1
        data = {
            "test_image_tag": tag,
            "test_build_root": str(self.root / "src"),
            "test_facts_file": str(self.root / f"facts-{self.runs}.json"),
            "test_images": [{"name": name, "context": f"app{i}"} for i, name in enumerate(self.images)],
            **extra,
        }
        path = self.root / f"vars-{self.runs}.json"
        path.write_text(json.dumps(data))
        return path

    def env(self, **extra: str) -> dict[str, str]:
        env = base_env(STUB_MINIKUBE_STATE=str(self.state), **extra)
        env["PATH"] = os.pathsep.join([str(STUB_DIR), env["PATH"]])
        return env

    def play(self, tag: str, *args: str, stub_env: dict[str, str] | None = None, **extra):
        vars_file = self.vars_file(tag, **extra)
        run = run_playbook(PLAYBOOK, "-e", f"@{vars_file}", *args, env=self.env(**(stub_env or {})), json_output=True)
        facts_file = self.root / f"facts-{self.runs}.json"
        facts = json.loads(facts_file.read_text()) if facts_file.exists() else None
        return run, facts

    def calls(self, *words: str) -> list[list[str]]:
        calls = json.loads(self.state.read_text())["calls"]
        return [c for c in calls if all(w in c for w in words)]

    def stub_state(self) -> dict:
        return json.loads(self.state.read_text())

    def image_id(self, name: str, tag: str) -> str | None:
        result = subprocess.run(
            [docker_cli(), "image", "inspect", "--format", "{{.Id}}", f"{name}:{tag}"],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout.strip() if result.returncode == 0 else None

    def cleanup(self) -> None:
        listed = subprocess.run(
            [docker_cli(), "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        ours = [ref for ref in listed if ref.startswith(f"todo-unit-{self.suffix}/")]
        if ours:
            subprocess.run([docker_cli(), "image", "rm", "--force", *ours], capture_output=True, check=False)


@pytest.fixture(scope="module")
def stage(tmp_path_factory, docker_daemon):
    world = Stage(tmp_path_factory.mktemp("stub-minikube"))
    yield world
    world.cleanup()


def changed(run) -> set[str]:
    return set(run.changed_tasks()) - OWN_TASKS


def test_first_run_starts_minikube_enables_ingress_and_builds_with_stub_minikube(stage):
    run, facts = stage.play("t1")
    assert run.returncode == 0, run.output[-4000:]
    assert changed(run) == {START_TASK, ENABLE_TASK, BUILD_TASK}
    assert len(stage.calls("start")) == 1
    assert len(stage.calls("addons", "enable", "ingress")) == 1
    start = stage.calls("start")[0]
    # Sized to what the real local daemon offers (tests/unit/test_minikube_platforms.py has the table).
    assert 2 <= int(start[start.index("--cpus") + 1]) <= 4
    assert 3072 <= int(start[start.index("--memory") + 1].removesuffix("mb")) <= 4096
    # The Kubernetes the project tests, not the newer one this Minikube would pick by itself.
    assert start[start.index("--kubernetes-version") + 1] == KUBERNETES_VERSION
    assert "--cni" not in start, "no CNI asked for: Minikube's choice"
    profile = stage.stub_state()["profiles"]["todo"]
    assert profile["running"] is True and profile["kubernetes_version"] == KUBERNETES_VERSION
    # The facts handed to the next roles: IP, docker-env as a dict, and the real image IDs.
    assert facts["minikube_ip"] == "127.0.0.1"
    # The docker driver on Linux with Docker Engine: the Minikube IP is reachable, no tunnel.
    assert facts["minikube_needs_tunnel"] is False and facts["minikube_ingress_address"] == "127.0.0.1"
    assert facts["minikube_docker_env"]["DOCKER_HOST"].startswith("unix://")
    assert facts["minikube_docker_env"]["MINIKUBE_ACTIVE_DOCKERD"] == "todo"
    for name in stage.images:
        assert facts["images_ids"][name] == stage.image_id(name, "t1") is not None
    # Every build was started before the role waited for any: one async job per image, and the
    # build task's results are those jobs' outcomes.
    jobs = run.task_result(START_BUILDS_TASK)["results"]
    assert [job["item"]["name"] for job in jobs] == stage.images
    assert all(job["ansible_job_id"] and not job["finished"] for job in jobs)
    outcomes = run.task_result(BUILD_TASK)["results"]
    assert [outcome["ansible_job_id"] for outcome in outcomes] == [job["ansible_job_id"] for job in jobs]
    assert all(outcome["finished"] and outcome["image"]["Id"] for outcome in outcomes)


def test_second_run_changes_nothing_with_stub_minikube(stage):
    run, _ = stage.play("t1")
    assert run.returncode == 0, run.output[-4000:]
    assert changed(run) == set()
    assert len(stage.calls("start")) == 1, "a running profile must be left alone"
    assert len(stage.calls("addons", "enable", "ingress")) == 1, "the addon must be enabled only once"
    build = run.task_result(BUILD_TASK)
    assert all(not item.get("actions") for item in build["results"]), "an existing clean tag must not be rebuilt"


def test_ingress_addon_is_enabled_only_when_disabled_with_stub_minikube(stage):
    state = stage.stub_state()
    state["profiles"]["todo"]["addons"]["ingress"] = False
    stage.state.write_text(json.dumps(state))
    run, _ = stage.play("t1")
    assert run.returncode == 0, run.output[-4000:]
    assert changed(run) == {ENABLE_TASK}
    assert len(stage.calls("addons", "enable", "ingress")) == 2
    assert len(stage.calls("start")) == 1


def test_dirty_tag_is_rebuilt_but_changes_only_when_the_image_differs_with_stub_minikube(stage):
    first, facts = stage.play("t1-dirty")
    assert first.returncode == 0, first.output[-4000:]
    assert changed(first) == {BUILD_TASK}
    ids = facts["images_ids"]

    again, facts_again = stage.play("t1-dirty")
    assert again.returncode == 0, again.output[-4000:]
    assert changed(again) == set()
    results = again.task_result(BUILD_TASK)["results"]
    assert all(any(a.startswith("Built image") for a in item["actions"]) for item in results), "dirty tags rebuild"
    assert facts_again["images_ids"] == ids

    # An uncommitted edit under the same -dirty tag: rebuilt, changed, new image ID.
    context = stage.root / "src" / "app0" / "content.txt"
    context.write_text(context.read_text() + "edited\n")
    edited, facts_edited = stage.play("t1-dirty")
    assert edited.returncode == 0, edited.output[-4000:]
    assert changed(edited) == {BUILD_TASK}
    backend, frontend = stage.images
    assert facts_edited["images_ids"][backend] != ids[backend]
    assert facts_edited["images_ids"][frontend] == ids[frontend]
    assert stage.image_id(backend, "t1-dirty") == facts_edited["images_ids"][backend]


def test_check_mode_changes_nothing_with_stub_minikube(stage):
    run, _ = stage.play("t2", "--check")
    assert run.returncode == 0, run.output[-4000:]
    # Building a new tag is predicted as a change, but nothing is built.
    assert changed(run) == {BUILD_TASK}
    assert stage.image_id(stage.images[0], "t2") is None
    assert len(stage.calls("start")) == 1


def test_too_few_resources_fail_before_starting_with_stub_minikube(stage):
    run, _ = stage.play("t1", minikube_profile="toosmall", minikube_cpus=512)
    assert run.returncode != 0
    result = run.task_result("minikube : Refuse to start a profile that cannot fit")
    assert result["failed"]
    assert "Minikube out of resources: profile toosmall asks for 512 CPUs" in result["msg"]
    assert "Or lower minikube_cpus / minikube_memory_mb" in result["msg"]
    assert stage.calls("start", "toosmall") == []


def test_minikube_role_defaults_to_the_pinned_kubernetes_version():
    defaults = yaml.safe_load((ROOT / "roles" / "minikube" / "defaults" / "main.yml").read_text())
    assert defaults["minikube_kubernetes_version"] == KUBERNETES_VERSION


def test_minikube_cni_reaches_minikube_start_with_stub_minikube(stage):
    run, _ = stage.play("t1", minikube_profile="withcni", minikube_cni="calico")
    assert run.returncode == 0, run.output[-4000:]
    [start] = stage.calls("start", "withcni")
    assert start[start.index("--cni") + 1] == "calico"
    assert stage.stub_state()["profiles"]["withcni"]["cni"] == "calico"


def test_a_profile_on_a_newer_kubernetes_fails_with_what_to_do_with_stub_minikube(stage):
    """A stopped profile an earlier deploy created at Minikube's default (newer) Kubernetes:
    minikube refuses the downgrade (exit 106), and the role says how to get going."""
    state = stage.stub_state()
    state["profiles"]["newer"] = {"running": False, "kubernetes_version": "v1.34.0", "addons": {}}
    stage.state.write_text(json.dumps(state))
    run, _ = stage.play("t1", minikube_profile="newer")
    assert run.returncode != 0
    result = run.task_result("minikube : Fail when Minikube did not start")
    assert "was created with a newer Kubernetes than the v1.35.1 this project tests" in result["msg"]
    assert "`minikube delete -p newer`" in result["msg"] and 'minikube_kubernetes_version=""' in result["msg"]
    assert stage.stub_state()["profiles"]["newer"]["running"] is False

    kept, _ = stage.play("t1", minikube_profile="newer", minikube_kubernetes_version="")
    assert kept.returncode == 0, kept.output[-4000:]
    newer = stage.stub_state()["profiles"]["newer"]
    assert newer["running"] is True and newer["kubernetes_version"] == "v1.34.0"


def test_missing_minikube_fails_with_a_clear_message_naming_it(tmp_path):
    """deploy-dev.yml as `make deploy` runs it, on a PATH without minikube (nor helm/kubectl)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").symlink_to(docker_cli())
    env = base_env(TODO_CACHE=str(tmp_path / "cache"), HOME=str(tmp_path))
    env["PATH"] = os.pathsep.join([str(bin_dir), str(VENV_BIN), "/usr/bin", "/bin"])
    if shutil.which("minikube", path=env["PATH"]):
        pytest.skip("a real minikube is installed in /usr/bin or /bin")
    run = run_playbook(ROOT / "playbooks" / "deploy-dev.yml", "-e", "todo_image_tag=unit", env=env)
    assert run.returncode == 2, run.output[-3000:]
    assert "Prerequisites are not met:" in run.stdout
    assert "minikube is not installed (not found on PATH). Install Minikube: https://minikube.sigs.k8s.io" in run.stdout
    assert "todo_manage_minikube=false" in run.stdout
    assert "Traceback" not in run.output
    assert run.recap["changed"] == 0


def test_teardown_deletes_the_profile_only_when_asked_with_stub_minikube(tmp_path):
    """playbooks/teardown.yml with a stopped profile: nothing to uninstall, and the profile
    survives unless todo_teardown_minikube=true (given as a string, as -e gives it)."""
    state = tmp_path / "stub-state.json"
    state.write_text(json.dumps({"profiles": {"todo": {"running": False, "addons": {}}}, "calls": []}))
    env = base_env(STUB_MINIKUBE_STATE=str(state))
    env["PATH"] = os.pathsep.join([str(STUB_DIR), env["PATH"]])
    teardown = ROOT / "playbooks" / "teardown.yml"

    kept = run_playbook(teardown, env=env)
    assert kept.returncode == 0, kept.output[-3000:]
    assert kept.recap["changed"] == 0
    assert "Minikube profile todo is not running, so there is no release to remove." in kept.stdout
    assert "todo" in json.loads(state.read_text())["profiles"]

    deleted = run_playbook(teardown, "-e", "todo_teardown_minikube=true", env=env)
    assert deleted.returncode == 0, deleted.output[-3000:]
    assert deleted.recap["changed"] == 1
    after = json.loads(state.read_text())
    assert "todo" not in after["profiles"]
    assert [c for c in after["calls"] if "delete" in c] == [["delete", "--profile", "todo"]]

    again = run_playbook(teardown, "-e", "todo_teardown_minikube=true", env=env)
    assert again.returncode == 0 and again.recap["changed"] == 0, again.output[-3000:]


def test_status_reports_a_stopped_profile_clearly_with_stub_minikube(tmp_path):
    state = tmp_path / "stub-state.json"
    state.write_text(json.dumps({"profiles": {}, "calls": []}))
    env = base_env(STUB_MINIKUBE_STATE=str(state))
    env["PATH"] = os.pathsep.join([str(STUB_DIR), env["PATH"]])
    run = run_playbook(ROOT / "playbooks" / "status.yml", env=env)
    assert run.returncode == 2
    assert "Minikube profile todo is not running" in run.stdout and "make deploy" in run.stdout
    assert run.recap["changed"] == 0


def stale_kubeconfig_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A running profile whose kubeconfig entry is stale: the stand-in answers `minikube status`
    as minikube does, exit 4 (its k8sNotRunningStatusFlag) and "Kubeconfig": "Misconfigured"."""
    state = tmp_path / "stub-state.json"
    profile = {"running": True, "kubeconfig_misconfigured": True, "addons": {"ingress": True}}
    state.write_text(json.dumps({"profiles": {"todo": profile}, "calls": []}))
    env = base_env(STUB_MINIKUBE_STATE=str(state))
    env["PATH"] = os.pathsep.join([str(STUB_DIR), env["PATH"]])
    status = subprocess.run(["minikube", "-p", "todo", "status", "-o", "json"], env=env, capture_output=True, text=True)
    assert status.returncode == 4 and json.loads(status.stdout)["Kubeconfig"] == "Misconfigured"
    return state, env


def test_a_running_profile_with_a_stale_kubeconfig_is_repaired_not_restarted_with_stub_minikube(stage):
    if not stage.state.exists():  # run on its own: the first run starts the profile
        assert stage.play("t1")[0].returncode == 0
    state = stage.stub_state()
    state["profiles"]["todo"]["kubeconfig_misconfigured"] = True
    stage.state.write_text(json.dumps(state))
    starts = len(stage.calls("start"))
    run, _ = stage.play("t1")
    assert run.returncode == 0, run.output[-4000:]
    assert changed(run) == {"minikube : Point the kubeconfig at the running profile again"}
    assert len(stage.calls("start")) == starts, "a running profile must not be started again"
    assert stage.calls("update-context") == [["--profile", "todo", "update-context"]]
    assert run.task_result("minikube : Read the state of the Minikube profile")["rc"] == 4
    assert "kubeconfig_misconfigured" not in stage.stub_state()["profiles"]["todo"]


def test_status_names_update_context_for_a_stale_kubeconfig_with_stub_minikube(tmp_path):
    state, env = stale_kubeconfig_env(tmp_path)
    run = run_playbook(ROOT / "playbooks" / "status.yml", env=env)
    assert run.returncode == 2, run.output[-3000:]
    assert "Minikube profile todo is not running (" not in run.stdout
    assert "Minikube profile todo is running, but its entry in" in run.stdout
    assert "Run `minikube -p todo update-context`" in run.stdout
    assert run.recap["changed"] == 0
    assert [c for c in json.loads(state.read_text())["calls"] if "update-context" in c] == []


TUNNEL_TASK = "minikube : Say that the Ingress will be reached through a tunnel"


def test_an_unroutable_minikube_ip_under_wsl2_asks_for_a_tunnel_with_stub_minikube(stage, tmp_path):
    """WSL2 (its kernel names itself in /proc/version) with the docker driver: `minikube ip` answers
    an address nothing here routes to (192.0.2.0/24, TEST-NET-1), as the real one does there."""
    if not stage.state.exists():
        assert stage.play("t1")[0].returncode == 0
    proc_version = tmp_path / "version"
    proc_version.write_text("Linux version 5.15.167.4-microsoft-standard-WSL2 (root@f9c826d3017f) (gcc (GCC) 11.2.0)\n")
    run, _ = stage.play(
        "t1", stub_env={"STUB_MINIKUBE_IP": "192.0.2.10"}, minikube_proc_version_file=str(proc_version)
    )
    message = run.task_result(TUNNEL_TASK)["msg"]
    assert "The Minikube IP 192.0.2.10 is not reachable from this machine (the docker driver under WSL2)." in message
    assert "keeps an SSH tunnel to it open in the background" in message
    # The stand-in has no `minikube service`: the tunnel cannot open, and the failure says so and
    # names the fallback (the tunnel itself is tested in test_ingress_tunnel.py / test_minikube_real.py).
    assert run.returncode == 2
    failure = run.task_result("minikube : Fail with what Minikube said when no tunnel came up")["msg"]
    assert "the tunnel to the ingress controller did not come up" in failure
    assert "minikube -p todo tunnel" in failure
    # The same profile on a kvm2 VM is reachable: only container drivers need the tunnel.
    state = stage.stub_state()
    state["profiles"]["todo"]["driver"] = "kvm2"
    stage.state.write_text(json.dumps(state))
    try:
        vm, vm_facts = stage.play("t1", minikube_proc_version_file=str(proc_version))
    finally:
        state["profiles"]["todo"]["driver"] = "docker"
        stage.state.write_text(json.dumps(state))
    assert vm.returncode == 0, vm.output[-4000:]
    assert vm_facts["minikube_needs_tunnel"] is False and vm_facts["minikube_ingress_address"] == "127.0.0.1"
    assert vm.task_result(TUNNEL_TASK).get("skipped")
