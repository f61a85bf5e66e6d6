"""The minikube role where no minikube binary and no Docker are needed: the offline record read
where minikube keeps its home, the pinned Kubernetes, and the message when minikube is missing.
The role against the real binary is the docker tier's (tests/docker/test_minikube_cli.py).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.ansible_run import ROOT, base_env, run_playbook
from tools.cluster.pins import KUBERNETES_VERSION


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


@pytest.mark.parametrize(
    ("ingress", "metrics_server", "expected"),
    [
        (True, False, ["base/python:1", "ingress/controller:1", "ingress/certgen:1"]),
        (True, True, ["base/python:1", "ingress/controller:1", "ingress/certgen:1", "todo-minikube/metrics:1"]),
        (False, True, ["base/python:1", "todo-minikube/metrics:1"]),
        (False, False, ["base/python:1"]),
    ],
)
def test_an_addons_images_are_loaded_only_when_the_deploy_enables_it(tmp_path, ingress, metrics_server, expected):
    from tools.minikube import paths

    mini = tmp_path / ".minikube"
    mini.mkdir()
    record = {
        "start_args": [],
        "addon_args": {"metrics-server": ["--images=MetricsServer=todo-minikube/metrics:1"]},
        "node_images": ["base/python:1"],
        "addon_images": {
            "ingress": ["ingress/controller:1", "ingress/certgen:1"],
            "metrics-server": ["todo-minikube/metrics:1"],
        },
    }
    (mini / paths.RECORD).write_text(json.dumps(record))
    run = run_playbook(
        ROOT / "tests" / "unit" / "playbooks" / "minikube_offline.yml",
        "-e", json.dumps({"minikube_enable_ingress": ingress, "minikube_enable_metrics_server": metrics_server}),
        env=base_env(MINIKUBE_HOME=str(mini)), json_output=True,
    )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    assert run.task_result("Show what the role read")["msg"]["images"] == expected


def test_autoscaling_without_metrics_server_in_the_record_fails_naming_the_make_target(tmp_path):
    """An offline preparation made without --with-metrics-server: the deploy stops at once."""
    from tools.minikube import paths

    mini = tmp_path / ".minikube"
    mini.mkdir()
    record = {"start_args": [], "addon_args": {"ingress": ["--images=x"]}, "addon_images": {}}
    (mini / paths.RECORD).write_text(json.dumps(record))
    run = run_playbook(
        ROOT / "tests" / "unit" / "playbooks" / "minikube_offline.yml",
        "-e", json.dumps({"minikube_enable_metrics_server": True}),
        env=base_env(MINIKUBE_HOME=str(mini)),
    )  # fmt: skip
    assert run.returncode == 2, run.output[-3000:]
    assert "make minikube-offline-autoscaling" in run.stdout
    assert run.recap["changed"] == 0


def test_the_role_starts_the_pinned_kubernetes_by_default():
    import yaml

    defaults = yaml.safe_load((ROOT / "roles" / "minikube" / "defaults" / "main.yml").read_text())
    assert defaults["minikube_kubernetes_version"] == KUBERNETES_VERSION


def test_the_missing_minikube_message_names_how_to_get_one(tmp_path):
    """deploy-dev.yml as `make deploy` runs it, on a PATH without minikube (nor helm/kubectl; a
    docker CLI only if /usr/bin has one: its daemon is not needed for this message)."""
    env = base_env(TODO_CACHE=str(tmp_path / "cache"), HOME=str(tmp_path))
    env["PATH"] = os.pathsep.join([str(Path(env["PATH"].split(os.pathsep)[1])), "/usr/bin", "/bin"])
    if shutil.which("minikube", path=env["PATH"]):
        pytest.skip("a minikube is installed in /usr/bin or /bin")
    run = run_playbook(ROOT / "playbooks" / "deploy-dev.yml", "-e", "todo_image_tag=unit", env=env)
    assert run.returncode == 2, run.output[-3000:]
    assert "minikube is not installed (not found on PATH)." in run.stdout
    assert "todo_manage_minikube=false" in run.stdout
    assert run.recap["changed"] == 0
