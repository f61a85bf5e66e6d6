"""The app deployed on a real Minikube profile the way a user deploys it, for the Minikube
tier's tests and the benches: `ansible-playbook` of the repo's own playbooks with the user's
inventory (ansible.cfg's), a few switches over it, the Neon-like database on the profile
network's gateway, and nothing from the caller's shell that the user would not have.

    with ProfileApp("todo-app", work_dir, ingress_port=free_port()) as app:
        app.deploy(...)            # deploy-dev.yml, as `make deploy` runs it
        app.kubectl("get", "pods")
    # teardown.yml with the profile, and the database stopped

Needs make minikube-offline first on a machine without registries.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import yaml

from tools.cache import tools_bin
from tools.cluster import pins
from tools.docker import engine
from tools.minikube import database
from tools.minikube.nodes import node_containers
from tools.tcp_relay import TcpRelay

REPO = Path(__file__).resolve().parents[2]
SECRET_ENV_NAMES = ("DATABASE_URL", "AUTH_SECRET", "OPENAI_API_KEY")
# molecule's create step: the profile up with the ingress addon (the roles deploy-dev.yml runs
# first), so the database can listen on its network's gateway before the first deploy.
CREATE = REPO / "molecule" / "default" / "create.yml"


def user_env(**extra: str) -> dict[str, str]:
    """What `make deploy` gives ansible-playbook (and molecule): the tool cache's bin (the pinned
    minikube and helm) and the venv first on PATH, plain output, and no secret from the caller's
    shell: each caller passes the ones it means in `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV_NAMES}
    env.update(
        PATH=os.pathsep.join([str(tools_bin()), str(REPO / ".venv" / "bin"), env.get("PATH", "")]),
        NO_COLOR="1",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PY_COLORS="0",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def leftovers(profile: str) -> dict[str, list[str]]:
    """Containers, networks and volumes of a profile (minikube labels them with its name)."""
    label = f"label=name.minikube.sigs.k8s.io={profile}"
    return {
        "containers": node_containers(profile, stopped=True),
        "networks": engine.docker("network", "ls", "--filter", label, "--format", "{{.Name}}").stdout.split(),
        "volumes": engine.docker("volume", "ls", "--filter", label, "--format", "{{.Name}}").stdout.split(),
    }


class ProfileApp:
    """One profile, its private kubeconfig, its database and the release on it."""

    def __init__(
        self,
        profile: str,
        work_dir: Path,
        namespace: str = "todo",
        release: str = "todo",
        ingress_port: int | None = None,
        extra_vars: Mapping[str, object] | None = None,
        nodes: int = 1,
    ) -> None:
        """extra_vars: more switches for every playbook run (e.g. {"todo_autoscaling": True})."""
        self.profile, self.namespace, self.release = profile, namespace, release
        self.work_dir = work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
        self.kubeconfig = work_dir / "kubeconfig"
        self.db_dir = work_dir / "database"
        # The node's port 80 (the addon's controller listens there, hostPort) on this host's
        # 127.0.0.1, where load may go: `minikube start --ports`.
        self.ingress = f"http://127.0.0.1:{ingress_port}" if ingress_port else ""
        self.switches = work_dir / "switches.yml"
        switches: dict[str, object] = {
            "todo_minikube_profile": profile,
            "todo_kubeconfig": str(self.kubeconfig),
            "todo_namespace": namespace,
            "todo_release": release,
            "todo_minikube_nodes": nodes,
        }
        self.relay: TcpRelay | None = None
        self.relayed_port = ingress_port if nodes > 1 else None
        if ingress_port and nodes == 1:
            switches["minikube_start_extra_args"] = [f"--ports=127.0.0.1:{ingress_port}:80"]
        # With more nodes --ports would be published on each node's container and collide: a
        # relay on 127.0.0.1 carries the load to the first node's port 80 instead (tools/tcp_relay.py).
        switches.update(extra_vars or {})
        self.switches.write_text(yaml.safe_dump(switches))
        self.secrets: dict[str, str] = {}
        self.timings: dict[str, float] = {}

    def env(self, **extra: str) -> dict[str, str]:
        return user_env(KUBECONFIG=str(self.kubeconfig), **self.secrets, **extra)

    def argv(self, playbook: str | Path, *args: str) -> list[str]:
        return [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(playbook), "-e", f"@{self.switches}", *args]

    def play(self, playbook: str | Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.argv(playbook, *args), cwd=REPO, env=self.env(), capture_output=True, text=True, timeout=timeout
        )

    def deploy(self, *args: str) -> subprocess.CompletedProcess:
        """The user's `make deploy` without make: the same playbook, on this profile."""
        return self.play("playbooks/deploy-dev.yml", *args)

    def teardown(self) -> subprocess.CompletedProcess:
        return self.play("playbooks/teardown.yml", "-e", "todo_teardown_minikube=true")

    def minikube(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["minikube", "-p", self.profile, *args], env=self.env(), capture_output=True, text=True, check=check,
            timeout=600,
        )  # fmt: skip

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.kubectl_path(), "--context", self.profile, "-n", self.namespace, *args],
            env=self.env(), capture_output=True, text=True, check=check, timeout=300,
        )  # fmt: skip

    @staticmethod
    def kubectl_path() -> str:
        return str(pins.bin_dir() / "kubectl")  # the pinned v1.35.1 build (make minikube-offline)

    def nodes(self) -> list[str]:
        """The profile's node names (= their containers' names with the docker driver), first the control plane."""
        return [
            line.split()[0] for line in self.minikube("node", "list", check=True).stdout.splitlines() if line.strip()
        ]

    def pods(self, component: str) -> list[dict]:
        selector = f"app.kubernetes.io/instance={self.release},app.kubernetes.io/component={component}"
        return json.loads(self.kubectl("get", "pods", "-l", selector, "-o", "json").stdout)["items"]

    def up(self) -> None:
        """The profile with the ingress addon, the database, the first deploy; raises with the
        playbook's own words when a step fails."""
        engine.ensure_daemon()
        self._step("profile up with the ingress addon", lambda: self.play(CREATE))
        if self.relayed_port:
            first_node = self.minikube("ip", check=True).stdout.strip()
            self.relay = TcpRelay(("127.0.0.1", self.relayed_port), (first_node, 80))
        self.secrets = {
            "DATABASE_URL": database.start(self.profile, self.db_dir),
            # Generated here, never from the caller's shell; the local fake-key shape only.
            "OPENAI_API_KEY": f"sk-test-{secrets.token_urlsafe(24)}",
        }
        self._step("first deploy", self.deploy)

    def down(self) -> None:
        try:
            self.teardown()
        finally:
            database.stop(self.db_dir)
            if self.relay:
                self.relay.close()

    def _step(self, name: str, run) -> None:
        started = time.monotonic()
        result = run()
        self.timings[name] = round(time.monotonic() - started, 1)
        if result.returncode != 0:
            raise RuntimeError(f"{name} failed:\n{result.stdout[-12000:]}\n{result.stderr[-3000:]}")

    def __enter__(self) -> ProfileApp:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()
