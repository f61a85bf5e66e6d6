"""The minikube role and the tunnel helper against the real minikube binary (the pinned build in
$TODO_CACHE/tools/bin, else the first on PATH), each test with its own MINIKUBE_HOME and
kubeconfig. No cluster runs here: what is tested is what minikube says about profiles that do
not exist or whose node is gone (`minikube profile list`, `status`, `service --url`).

A saved profile is the config.json minikube keeps in $MINIKUBE_HOME/profiles/<name>/; a
containerd one is what `minikube start --container-runtime containerd` leaves.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ansible_run import ROOT, base_env, run_playbook, tools_bin

PLAYBOOK = ROOT / "tests" / "docker" / "playbooks" / "minikube_profile.yml"
TUNNEL = ROOT / "roles" / "minikube" / "files" / "ingress_tunnel.py"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def real_minikube() -> Path:
    path = shutil.which("minikube", path=os.pathsep.join([str(tools_bin()), os.environ.get("PATH", "")]))
    assert path, f"the real minikube is needed in {tools_bin()} (or on PATH)"
    said = subprocess.run([path, "version", "--short"], capture_output=True, text=True, check=False)
    assert said.returncode == 0 and said.stdout.startswith("v1."), f"{path} is not minikube: {said.stdout}{said.stderr}"
    return Path(path)


@pytest.fixture(scope="module")
def docker_daemon() -> None:
    """minikube asks Docker for the docker driver's containers."""
    from tools.docker import engine

    engine.ensure_daemon()


def save_profile(home: Path, name: str, runtime: str, cpus: int = 2, memory: int = 4096) -> None:
    kubernetes = {"KubernetesVersion": "v1.32.13", "ClusterName": name, "ContainerRuntime": runtime}
    node = {"Name": "", "IP": "192.168.49.2", "Port": 8443, "KubernetesVersion": "v1.32.13",
            "ContainerRuntime": runtime, "ControlPlane": True, "Worker": True}  # fmt: skip
    config = {"Name": name, "Driver": "docker", "Memory": memory, "CPUs": cpus, "KubernetesConfig": kubernetes,
              "Nodes": [node]}  # fmt: skip
    profile = home / ".minikube" / "profiles" / name
    profile.mkdir(parents=True)
    (profile / "config.json").write_text(json.dumps(config))


class World:
    def __init__(self, root: Path, minikube: Path) -> None:
        self.root, self.home, self.kubeconfig = root, root / "home", root / "kubeconfig"
        self.home.mkdir()
        self.bin = root / "bin"
        self.bin.mkdir()
        (self.bin / "minikube").symlink_to(minikube)

    def env(self) -> dict[str, str]:
        env = base_env(MINIKUBE_HOME=str(self.home), KUBECONFIG=str(self.kubeconfig), HOME=str(self.root),
                       MINIKUBE_IN_STYLE="false")  # fmt: skip
        env["PATH"] = os.pathsep.join([str(self.bin), env["PATH"]])
        return env

    def play(self, entry: str, *args: str, **variables):
        facts = self.root / f"facts-{entry}.json"
        data = {
            "test_entry": entry,
            "test_kubeconfig": str(self.kubeconfig),
            "test_facts_file": str(facts),
            **variables,
        }
        vars_file = self.root / "vars.json"
        vars_file.write_text(json.dumps(data))
        run = run_playbook(PLAYBOOK, "-e", f"@{vars_file}", *args, env=self.env())
        return run, json.loads(facts.read_text()) if facts.exists() else None


@pytest.fixture
def world(tmp_path, real_minikube, docker_daemon) -> World:
    return World(tmp_path, real_minikube)


def test_no_profile_reads_as_no_configuration(world):
    run, facts = world.play("profile")
    assert run.returncode == 0, run.output[-3000:]
    assert facts["minikube_profile_config"] == {}


def test_a_containerd_profile_is_refused_before_anything_slow(world):
    save_profile(world.home, "todo", "containerd")
    run, facts = world.play("profile")
    assert run.returncode == 2, run.output[-3000:]
    assert facts is None
    assert "Minikube profile todo runs the containerd container runtime, but the deploy builds the images" in run.stdout
    assert "`minikube delete -p todo`" in run.stdout and "-e todo_minikube_profile=todo-docker" in run.stdout


def test_a_containerd_profile_is_fine_when_nothing_is_built(world):
    save_profile(world.home, "todo", "containerd")
    run, facts = world.play("profile", test_build_images=False)
    assert run.returncode == 0, run.output[-3000:]
    assert facts["minikube_profile_config"]["KubernetesConfig"]["ContainerRuntime"] == "containerd"


def test_a_saved_profile_is_started_as_it_is_never_resized(world):
    """The whole role in check mode up to `minikube start`: a saved profile (its node gone, as
    after `docker rm`) keeps its size; no sizing, and the message says so."""
    save_profile(world.home, "todo", "docker", cpus=3, memory=5000)
    run, facts = world.play("main", "--check")
    assert run.returncode == 0, run.output[-3000:]
    assert facts["minikube_profile_config"]["Memory"] == 5000
    said = " ".join(run.stdout.split())  # the callback wraps long messages
    assert "Profile todo exists with 3 CPUs and 5000 MiB and 1 node(s); it is started as it is" in said
    assert "will be created with" not in run.stdout


# The real minikube answers `status` for an unknown profile with JSON event lines, which
# tasks/status.yml cannot read yet; issue 19 (real Minikube) fixes that file. Strict: once it is
# fixed this passes, and the marker must go.
def test_a_new_profile_is_sized_in_check_mode(world):
    run, _ = world.play("main", "--check")
    assert run.returncode == 0, run.output[-3000:]
    assert "will be created with" in run.stdout or "Minikube out of resources" in run.stdout
    assert "Check mode: profile todo is not running" in run.stdout


def test_the_tunnel_helper_reports_what_minikube_says_without_a_profile(world):
    state = world.root / "state"
    argv = [sys.executable, str(TUNNEL), "start", "--profile", "todo", "--state-dir", str(state), "--timeout", "120"]
    done = subprocess.run(argv, capture_output=True, text=True, env=world.env(), check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    error = json.loads(done.stdout)["error"]
    assert error.startswith("`minikube -p todo service ingress-nginx-controller -n ingress-nginx --url` exited ")
    assert "todo" in error.split(":", 1)[1]
    assert not (state / "todo.json").exists()
