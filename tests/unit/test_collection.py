"""The repository as the collection `todo.deploy` (galaxy.yml): `ansible-galaxy collection
build` makes an artifact holding the repository's Ansible content (roles, playbooks, the
module, its docs and meta) and nothing else, it installs into a clean collections path, the
playbooks pass a syntax check by their FQCN there, and a playbook run from outside the
checkout calls the module by its FQCN against a real HTTP server on 127.0.0.1 (the one the
module's own tests use)."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml
from test_todo_health_module import Server

from tests.ansible_run import ROOT, VENV_BIN, base_env

# Outside roles/ and playbooks/, exactly these; inside them, the tracked Ansible content.
SHIPPED = {
    "MANIFEST.json",
    "FILES.json",
    "meta/runtime.yml",
    "docs/collection.md",
    "CHANGELOG.md",
    "plugins/modules/todo_health.py",
}
CONTENT_DIRS = ("roles/", "playbooks/")
CONTENT_SUFFIXES = (".yml", ".md", ".py")


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


def test_build_ships_the_ansible_content_and_nothing_else(artifact: Path) -> None:
    with tarfile.open(artifact) as tar:
        files = {member.name for member in tar.getmembers() if member.isfile()}
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    content = {name for name in files if name.startswith(CONTENT_DIRS)}
    assert files - content == SHIPPED
    # Nothing but tasks, vars, docs and the role's own files (no caches, no bytecode) ...
    assert all(name.endswith(CONTENT_SUFFIXES) and "__pycache__" not in name for name in content), sorted(content)
    # ... and every tracked file of the roles and playbooks (what the checkout deploys with).
    tracked = run("git", "ls-files", *CONTENT_DIRS).stdout.split()
    assert content >= set(tracked), sorted(set(tracked) - content)
    assert manifest["collection_info"]["namespace"] == "todo" and manifest["collection_info"]["name"] == "deploy"
    assert artifact.stat().st_size < 150_000, f"{artifact.stat().st_size} bytes: something unexpected was packed"


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


def _outside_the_checkout(tmp_path: Path, installed: Path) -> dict[str, str]:
    """The environment of a run in tmp_path with no ansible.cfg: the repo's `library` and
    `roles_path` cannot help, only the installed collection can."""
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    return base_env(
        ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(installed),
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
    )


@pytest.mark.parametrize("playbook", ["deploy_dev", "status", "teardown"])
def test_the_installed_playbooks_parse_by_fqcn(installed: Path, tmp_path: Path, playbook: str) -> None:
    # Their roles are found in the collection too: the syntax check loads every role's tasks.
    fqcn = f"todo.deploy.{playbook}"
    env = _outside_the_checkout(tmp_path, installed)
    result = run(str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "--syntax-check", fqcn, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert str(installed / "ansible_collections/todo/deploy/playbooks") in result.stdout


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
        env = _outside_the_checkout(tmp_path, installed)
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
