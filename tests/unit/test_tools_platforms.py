"""scripts/tools.py: which helm and kubectl a machine gets, by OS, CPU and the versions it has.

The decision table needs no network and no binaries (decide() is pure); probe() runs real
executables: the pinned helm from the cache, and a file the kernel refuses to execute.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest
import yaml

from tests.ansible_run import ROOT

spec = importlib.util.spec_from_file_location("tools_script", ROOT / "scripts" / "tools.py")
tools = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = tools  # dataclasses look their module up there
spec.loader.exec_module(tools)

LINUX_X64 = tools.this_platform("Linux", "x86_64")
WSL2 = tools.this_platform("Linux", "x86_64")  # WSL2 is Linux to Python and runs Linux binaries
LINUX_ARM = tools.this_platform("Linux", "aarch64")
MAC_ARM = tools.this_platform("Darwin", "arm64")
MAC_INTEL = tools.this_platform("Darwin", "x86_64")
WINDOWS = tools.this_platform("Windows", "AMD64")


def found(version: str | None, path: str = "/usr/local/bin/tool", error: str = "") -> tools.Found:
    parsed = tuple(int(part) for part in version.split(".")) if version else None
    return tools.Found(path, parsed, error)


EXEC_FORMAT = "Exec format error: built for another OS or CPU"

TABLE = [
    # (tool, platform, what is on PATH, action, words the message must contain)
    ("helm", LINUX_X64, found("3.17.2"), "theirs", ["using helm 3.17.2"]),
    ("helm", LINUX_X64, found("3.14.0"), "theirs", ["using helm 3.14.0"]),
    ("helm", LINUX_X64, found("3.13.3"), "pinned", ["older than 3.14", "pinned helm v3.17.2"]),
    ("helm", LINUX_X64, found("4.0.1"), "theirs", ["using helm 4.0.1"]),
    ("helm", LINUX_X64, found("5.0.0"), "pinned", ["is Helm 5", "knows Helm 3 and Helm 4 only", "pinned helm"]),
    ("helm", LINUX_X64, None, "pinned", ["helm is not on PATH", "pinned helm v3.17.2"]),
    ("helm", WSL2, found("4.1.0"), "theirs", ["using helm 4.1.0"]),
    ("helm", MAC_ARM, found("3.19.0"), "theirs", ["using helm 3.19.0"]),
    # Homebrew's helm on an M-series Mac is Helm 4: used as it is.
    (
        "helm",
        MAC_ARM,
        found("4.0.1", "/opt/homebrew/bin/helm"),
        "theirs",
        ["using helm 4.0.1", "/opt/homebrew/bin/helm"],
    ),
    ("helm", MAC_ARM, found("3.13.0"), "yours", ["older than 3.14", "`brew install helm` (Helm 4)", "darwin-arm64"]),
    (
        "helm",
        MAC_ARM,
        None,
        "yours",
        ["No pinned helm for darwin/arm64", "`brew install helm` (Helm 4)", "helm-v3.17.2-darwin-arm64.tar.gz"],
    ),
    ("helm", MAC_INTEL, found(None, error=EXEC_FORMAT), "yours", [EXEC_FORMAT, "helm-v3.17.2-darwin-amd64.tar.gz"]),
    ("helm", LINUX_ARM, None, "yours", ["No pinned helm for linux/arm64", "helm-v3.17.2-linux-arm64.tar.gz"]),
    ("helm", LINUX_ARM, found(None, error=EXEC_FORMAT), "yours", [EXEC_FORMAT, "linux-arm64"]),
    ("helm", WINDOWS, None, "yours", ["helm-v3.17.2-windows-amd64.zip"]),
    ("kubectl", LINUX_X64, found("1.32.4"), "theirs", ["using kubectl 1.32.4"]),
    ("kubectl", LINUX_X64, found("1.31.0"), "theirs", ["using kubectl 1.31.0"]),
    ("kubectl", LINUX_X64, found("1.34.1"), "pinned", ["outside 1.31-1.33", "pinned kubectl v1.32.3"]),
    ("kubectl", LINUX_X64, None, "pinned", ["kubectl is not on PATH"]),
    ("kubectl", MAC_ARM, found("1.33.2"), "theirs", ["using kubectl 1.33.2"]),
    (
        "kubectl",
        MAC_ARM,
        found("1.34.1"),
        "yours",
        ["outside 1.31-1.33", "https://dl.k8s.io/release/v1.32.3/bin/darwin/arm64/kubectl"],
    ),
    ("kubectl", LINUX_ARM, None, "yours", ["https://dl.k8s.io/release/v1.32.3/bin/linux/arm64/kubectl"]),
    ("kubectl", WINDOWS, found("1.30.0"), "yours", ["https://dl.k8s.io/release/v1.32.3/bin/windows/amd64/kubectl.exe"]),
]


@pytest.mark.parametrize(
    ("tool", "plat", "on_path", "action", "words"),
    TABLE,
    ids=[f"{t}-{'/'.join(p)}-{f.version if f else 'none'}-{a}" for t, p, f, a, _ in TABLE],
)
def test_tools_decision_table(tool, plat, on_path, action, words):
    decision = tools.decide(tool, plat, on_path)
    assert decision.action == action, decision.message
    for word in words:
        assert word in decision.message


@pytest.mark.parametrize(("system", "machine"), [("Linux", "x86_64"), ("Darwin", "arm64"), ("Linux", "aarch64")])
def test_pinned_asks_for_ours_only_where_ours_can_run(system, machine):
    decision = tools.decide("helm", tools.this_platform(system, machine), found("3.17.2"), pinned=True)
    assert decision.action == ("pinned" if (system, machine) == ("Linux", "x86_64") else "yours")


def test_probe_reads_the_version_of_the_real_pinned_helm():
    helm = tools.bin_dir() / "helm"
    if not helm.exists():
        pytest.skip("no pinned helm in the cache (make kube-clis)")
    result = tools.probe("helm", str(helm))
    assert result.version is not None and result.version[0] == 3, result


def test_probe_names_a_binary_for_another_platform(tmp_path):
    # The kernel refuses this ELF header for any CPU (e_machine 0xffff) with ENOEXEC, as it
    # refuses a macOS binary here or a Linux x86-64 one on a Mac.
    foreign = tmp_path / "helm"
    foreign.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x02\x00\xff\xff" + bytes(48))
    foreign.chmod(0o755)
    result = tools.probe("helm", str(foreign))
    assert result.version is None
    assert result.error == "Exec format error: built for another OS or CPU"
    assert "make setup" not in tools.problem_with("helm", result)


def test_check_for_deploy_needs_no_kubectl(tmp_path):
    """`make deploy` runs `tools.py install helm`: a PATH without kubectl is fine for it."""
    helm = tools.bin_dir() / "helm"
    if not helm.exists():
        pytest.skip("no pinned helm in the cache (make kube-clis)")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "helm").symlink_to(helm)
    env = {**os.environ, "TODO_CACHE": str(tmp_path / "cache"), "PATH": str(tmp_path / "bin")}
    argv = [sys.executable, str(ROOT / "scripts" / "tools.py"), "check"]
    deploy = subprocess.run([*argv, "helm"], env=env, capture_output=True, text=True, check=False)
    assert deploy.returncode == 0, deploy.stderr
    both = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert both.returncode == 1
    assert "kubectl is not on PATH; run `make kube-clis`" in both.stderr


def _commands(node):
    """Every argv/cmd/_raw_params of every task in a parsed YAML tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("argv", "cmd", "_raw_params") or key.endswith((".command", ".shell")):
                yield value
            yield from _commands(value)
    elif isinstance(node, list):
        for item in node:
            yield from _commands(item)


def test_deploy_runs_no_kubectl_so_does_not_require_it():
    files = [*ROOT.glob("roles/*/tasks/*.yml"), *ROOT.glob("playbooks/**/*.yml")]
    runs_kubectl = [
        str(path.relative_to(ROOT))
        for path in files
        for command in _commands(yaml.safe_load(path.read_text()))
        if str(command).lstrip("[' ").startswith("kubectl")
    ]
    assert runs_kubectl == [], "a task runs kubectl: require it (prerequisites_need_kubectl) and install it for deploy"
    defaults = yaml.safe_load((ROOT / "roles/prerequisites/defaults/main.yml").read_text())
    assert defaults["prerequisites_need_kubectl"] is False
    makefile = (ROOT / "Makefile").read_text()
    assert "deploy: preflight venv deploy-tools" in makefile
    assert "scripts/tools.py install helm\n" in makefile
