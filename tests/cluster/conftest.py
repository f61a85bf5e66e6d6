"""Fixtures for the cluster tier: a private local cluster per test module.

Each module gets its own run dir and port range, so it never touches a cluster a
developer (or molecule) started with the defaults.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools.cache import tools_bin
from tools.cluster import pins

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ANSIBLE_PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
SECRET_ENV_NAMES = ("DATABASE_URL", "AUTH_SECRET", "OPENAI_API_KEY")


@dataclass
class LocalCluster:
    env: dict[str, str]
    run_dir: Path
    kubeconfig: Path

    def cli(self, *args: str, check: bool = True, timeout: float = 3600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tools.cluster", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )


def tool(name: str) -> str:
    """Pinned tools from the cache (scripts/tools.py) win over whatever is on PATH."""
    cached = tools_bin() / name
    if cached.exists():
        return str(cached)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: run `make kube-clis` (scripts/tools.py install)")
    return found


def cluster_env(run_dir: Path, port_base: int) -> dict[str, str]:
    env = dict(os.environ)
    env["TODO_CLUSTER_DIR"] = str(run_dir)
    env["TODO_CLUSTER_PORT_BASE"] = str(port_base)
    # These clusters check the control plane and the playbooks' API calls: kwok nodes are
    # enough and start in seconds. Running pods are the Minikube tier's (tests/minikube).
    env["PATH"] = f"{pins.cache_root() / 'tools' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def start_cluster(run_dir: Path, port_base: int) -> LocalCluster:
    env = cluster_env(run_dir, port_base)
    cluster = LocalCluster(env=env, run_dir=run_dir, kubeconfig=run_dir / "kubeconfig")
    result = cluster.cli("up", check=False)
    if result.returncode != 0:
        cluster.cli("down", check=False)
        pytest.fail(f"`python -m tools.cluster up` failed:\n{result.stdout}\n{result.stderr}")
    cluster.env["KUBECONFIG"] = str(cluster.kubeconfig)
    return cluster


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    run_dir = tmp_path_factory.mktemp("cluster") / "run"
    cluster = start_cluster(run_dir, port_base=int(os.environ.get("TODO_TEST_CLUSTER_PORT_BASE", "16543")))
    yield cluster
    cluster.cli("down", check=False)


def playbook_env(
    cluster: LocalCluster, *, path: str | None = None, first_on_path: Sequence[Path] = (), **extra: str
) -> dict[str, str]:
    """What `make deploy` gives ansible-playbook, aimed at this cluster: the repo's ansible.cfg,
    plain output, the pinned helm and the venv first on PATH (or exactly `path`), and no secret
    from the developer's shell: each test passes the ones it means in `extra`."""
    env = {k: v for k, v in cluster.env.items() if k not in SECRET_ENV_NAMES}
    if path is None:
        path = os.pathsep.join(
            [*map(str, first_on_path), str(Path(tool("helm")).parent), str(ANSIBLE_PLAYBOOK.parent), env["PATH"]]
        )
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PATH=path)
    env.update(extra)
    return env


def playbook_argv(playbook: str | Path, *args: str, inventory: Path | None = None) -> list[str]:
    return [str(ANSIBLE_PLAYBOOK), *(["-i", str(inventory)] if inventory else []), str(playbook), *args]


def run_playbook(
    env: dict[str, str], playbook: str | Path, *args: str, inventory: Path | None = None, timeout: float = 900
) -> subprocess.CompletedProcess:
    argv = playbook_argv(playbook, *args, inventory=inventory)
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def write_kwok_inventory(path: Path, kubeconfig: Path, namespace: str, release: str, image_tag: str) -> None:
    """The switches of a deploy onto kwok nodes: no Minikube, no image builds (nothing runs the
    images), nothing to poll through an Ingress; another release and namespace when asked."""
    inventory = {
        "all": {
            "hosts": {
                "localhost": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                }
            },
            "vars": {
                "todo_manage_minikube": False,
                "todo_build_images": False,
                "todo_image_tag": image_tag,
                "todo_verify_through_ingress": False,
                "todo_kubeconfig": str(kubeconfig),
                "todo_namespace": namespace,
                "todo_release": release,
            },
        }
    }
    path.write_text(json.dumps(inventory))  # JSON is YAML
