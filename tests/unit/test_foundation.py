"""The foundation scripts: pinned tool bootstrap, the deploy preflight, the tier summary."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, **kwargs)


def test_tools_install_gives_pinned_helm_and_kubectl_and_is_idempotent():
    env = {**os.environ, "TODO_TOOLS_PINNED": "1"}
    first = run([sys.executable, "scripts/tools.py", "install"], cwd=ROOT, env=env)
    assert first.returncode == 0, first.stderr
    again = run([sys.executable, "scripts/tools.py", "install"], cwd=ROOT, env=env)
    assert again.returncode == 0 and "downloading" not in again.stdout
    bindir = run([sys.executable, "scripts/tools.py", "bindir"], cwd=ROOT).stdout.strip()
    helm = run([f"{bindir}/helm", "version", "--short"])
    assert helm.stdout.startswith("v3.17.2"), helm.stdout
    kubectl = run([f"{bindir}/kubectl", "version", "--client"])
    assert "Client Version: v1.32." in kubectl.stdout


def test_make_deploy_without_minikube_fails_fast_naming_it(tmp_path: Path):
    # A PATH holding only what the preflight may find: no minikube on it.
    shims = tmp_path / "bin"
    shims.mkdir()
    for tool in ("bash", "make", "python3", "docker", "env", "grep", "awk"):
        found = shutil.which(tool)
        if found:
            (shims / tool).symlink_to(found)
    result = run(["make", "--no-print-directory", "deploy"], cwd=ROOT, env={"PATH": str(shims), "HOME": str(tmp_path)})
    assert result.returncode != 0
    assert "'minikube' not found on PATH" in result.stderr
    assert "https://minikube.sigs.k8s.io" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / ".cache").exists(), "preflight must fail before installing anything"


def stand_in_python(bin_dir: Path, version: str) -> None:
    """A stand-in for the user's interpreter: answers `--version` as CPython does, fails anything else."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "python3"
    script.write_text(f'#!/bin/sh\n[ "$1" = --version ] && echo "Python {version}" && exit 0\nexit 1\n')
    script.chmod(0o755)


def test_make_deploy_with_a_stand_in_python_3_10_stops_first_naming_the_fix(tmp_path: Path):
    stand_in_python(tmp_path / "bin", "3.10.12")
    venv = tmp_path / "venv"
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path)}
    result = run(["make", "--no-print-directory", "deploy", f"VENV={venv}"], cwd=ROOT, env=env)
    assert result.returncode != 0
    first = result.stderr.splitlines()[0]
    assert first.startswith("deploy: 'python3' is 3.10.12; Ansible (ansible-core 2.19) needs Python 3.11 or newer.")
    assert "`make deploy PYTHON=python3.11`" in first and "apt-get install python3.11 python3.11-venv" in first
    assert "minikube" not in result.stderr, "the Python check comes first and stops"
    assert not venv.exists(), "preflight must fail before pip runs"


def test_preflight_accepts_the_python_named_by_PYTHON(tmp_path: Path):
    stand_in_python(tmp_path / "bin", "3.10.12")
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}", "PYTHON": sys.executable}
    result = run(["bash", "scripts/preflight.sh"], cwd=ROOT, env=env)
    assert "Python 3.11 or newer" not in result.stderr, result.stderr


def test_tier_summary_counts_real_junit_and_fails_on_failures_or_empty_runs(tmp_path: Path):
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "test_sample.py").write_text(
        "import pytest\n"
        "def test_ok(): pass\n"
        "def test_bad(): assert 1 == 2\n"
        "@pytest.mark.skip(reason='demo')\n"
        "def test_skipped(): pass\n"
    )
    junit = tmp_path / "junit"
    run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(cases), f"--junitxml={junit}/tier.xml"])
    summary = run([sys.executable, str(ROOT / "scripts/junit_summary.py"), str(junit)])
    assert summary.returncode == 1
    assert summary.stdout.strip().splitlines()[-1] == "total: 1 passed, 1 failed, 1 skipped"

    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = run([sys.executable, str(ROOT / "scripts/junit_summary.py"), str(empty)])
    assert nothing.returncode == 1 and "no test ran" in nothing.stderr
