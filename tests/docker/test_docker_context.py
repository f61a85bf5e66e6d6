"""A docker CLI context instead of DOCKER_HOST (Docker Desktop, Colima, Rancher Desktop, rootless):
the prerequisites role resolves the context's endpoint, and the community.docker modules (the
daemon check, the image build) talk to that daemon, not to /var/run/docker.sock.

All real: the docker CLI with its own DOCKER_CONFIG (the developer's ~/.docker is not touched),
ansible-playbook, and the real Docker daemon, reached through a Unix socket that forwards to it
and counts the connections made through it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from tests.ansible_run import ROOT, base_env, run_playbook

PLAYBOOK = ROOT / "tests" / "docker" / "playbooks" / "docker_context.yml"

pytestmark = pytest.mark.slow


def docker_cli() -> str:
    found = shutil.which("docker")
    assert found, "the docker CLI is needed (Debian: apt-get install docker.io)"
    return found


def real_daemon_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    assert host.startswith("unix://"), f"this test forwards to a Unix socket, DOCKER_HOST is {host}"
    return host.removeprefix("unix://")


class SocketForwarder:
    """Listens on a Unix socket and relays every connection to the real daemon's socket."""

    def __init__(self, path: Path, target: str) -> None:
        self.path, self.target, self.connections = path, target, 0
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.server.close()


class ContextWorld:
    """A private docker CLI config with one context, made the current one, and a build to run."""

    def __init__(self, root: Path, sockets: Path) -> None:
        self.root = root
        self.sockets = sockets  # short: a Unix socket path may have at most 107 bytes
        self.config = root / "docker-config"
        self.config.mkdir()
        self.suffix = secrets.token_hex(4)
        self.image = f"todo-ctx-{self.suffix}/app"
        context = root / "src" / "app"
        context.mkdir(parents=True)
        (context / "Dockerfile").write_text("FROM scratch\nCOPY content.txt /content.txt\n")
        (context / "content.txt").write_text(f"{self.image}\n")
        self.runs = 0

    def docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_CONFIG": str(self.config)}
        env.pop("DOCKER_HOST", None)
        return subprocess.run([docker_cli(), *args], env=env, capture_output=True, text=True, check=True)

    def use_context(self, name: str, host: str) -> None:
        self.docker("context", "create", name, "--docker", f"host={host}")
        self.docker("context", "use", name)

    def play(self, tag: str, **env_extra: str):
        self.runs += 1
        facts = self.root / f"facts-{self.runs}.json"
        data = {
            "test_image_tag": tag,
            "test_build_root": str(self.root / "src"),
            "test_facts_file": str(facts),
            "test_images": [{"name": self.image, "context": "app"}],
        }
        vars_file = self.root / f"vars-{self.runs}.json"
        vars_file.write_text(json.dumps(data))
        env = base_env(DOCKER_CONFIG=str(self.config), **env_extra)
        if "DOCKER_HOST" not in env_extra:
            env.pop("DOCKER_HOST", None)
        env.pop("DOCKER_CONTEXT", None)
        run = run_playbook(PLAYBOOK, "-e", f"@{vars_file}", env=env)
        return run, (json.loads(facts.read_text()) if facts.exists() else None)

    def image_id(self, tag: str) -> str | None:
        """Asked of the real daemon directly, not through the context."""
        result = subprocess.run(
            [
                docker_cli(),
                "-H",
                f"unix://{real_daemon_socket()}",
                "image",
                "inspect",
                "--format",
                "{{.Id}}",
                f"{self.image}:{tag}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout.strip() if result.returncode == 0 else None

    def cleanup(self) -> None:
        for tag in ("ctx", "explicit"):
            subprocess.run(
                [docker_cli(), "-H", f"unix://{real_daemon_socket()}", "image", "rm", "--force", f"{self.image}:{tag}"],
                capture_output=True,
                check=False,
            )


@pytest.fixture
def world(tmp_path):
    from tools.docker import engine

    engine.ensure_daemon()
    short = Path(os.environ.get("TMPDIR", "/tmp")) / f"ctx-{secrets.token_hex(4)}"
    short.mkdir()
    world = ContextWorld(tmp_path, short)
    yield world
    world.cleanup()
    shutil.rmtree(short, ignore_errors=True)


def test_active_docker_context_is_where_the_daemon_check_and_the_build_go(world):
    forwarder = SocketForwarder(world.sockets / "docker.sock", real_daemon_socket())
    try:
        endpoint = f"unix://{forwarder.path}"
        world.use_context("todo-test-ctx", endpoint)
        run, facts = world.play("ctx")
    finally:
        forwarder.close()
    assert run.returncode == 0, run.output[-4000:]
    assert facts["prerequisites_docker_env"] == {"DOCKER_HOST": endpoint}
    # The modules went through the context's socket, and the image is in the real daemon.
    assert forwarder.connections > 0
    assert facts["images_ids"][world.image] == world.image_id("ctx") is not None


def test_unreachable_context_is_named_instead_of_suggesting_systemctl(world):
    # Nothing listens there: the daemon of this context is down, even though /var/run/docker.sock answers.
    dead = world.sockets / "dead.sock"
    world.use_context("todo-dead-ctx", f"unix://{dead}")
    run, _ = world.play("ctx")
    assert run.returncode == 2, run.output[-4000:]
    assert "The Docker daemon is not reachable" in run.stdout
    assert f"It is the one of Docker context todo-dead-ctx (unix://{dead}, from `docker context inspect`)" in run.stdout
    assert "docker context use NAME" in run.stdout
    assert "systemctl start docker`" not in run.stdout
    assert world.image_id("ctx") is None


def test_docker_host_wins_over_the_context_as_with_the_docker_cli(world):
    forwarder = SocketForwarder(world.sockets / "docker.sock", real_daemon_socket())
    try:
        world.use_context("todo-test-ctx", f"unix://{forwarder.path}")
        run, facts = world.play("explicit", DOCKER_HOST=f"unix://{real_daemon_socket()}")
    finally:
        forwarder.close()
    assert run.returncode == 0, run.output[-4000:]
    assert facts["prerequisites_docker_env"] == {}
    assert forwarder.connections == 0
    assert world.image_id("explicit") is not None
