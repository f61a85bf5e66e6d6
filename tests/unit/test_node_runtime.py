"""tools/node_runtime.py: the host runs the frontend on the Node the image ships.

Real downloads and real binaries: the npm registry's tarballs (cached in $TODO_CACHE/downloads
after the first run, verified every time), the staged node and npm executed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ansible_run import ROOT
from tools import node_runtime


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty $TODO_CACHE that reuses the shared cache's verified tarballs (no second download
    of ~30 MB), so installing and linking start from nothing."""
    pinned = [node_runtime.npm_package(*package) for package in node_runtime.pinned_packages()]
    root = tmp_path / "cache"
    (root / "downloads").mkdir(parents=True)
    for tgz in pinned:
        try:
            os.link(tgz, root / "downloads" / tgz.name)
        except OSError:  # another filesystem
            shutil.copy(tgz, root / "downloads" / tgz.name)
    monkeypatch.setenv("TODO_CACHE", str(root))
    return root


def run(*argv: str | Path, env: dict[str, str] | None = None) -> str:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=True, env=env).stdout.strip()


def test_install_links_the_pinned_node_npm_and_npx_into_tools_bin(private_cache: Path) -> None:
    assert node_runtime.main(["install"]) == 0
    links = private_cache / "tools" / "bin"
    env = {**os.environ, "PATH": os.pathsep.join([str(links), "/usr/bin", "/bin"])}
    assert run(links / "node", "--version", env=env) == f"v{node_runtime.NODE_VERSION}"
    # npm's shebang is `env node`: with tools/bin first on PATH it runs on the pinned node too.
    assert run(links / "npm", "--version", env=env) == node_runtime.NPM_VERSION
    assert run(links / "npx", "--version", env=env) == node_runtime.NPM_VERSION
    assert run("sh", "-c", "npm exec -c 'node --version'", env=env) == f"v{node_runtime.NODE_VERSION}"
    # A second install reuses the runtime (same inode) and only re-points the links.
    inode = (node_runtime.home() / "bin" / "node").stat().st_ino
    assert node_runtime.main(["install"]) == 0
    assert (node_runtime.home() / "bin" / "node").stat().st_ino == inode


def test_an_interrupted_install_leaves_nothing_that_looks_installed(
    private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stage_then_fail(prefix: Path) -> None:
        (prefix / "bin").mkdir(parents=True)
        (prefix / "bin" / "node").write_text("#!/bin/sh\necho v0.0.0\n")
        (prefix / "bin" / "node").chmod(0o755)

    monkeypatch.setattr(node_runtime, "stage", stage_then_fail)
    expected = re.escape(f"says 'v0.0.0', expected v{node_runtime.NODE_VERSION}")
    with pytest.raises(node_runtime.NodeRuntimeError, match=expected):
        node_runtime.bin_dir()
    assert not node_runtime.home().exists()
    assert list((private_cache / "tools").iterdir()) == []  # no staging directory left behind


def test_a_tarball_that_does_not_match_its_pin_is_refused_and_deleted(private_cache: Path) -> None:
    wrong = node_runtime.NPM_INTEGRITY  # npm's hash, asked of another package
    with pytest.raises(node_runtime.NodeRuntimeError, match="does not match"):
        node_runtime.npm_package("is-number", "7.0.0", wrong)
    assert not (private_cache / "downloads" / "is-number-7.0.0.tgz").exists()


def test_a_machine_without_npm_downloads_straight_from_the_registry(
    private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no npm, no node
    is_number = "sha512-41Cifkg6e8TylSpdtTpeLVMqvSBEVzTttHvERD741+pnZ8ANv0004MRL43QKPDlK9cGvNp6NZWZUBlbGXYxxng=="  # pragma: allowlist secret  # noqa: E501
    tgz = node_runtime.npm_package("is-number", "7.0.0", is_number)
    assert tgz == private_cache / "downloads" / "is-number-7.0.0.tgz"
    node_runtime.extract_package(tgz, private_cache / "x", keep=("package.json",))
    assert json.loads((private_cache / "x" / "package.json").read_text())["version"] == "7.0.0"


def test_with_node_on_path_puts_the_pinned_node_first(private_cache: Path) -> None:
    env = node_runtime.with_node_on_path({"PATH": "/usr/bin:/bin"})
    assert env["PATH"].split(os.pathsep)[0] == str(node_runtime.home() / "bin")
    assert run("node", "--version", env=env) == f"v{node_runtime.NODE_VERSION}"


def test_the_frontend_declares_the_node_line_it_runs_on() -> None:
    major = node_runtime.NODE_VERSION.split(".")[0]
    package = json.loads((ROOT / "apps/frontend/package.json").read_text())
    assert package["engines"]["node"] == f">={major}"
    lock = json.loads((ROOT / "apps/frontend/package-lock.json").read_text())
    assert lock["packages"][""]["engines"]["node"] == f">={major}"
    # Type definitions of the same Node line, so typecheck sees the APIs the runtime has.
    assert package["devDependencies"]["@types/node"].split(".")[0] == major
