"""The repository as the collection `todo.deploy` (galaxy.yml): `ansible-galaxy collection
build` makes a small artifact holding exactly the module, it installs into a collections
path, and a playbook run from outside the checkout calls the module by its FQCN against a
real HTTP server on 127.0.0.1 (the one the module's own tests use)."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, VENV_BIN, base_env
from test_todo_health_module import Server

SHIPPED = {
    "MANIFEST.json",
    "FILES.json",
    "meta/runtime.yml",
    "docs/collection.md",
    "CHANGELOG.md",
    "plugins/modules/todo_health.py",
}


def run(*cmd: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env or base_env(), capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    result = run(str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    path = out / f"{galaxy['namespace']}-{galaxy['name']}-{galaxy['version']}.tar.gz"
    assert path.is_file(), list(out.iterdir())
    return path


@pytest.fixture(scope="module")
def installed(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    collections = tmp_path_factory.mktemp("collections")
    # Only this path counts: a todo.deploy installed elsewhere (~/.ansible) must not make
    # ansible-galaxy report "already installed" and skip.
    result = run(
        str(VENV_BIN / "ansible-galaxy"),
        "collection",
        "install",
        str(artifact),
        "-p",
        str(collections),
        env=base_env(ANSIBLE_COLLECTIONS_PATH=str(collections)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return collections


def test_build_ships_exactly_the_module_and_is_small(artifact: Path) -> None:
    with tarfile.open(artifact) as tar:
        files = {member.name for member in tar.getmembers() if member.isfile()}
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    assert files == SHIPPED
    assert manifest["collection_info"]["namespace"] == "todo" and manifest["collection_info"]["name"] == "deploy"
    assert artifact.stat().st_size < 20_000, f"{artifact.stat().st_size} bytes: something unexpected was packed"


def test_install_into_a_collections_path(installed: Path) -> None:
    target = installed / "ansible_collections" / "todo" / "deploy"
    assert (target / "plugins" / "modules" / "todo_health.py").read_bytes() == (
        ROOT / "plugins" / "modules" / "todo_health.py"
    ).read_bytes()
    listed = run(
        str(VENV_BIN / "ansible-galaxy"),
        "collection",
        "list",
        "todo.deploy",
        "-p",
        str(installed),
        env=base_env(ANSIBLE_COLLECTIONS_PATH=str(installed)),
    )
    assert listed.returncode == 0 and "todo.deploy" in listed.stdout, listed.stdout + listed.stderr


def test_playbook_runs_the_module_by_fqcn_from_the_installed_collection(installed: Path, tmp_path: Path) -> None:
    server = Server()
    server.thread.start()
    try:
        playbook = tmp_path / "health.yml"
        playbook.write_text(
            yaml.safe_dump(
                [
                    {
                        "name": "Poll by FQCN",
                        "hosts": "localhost",
                        "gather_facts": False,
                        "tasks": [
                            {
                                "name": "Wait for the health endpoint",
                                "todo.deploy.todo_health": {
                                    "url": server.url("/flaky"),
                                    "expected_json": {"status": "ok"},
                                    "interval": 0.2,
                                    "wait_timeout": 10,
                                },
                                "register": "health",
                            },
                            {"name": "Show it", "ansible.builtin.debug": {"msg": "attempts={{ health.attempts }}"}},
                        ],
                    }
                ]
            )
        )
        # Outside the checkout, with no ansible.cfg: the repo's `library` path cannot help.
        (tmp_path / "ansible.cfg").write_text("[defaults]\n")
        env = base_env(
            ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"),
            ANSIBLE_COLLECTIONS_PATH=str(installed),
            ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
        )
        result = run(
            str(VENV_BIN / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={VENV_BIN / 'python'}",
            str(playbook),
            env=env,
            cwd=tmp_path,
        )
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "attempts=3" in result.stdout
    assert server.hits["/flaky"] == 3
