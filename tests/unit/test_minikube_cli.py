"""The roles against the real `minikube` binary (compiled from its Go module: `make minikube`),
where no cluster is needed: no profile at all, the offline record, check mode, refusals.

Each test has its own MINIKUBE_HOME, so it sees no profile but the ones it makes and never
touches a developer's ~/.minikube. What needs a running profile (start, addons, docker-env,
a stopped profile, a stale kubeconfig, delete) is in tests/minikube, on a real cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, base_env, run_playbook

from tools.cluster.pins import KUBERNETES_VERSION, MINIKUBE_VERSION

pytestmark = pytest.mark.slow

ROLES_PLAYBOOK = ROOT / "tests" / "unit" / "playbooks" / "minikube_roles.yml"


@pytest.fixture(scope="module")
def minikube() -> str:
    found = shutil.which("minikube", path=base_env()["PATH"])
    assert found, "a real minikube is needed on PATH (make minikube)"
    return found


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment with an empty Minikube home and kubeconfig of its own."""
    return base_env(
        MINIKUBE_HOME=str(tmp_path / "minikube-home"),
        KUBECONFIG=str(tmp_path / "kubeconfig"),
        MINIKUBE_WANTUPDATENOTIFICATION="false",
    )


def test_the_minikube_on_path_is_a_real_release_build(minikube, home):
    out = subprocess.run([minikube, "version", "-o", "json"], env=home, capture_output=True, text=True, check=True)
    version = json.loads(out.stdout)
    if Path(minikube).resolve().parent.name == MINIKUBE_VERSION:  # ours, not a developer's own
        assert version["minikubeVersion"] == MINIKUBE_VERSION
        assert len(version["commit"]) == 40, version


def test_real_minikube_answers_status_of_a_missing_profile_with_event_lines(minikube, home):
    """The fact the status tasks are built on: no status document, exit 85 (not found)."""
    out = subprocess.run(
        [minikube, "-p", "todo", "status", "-o", "json"], env=home, capture_output=True, text=True, check=False
    )
    assert out.returncode == 85, out
    documents = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert len(documents) >= 2, out.stdout
    assert documents[0]["specversion"] == "1.0" and "Host" not in documents[0]
    assert 'Profile "todo" not found' in documents[0]["data"]["message"]


def test_status_of_a_fresh_laptop_says_not_running_with_real_minikube(home):
    """`make status` before the first deploy: the issue's from_json crash, now a clear answer."""
    run = run_playbook(ROOT / "playbooks" / "status.yml", env=home)
    assert run.returncode == 2, run.output[-3000:]
    assert "Extra data" not in run.output and "from_json" not in run.output
    assert 'Minikube profile todo is not running (Profile "todo" not found.' in run.stdout
    assert "Deploy with `make deploy`." in run.stdout
    assert run.recap["changed"] == 0


def test_teardown_of_a_fresh_laptop_changes_nothing_with_real_minikube(home):
    run = run_playbook(ROOT / "playbooks" / "teardown.yml", "-e", "todo_teardown_minikube=true", env=home)
    assert run.returncode == 0, run.output[-3000:]
    assert "Minikube profile todo is not running, so there is no release to remove." in run.stdout
    assert run.recap["changed"] == 0


def test_check_mode_on_a_fresh_laptop_starts_nothing_with_real_minikube(home, minikube):
    run = run_playbook(ROLES_PLAYBOOK, "--check", env=home)
    assert run.returncode == 0, run.output[-4000:]
    assert "Check mode: profile todo is not running; a real run would start it" in run.stdout
    profiles = subprocess.run(
        [minikube, "profile", "list", "-o", "json"], env=home, capture_output=True, text=True, check=False
    )
    assert json.loads(profiles.stdout.splitlines()[-1]).get("valid", []) in ([], None), profiles.stdout


def test_too_few_resources_fail_before_starting_with_real_minikube(home):
    run = run_playbook(ROLES_PLAYBOOK, "-e", "minikube_profile=toosmall", "-e", "minikube_cpus=512", env=home)
    assert run.returncode != 0
    # The default callback wraps long messages: compare with single spaces.
    output = " ".join(run.stdout.split())
    assert "Minikube out of resources: profile toosmall asks for 512 CPUs" in output
    assert "Or lower minikube_cpus / minikube_memory_mb" in output
    assert not (Path(home["MINIKUBE_HOME"]) / ".minikube" / "profiles" / "toosmall").exists()


@pytest.mark.parametrize(
    ("minikube_home", "expected"),
    [
        ("{tmp}/mk", "{tmp}/mk/.minikube"),
        ("{tmp}/mk/.minikube", "{tmp}/mk/.minikube"),
        ("{tmp}/mk/.minikube/", "{tmp}/mk/.minikube"),
        ("", "{home}/.minikube"),
    ],
)
def test_the_offline_record_is_read_where_minikube_keeps_its_home(tmp_path, minikube_home, expected):
    """The role finds the record in Minikube's home as minikube itself resolves MINIKUBE_HOME
    (tools/minikube/paths.py says the same; both are checked against one table)."""
    from tools.minikube import paths

    fake_home = tmp_path / "user"
    mini = Path(expected.format(tmp=tmp_path, home=fake_home))
    mini.mkdir(parents=True)
    record = {"start_args": ["--base-image=example/kic:1", "--preload=false"], "addon_args": {}, "env": {}}
    (mini / paths.RECORD).write_text(json.dumps(record))
    env = base_env(MINIKUBE_HOME=minikube_home.format(tmp=tmp_path), HOME=str(fake_home))
    if not minikube_home:
        env.pop("MINIKUBE_HOME")
    assert paths.record_path(env) == mini / paths.RECORD
    run = run_playbook(ROOT / "tests" / "unit" / "playbooks" / "minikube_offline.yml", env=env, json_output=True)
    assert run.returncode == 0, run.output[-3000:]
    facts = run.task_result("Show what the role read")["msg"]
    assert facts["record"] == str(mini / paths.RECORD)
    assert facts["offline"]["start_args"] == record["start_args"]
    assert "Offline preparation found" in json.dumps(run.json())


def test_without_a_record_nothing_is_added(tmp_path):
    env = base_env(MINIKUBE_HOME=str(tmp_path / "empty"))
    run = run_playbook(ROOT / "tests" / "unit" / "playbooks" / "minikube_offline.yml", env=env, json_output=True)
    assert run.returncode == 0, run.output[-3000:]
    assert run.task_result("Show what the role read")["msg"]["offline"] == {}


def test_the_role_starts_the_pinned_kubernetes_by_default():
    import yaml

    defaults = yaml.safe_load((ROOT / "roles" / "minikube" / "defaults" / "main.yml").read_text())
    assert defaults["minikube_kubernetes_version"] == KUBERNETES_VERSION


def test_the_missing_minikube_message_names_how_to_get_one(tmp_path):
    """deploy-dev.yml as `make deploy` runs it, on a PATH without minikube (nor helm/kubectl)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = shutil.which("docker")
    assert docker
    (bin_dir / "docker").symlink_to(docker)
    env = base_env(TODO_CACHE=str(tmp_path / "cache"), HOME=str(tmp_path))
    env["PATH"] = os.pathsep.join([str(bin_dir), str(Path(env["PATH"].split(os.pathsep)[1])), "/usr/bin", "/bin"])
    if shutil.which("minikube", path=env["PATH"]):
        pytest.skip("a minikube is installed in /usr/bin or /bin")
    run = run_playbook(ROOT / "playbooks" / "deploy-dev.yml", "-e", "todo_image_tag=unit", env=env)
    assert run.returncode == 2, run.output[-3000:]
    assert "minikube is not installed (not found on PATH)." in run.stdout
    assert "todo_manage_minikube=false" in run.stdout
    assert run.recap["changed"] == 0
