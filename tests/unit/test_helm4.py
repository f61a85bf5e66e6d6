"""Helm 4 (Homebrew's helm today) works: scripts/tools.py takes it, the prerequisites role
accepts it when Ansible loads kubernetes.core 6.5.0 (`make venv` puts it into .venv/collections)
and names the fix when it loads the `ansible` package's 6.2, kubernetes.core renders the chart
with it, and the release role's own helm call parses.

All with a real Helm 4 compiled from its Go module (tests/unit/helm4.py). No cluster here, so
the upgrade itself (kubernetes.core 6.5 passes --rollback-on-failure where 6.2 passed Helm 3's
--atomic, which Helm 4 no longer has) is not run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import helm4
import pytest
import yaml

from tests.ansible_run import ROOT, VENV_BIN, base_env, run_playbook

PLAYBOOK = ROOT / "tests" / "unit" / "playbooks" / "helm4.yml"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def helm4_bin(tmp_path_factory) -> Path:
    """A directory holding only the real Helm 4, as `helm`."""
    bin_dir = tmp_path_factory.mktemp("helm4") / "bin"
    bin_dir.mkdir()
    (bin_dir / "helm").symlink_to(helm4.binary())
    return bin_dir


def env_with(helm_dir: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    # An empty tool cache, so that the pinned Helm 3 from `make kube-clis` is not first on PATH.
    env = base_env(TODO_CACHE=str(tmp_path / "cache"), HOME=str(tmp_path), **extra)
    env["PATH"] = os.pathsep.join([str(helm_dir), str(VENV_BIN), "/usr/bin", "/bin"])
    return env


def closed_port_kubeconfig(tmp_path: Path) -> Path:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "none", "cluster": {"server": f"https://127.0.0.1:{port}", "insecure-skip-tls-verify": True}}
        ],
        "users": [{"name": "none", "user": {"token": "unit"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
        "current-context": "none",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_tools_py_uses_helm_4_as_it_is(helm4_bin, tmp_path):
    env = {**os.environ, "TODO_CACHE": str(tmp_path / "cache"), "PATH": f"{helm4_bin}{os.pathsep}/usr/bin:/bin"}
    tools = [sys.executable, str(ROOT / "scripts" / "tools.py")]
    check = subprocess.run([*tools, "check", "helm"], env=env, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == f"tools: helm: {helm4_bin / 'helm'}"
    install = subprocess.run([*tools, "install", "helm"], env=env, capture_output=True, text=True, check=False)
    assert install.returncode == 0, install.stderr
    assert f"using helm 4.0.1 already on PATH: {helm4_bin / 'helm'}" in install.stdout
    assert not (tmp_path / "cache" / "tools" / "bin" / "helm").exists(), "nothing pinned shadows it"


def test_the_prerequisites_accept_helm_4_with_kubernetes_core_6_5(helm4_bin, tmp_path):
    run = run_playbook(PLAYBOOK, "-e", "test_part=prerequisites", env=env_with(helm4_bin, tmp_path))
    assert run.returncode == 0, run.output[-3000:]
    assert "helm 4.0.1" in run.stdout


def test_the_prerequisites_name_the_fix_when_ansible_loads_kubernetes_core_6_2(helm4_bin, tmp_path):
    # Only the collections the `ansible` package bundles (kubernetes.core 6.2), as an Ansible that
    # does not read this repository's ansible.cfg collections_path would load.
    env = env_with(helm4_bin, tmp_path, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "no-collections"))
    run = run_playbook(PLAYBOOK, "-e", "test_part=prerequisites", env=env)
    assert run.returncode == 2, run.output[-3000:]
    assert (
        f"helm 4.0.1 ({helm4_bin / 'helm'}) is Helm 4, which needs kubernetes.core 6.5.0 or newer; this Ansible loads"
        " kubernetes.core 6.2.0. Run `make venv`"
    ) in run.stdout


def test_kubernetes_core_renders_the_chart_with_helm_4(helm4_bin, tmp_path):
    facts = tmp_path / "rendered.yaml"
    run = run_playbook(PLAYBOOK, "-e", "test_part=template", "-e", f"test_facts_file={facts}",
                       env=env_with(helm4_bin, tmp_path))  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    kinds = {doc["kind"] for doc in yaml.safe_load_all(facts.read_text()) if doc}
    assert {"Deployment", "Service", "Ingress", "ConfigMap"} <= kinds


def test_the_release_roles_own_helm_call_parses_under_helm_4(helm4_bin, tmp_path):
    """roles/release/tasks/pending.yml runs `helm rollback` itself; Helm 4 takes its flags (it
    gets as far as the cluster, a closed port here). The kubernetes.core.helm calls cannot be
    followed further without a cluster: helm checks the API server before anything else."""
    kubeconfig = closed_port_kubeconfig(tmp_path)
    argv = [str(helm4_bin / "helm"), "rollback", "todo", "2", "--namespace", "todo", "--wait", "--timeout", "10m",
            "--kubeconfig", str(kubeconfig), "--kube-context", "none"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "unknown flag" not in done.stderr and "invalid argument" not in done.stderr, done.stderr
    assert "connection refused" in done.stderr or "unreachable" in done.stderr, done.stderr
