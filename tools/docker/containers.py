"""Containers started for a test: run detached, find the published port, wait for HTTP."""

from __future__ import annotations

import dataclasses
import http.client
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

from tools.docker.engine import DockerError, docker, tail_lines

TEST_LABEL = "todo.test"  # on every container docker_run_detached starts, for manual sweeps


@dataclasses.dataclass
class Container:
    """A container started by docker_run_detached; cleanup() (or `with`) removes it."""

    id: str
    name: str

    def logs(self) -> str:
        proc = docker("logs", self.id, check=False)
        return proc.stdout + proc.stderr

    def running(self) -> bool:
        proc = docker("inspect", "--format", "{{.State.Running}}", self.id, check=False)
        return proc.stdout.strip() == "true"

    def port(self, container_port: int) -> int:
        """Host port that a published container port landed on."""
        out = docker("port", self.id, f"{container_port}/tcp").stdout
        return int(out.splitlines()[0].rsplit(":", 1)[1])

    def exec(self, *cmd: str, user: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return docker("exec", *(["--user", user] if user else []), self.id, *cmd, check=check)

    def cleanup(self) -> None:
        docker("rm", "--force", "--volumes", self.id, check=False)

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def docker_run_detached(
    image: str,
    command: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    ports: Sequence[int] = (),
    network: str | None = None,
    user: str | None = None,
    read_only: bool = False,
    tmpfs: Sequence[str] = (),
    name: str | None = None,
    extra_args: Sequence[str] = (),
) -> Container:
    """`docker run --detach`; `ports` are published on 127.0.0.1 at random host ports (see .port()).

    Env values travel through the docker CLI's environment (`--env KEY`), never its argv, so
    generated secrets do not show up in `ps`.
    """
    name = name or f"todo-test-{secrets.token_hex(4)}"
    args = ["run", "--detach", "--name", name, "--label", f"{TEST_LABEL}=1"]
    for key in env or {}:
        args += ["--env", key]
    for port in ports:
        args += ["--publish", f"127.0.0.1::{port}"]
    if network:
        args += ["--network", network]
    if user:
        args += ["--user", user]
    if read_only:
        args.append("--read-only")
    for path in tmpfs:
        args += ["--tmpfs", path]
    args += [*extra_args, image, *command]
    proc = docker(*args, env={**os.environ, **(env or {})})
    return Container(id=proc.stdout.strip(), name=name)


def wait_http(
    url: str,
    timeout: float = 60.0,
    *,
    expect_status: int = 200,
    container: Container | None = None,
    interval: float = 0.5,
) -> str:
    """Poll `url` until it answers `expect_status`; return the body.

    With `container`, stop early (DockerError with its logs) once the container is no longer running.
    """
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # local URLs: no proxy
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        try:
            with opener.open(url, timeout=5) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            status, body = None, b""
            last = f"{type(exc).__name__}: {exc}"
        if status == expect_status:
            return body.decode("utf-8", errors="replace")
        if status is not None:
            last = f"HTTP {status}: {body[:200]!r}"
        if container is not None and not container.running():
            raise DockerError(
                f"container {container.name} stopped before {url} answered "
                f"({last}); its logs:\n{tail_lines(container.logs())}"
            )
        if time.monotonic() > deadline:
            logs = f"; container logs:\n{tail_lines(container.logs())}" if container else ""
            raise DockerError(f"{url} did not answer {expect_status} within {timeout:.0f}s ({last}){logs}")
        time.sleep(interval)
