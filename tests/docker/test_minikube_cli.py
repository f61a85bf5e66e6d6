"""The roles against the real `minikube` binary (compiled from its Go module: `make minikube`)
and the real Docker daemon, where no cluster is needed: no profile at all, check mode, refusals.
What needs neither (the offline record, the message when minikube is missing) is the unit
tier's, in tests/unit/test_minikube_role.py.

Each test has its own MINIKUBE_HOME, so it sees no profile but the ones it makes and never
touches a developer's ~/.minikube. What needs a running profile (start, addons, docker-env,
a stopped profile, a stale kubeconfig, delete) is in tests/minikube, on a real cluster.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ansible_run import ROOT, base_env, run_playbook
from tools.cluster.pins import MINIKUBE_VERSION

pytestmark = pytest.mark.slow

ROLES_PLAYBOOK = ROOT / "tests" / "docker" / "playbooks" / "minikube_roles.yml"


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
