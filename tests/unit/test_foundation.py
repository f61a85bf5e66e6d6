"""The foundation scripts: pinned tool bootstrap, the deploy preflight, the tier summary."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


# What each tier needs before its own command runs, as `make -n` prints it on a fresh clone.
TIER_NEEDS = {
    "test-lint-python": ["-m venv"],
    "test-lint-yaml": ["-m venv"],
    "test-lint-ansible": ["-m venv"],
    "test-lint-helm": ["-m venv", "scripts/tools.py install"],
    "test-unit": ["-m venv", "scripts/tools.py install"],
    "test-backend": ["-m venv", "scripts/system-deps.sh", "scripts/pg-up.sh"],
    "test-frontend": ["-m venv", "npm ci"],
    "test-e2e": ["-m venv", "npm ci", "scripts/pg-up.sh"],
    "test-images": ["-m venv"],
    "test-docker": [
        "-m venv",
        "scripts/tools.py install",
        "tools.minikube install",  # the real minikube binary
        "scripts/system-deps.sh",
        "tools.docker ensure-daemon",
    ],
    "test-chart": ["-m venv", "scripts/tools.py install", "scripts/checkov.sh --install-only"],
    "test-minikube": [
        "-m venv",
        "scripts/tools.py install",
        "npm ci",  # the browser scenarios through the Ingress
        "tools.minikube offline",
        "scripts/system-deps.sh",
        "tools.docker ensure-daemon",
    ],
    "test-cluster": [
        "-m venv",
        "scripts/tools.py install",
        "tools.cluster build",
        "scripts/system-deps.sh",
        "tools.docker ensure-daemon",
    ],
}
LINTERS = (["ruff"], ["yamllint"], ["ansible-lint"], ["helm"])
# What the unit tier (and test-fast, lint + unit) must not need: Docker, root, the minikube binary.
UNIT_NEVER = ("tools.docker ensure-daemon", "scripts/system-deps.sh", "tools.minikube install")


def test_each_tier_target_installs_what_it_needs_on_a_fresh_clone(tmp_path: Path):
    """A fresh clone: no venv (VENV points at an empty directory) and no node_modules."""
    fresh = tmp_path / "clone"
    cloned = run(["git", "clone", "--quiet", "--local", "--depth", "1", f"file://{ROOT}", str(fresh)])
    assert cloned.returncode == 0, cloned.stderr
    (fresh / "Makefile").write_text((ROOT / "Makefile").read_text())  # this checkout's, committed or not
    for target, needs in TIER_NEEDS.items():
        plan = run(["make", "-n", "--no-print-directory", target, f"VENV={tmp_path / 'venv'}"], cwd=fresh)
        assert plan.returncode == 0, plan.stderr
        lines = plan.stdout.splitlines()
        # The tier's own command: pytest, vitest (npm test), or the linter it runs.
        main = max(
            i for i, line in enumerate(lines) if "pytest" in line or "npm test" in line or line.split()[:1] in LINTERS
        )
        for need in needs:
            first = next((i for i, line in enumerate(lines) if need in line), None)
            assert first is not None and first < main, f"{target} does not run `{need}` first:\n{plan.stdout}"


def test_unit_and_test_fast_need_no_docker_root_or_minikube():
    for target in ("test-unit", "test-fast"):
        plan = run(["make", "-n", "--no-print-directory", target], cwd=ROOT)
        assert plan.returncode == 0, plan.stderr
        for never in UNIT_NEVER:
            assert never not in plan.stdout, f"{target} runs `{never}`:\n{plan.stdout}"


def test_make_help_says_which_tiers_need_docker():
    listed = run(["make", "--no-print-directory", "help"], cwd=ROOT)
    lines = {line.split()[0]: line for line in listed.stdout.splitlines() if line.strip()}
    for target in ("test-fast", "test-unit"):
        assert "no Docker" in lines[target] and "no root" in lines[target], lines[target]
    assert "Docker" in lines["test-docker"] and "root" in lines["test-docker"], lines["test-docker"]
    assert "no Docker" not in lines["test-docker"], lines["test-docker"]


def test_the_unit_tier_refuses_docker():
    """tests/unit/conftest.py's guard: starting or finding dockerd fails at once, naming the tier."""
    from tools.docker import engine

    assert os.environ["DOCKER_HOST"].startswith("unix:///nonexistent/")
    with pytest.raises(engine.DockerError, match="TODO_NO_DOCKER: the unit tier runs without Docker"):
        engine.ensure_daemon()
