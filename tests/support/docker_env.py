"""Docker for the images tier: a running daemon and local stand-ins for public base images.

No container registry is reachable from here (no Docker Hub), so the images tier builds its own
bases and passes them to the Dockerfiles' base ARGs (PYTHON_IMAGE / NODE_IMAGE):

    todo-base/debian:bookworm       debootstrap --variant=minbase, then `docker import`
    todo-base/python:3.11-bookworm  Debian's python3.11 + pip + venv on top of it
    todo-base/node:20-bookworm      official Node 20 binaries and npm, taken from the npm registry

Every image trusts the host's CA bundle (and points pip, requests, curl and Node at it), because
registry traffic here passes a TLS-intercepting proxy. Images carry a label with a hash of their
recipe; a matching label means "reuse", so a warm run takes about a second.

CLI (from the repo root):  python -m tests.support.docker_env ensure-daemon|base-images|all [--force]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import http.client
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

DEBIAN_TAG = "todo-base/debian:bookworm"
PYTHON_TAG = "todo-base/python:3.11-bookworm"
NODE_TAG = "todo-base/node:20-bookworm"
BASE_TAGS = {"debian": DEBIAN_TAG, "python": PYTHON_TAG, "node": NODE_TAG}

RECIPE_LABEL = "todo.base-image.recipe-sha256"
TEST_LABEL = "todo.test"  # on every container docker_run_detached starts, for manual sweeps

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # same path inside the images
SUITE = "bookworm"
DEFAULT_APT_SOURCES_TEXT = """\
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
"""

# Official Node.js builds as the npm registry ships them (package node-linux-<arch>: bin/node and
# include/), plus the npm release Node 20 bundles. Integrity pins (npm dist.integrity, public
# checksums, not secrets) guard the downloads.
NODE_VERSION = "20.20.2"
NPM_VERSION = "10.8.2"
NODE_DISTS = {
    "x64": "sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==",  # pragma: allowlist secret  # noqa: E501
    "arm64": "sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg==",  # pragma: allowlist secret  # noqa: E501
}
NPM_INTEGRITY = "sha512-x/AIjFIKRllrhcb48dqUNAAZl0ig9+qMuN91RpZo3Cb2+zuibfh+KISl6+kVVyktDz230JKc208UkQwwMqyB+w=="  # pragma: allowlist secret  # noqa: E501

# Environment baked into every base image so TLS through the proxy works for each client:
# OpenSSL/Python ssl, requests (certifi otherwise), pip (its own certifi), curl, Node/npm.
CA_ENV = {
    "SSL_CERT_FILE": CA_BUNDLE,
    "REQUESTS_CA_BUNDLE": CA_BUNDLE,
    "PIP_CERT": CA_BUNDLE,
    "CURL_CA_BUNDLE": CA_BUNDLE,
    "NODE_EXTRA_CA_CERTS": CA_BUNDLE,
}
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Same apt hygiene as the official Debian images: no .deb files or pkgcache left in layers.
_APT_RM = "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"
APT_DOCKER_CLEAN = f"""\
DPkg::Post-Invoke {{ "{_APT_RM}"; }};
APT::Update::Post-Invoke {{ "{_APT_RM}"; }};
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
"""
# Package maintainer scripts must not try to start services inside a build.
POLICY_RC_D = "#!/bin/sh\nexit 101\n"

PYTHON_DOCKERFILE = f"""\
FROM {DEBIAN_TAG}
ARG DEBIAN_FRONTEND=noninteractive
# Debian's own CPython 3.11 (the public image builds it into /usr/local; Dockerfiles only rely on
# python3.11 / python3 / python / pip / venv resolving). The PEP 668 marker goes, as pip may
# install system-wide in the public image.
RUN apt-get update \\
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3-pip netbase tzdata \\
 && rm -rf /var/lib/apt/lists/* \\
 && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED \\
 && ln -s /usr/bin/python3.11 /usr/local/bin/python \\
 && ln -s /usr/bin/python3.11 /usr/local/bin/python3 \\
 && ln -s /usr/bin/pip3 /usr/local/bin/pip \\
 && ln -s /usr/bin/pip3 /usr/local/bin/pip3 \\
 && python --version && pip --version
ENV LANG=C.UTF-8
CMD ["python3"]
"""

NODE_DOCKERFILE = f"""\
FROM {DEBIAN_TAG}
# usr/local is staged on the host from the npm registry's node-linux-* and npm packages
# (bookworm's own nodejs is 18). The `node` user (1000) mirrors the public image.
COPY usr/local/ /usr/local/
RUN groupadd --gid 1000 node \\
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \\
 && node --version && npm --version
# No "new npm available" check (a registry call and log noise in every build).
ENV NODE_VERSION={NODE_VERSION} NPM_CONFIG_UPDATE_NOTIFIER=false
CMD ["node"]
"""


class DockerError(RuntimeError):
    """A docker, dockerd or image-build step failed; the message carries the useful output."""


def cache_dir() -> Path:
    path = Path(os.environ.get("TODO_CACHE") or Path.home() / ".cache" / "todo")
    path.mkdir(parents=True, exist_ok=True)
    return path


def dockerd_log() -> Path:
    return cache_dir() / "dockerd.log"


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _run(
    cmd: Sequence[str],
    *,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output; on failure raise DockerError showing the output's tail."""
    try:
        proc = subprocess.run(
            list(cmd),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise DockerError(f"{cmd[0]} is not installed (apt-get install docker.io debootstrap)") from exc
    except subprocess.TimeoutExpired as exc:
        raise DockerError(f"timed out after {timeout}s: {shlex.join(cmd)}") from exc
    if check and proc.returncode != 0:
        raise DockerError(f"{shlex.join(cmd)} failed (exit {proc.returncode}):\n{_tail(proc.stdout + proc.stderr)}")
    return proc


def docker_cli() -> str:
    cli = shutil.which("docker")
    if cli is None:
        raise DockerError("the docker CLI is not on PATH (Debian: apt-get install docker.io)")
    return cli


def docker(
    *args: str, timeout: float | None = 120, check: bool = True, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`docker <args>` with captured text output."""
    return _run([docker_cli(), *args], timeout=timeout, check=check, env=env)


# --------------------------------------------------------------------------------------------
# The daemon
# --------------------------------------------------------------------------------------------


def _docker_info() -> subprocess.CompletedProcess[str]:
    return docker("info", "--format", "{{.ServerVersion}}", timeout=20, check=False)


def daemon_running() -> bool:
    return _docker_info().returncode == 0


def _uplink_mtu() -> int | None:
    """MTU of the interface that carries the default route (None if there is none)."""
    try:
        for line in Path("/proc/net/route").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1] == "00000000":
                return int(Path(f"/sys/class/net/{fields[0]}/mtu").read_text())
    except (OSError, ValueError, IndexError):
        pass
    return None


def dockerd_command() -> list[str]:
    """How we start dockerd where nothing (systemd, Docker Desktop) runs one for us.

    Findings in this sandbox (Firecracker VM, Debian bookworm, kernel 6.x, no systemd, root):
    - storage driver: no flag. /var/lib/docker sits on ext4 with d_type, so dockerd picks overlay2
      by itself (on an overlayfs root it would fall back on its own; forcing a driver only hurts).
    - iptables: no flag. Debian's iptables-nft works on this kernel; dockerd creates its NAT and
      FORWARD rules and turns on net.ipv4.ip_forward (0 at boot), so the default bridge reaches
      deb.debian.org, PyPI and npm. --network host also works.
    - cgroups: no flag. The host has cgroup v1 (hybrid) and no systemd, so dockerd uses the
      cgroupfs driver; --memory/--cpus/--pids-limit apply. dockerd starts its own containerd.
    - --mtu: the uplink MTU here is 1400 while docker0 defaults to 1500, so containers would rely
      on PMTU discovery for large outgoing packets. Downloads worked either way in our runs; we
      still match the uplink whenever it is below 1500 (the usual fix for hangs behind VMs and
      VPNs), because a stall there would be slow and confusing to debug.
    - nice 10: containers and builds inherit dockerd's niceness; CPU is shared with other work.
    """
    cmd = ["nice", "-n", "10", "dockerd"]
    mtu = _uplink_mtu()
    if mtu and mtu < 1500:
        cmd.append(f"--mtu={mtu}")
    return cmd


@contextlib.contextmanager
def _file_lock(name: str) -> Iterator[None]:
    """Serialise daemon start and image builds across test processes running in parallel."""
    lock_dir = cache_dir() / "locks"
    lock_dir.mkdir(exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _dockerd_pid_alive(pidfile: Path = Path("/var/run/docker.pid")) -> bool:
    """A dockerd that is still booting (pidfile, live process) must be waited for, not doubled."""
    try:
        pid = int(pidfile.read_text().strip())
        return Path(f"/proc/{pid}/comm").read_text().strip() == "dockerd"
    except (OSError, ValueError):
        return False


def ensure_daemon(timeout: float = 60.0) -> bool:
    """Make sure a Docker daemon answers. Returns True if this call started dockerd.

    An answering daemon (a user's Docker, a CI service) is left alone. Otherwise dockerd is started
    in the background, detached from this process so it outlives the test session, logging to
    ${TODO_CACHE:-~/.cache/todo}/dockerd.log.
    """
    first = _docker_info()
    if first.returncode == 0:
        return False
    with _file_lock("dockerd"):
        if daemon_running():  # another test process started it while we waited for the lock
            return False
        process = None
        if not _dockerd_pid_alive():
            if shutil.which("dockerd") is None:
                raise DockerError(
                    "no Docker daemon answers and dockerd is not installed (Debian: apt-get install docker.io)"
                )
            if os.geteuid() != 0:
                raise DockerError(
                    "no Docker daemon answers and only root can start dockerd here; start Docker "
                    f"(e.g. sudo systemctl start docker) or fix access. docker info said:\n"
                    f"{_tail(first.stderr, 5)}"
                )
            log = dockerd_log()
            with open(log, "ab") as out:
                out.write(f"\n=== {time.ctime()}: {shlex.join(dockerd_command())}\n".encode())
                out.flush()
                process = subprocess.Popen(
                    dockerd_command(),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd="/",
                    start_new_session=True,
                )
        _wait_for_daemon(timeout, process)
    return True


def _wait_for_daemon(timeout: float, process: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + timeout
    log = dockerd_log()
    while not daemon_running():
        if process is not None and process.poll() is not None:
            raise DockerError(
                f"dockerd exited with code {process.returncode} while starting; see {log}:\n"
                f"{_tail(log.read_text(errors='replace'), 30)}"
            )
        if time.monotonic() > deadline:
            raise DockerError(f"dockerd did not answer within {timeout:.0f}s; see its log at {log}")
        time.sleep(0.5)


# --------------------------------------------------------------------------------------------
# Building, running, probing
# --------------------------------------------------------------------------------------------


@functools.cache
def build_cli() -> tuple[str, str]:
    """(docker CLI, builder) for `docker build`: BuildKit wherever some CLI here can drive it.

    BuildKit is what users' Docker uses, so Dockerfiles are tested the way they will be built.
    Docker CLIs >= 23 need the buildx plugin for BuildKit (Debian bookworm has no buildx package);
    older CLIs, like Debian's own /usr/bin/docker 20.10, talk to the daemon's BuildKit directly.
    Without either we fall back to the legacy builder.
    """
    default = docker_cli()
    if _run([default, "buildx", "version"], check=False, timeout=30).returncode == 0:
        return default, "buildkit"
    for cli in dict.fromkeys([default, "/usr/bin/docker"]):
        if not os.access(cli, os.X_OK):
            continue
        version = _run([cli, "--version"], check=False, timeout=30).stdout
        match = re.search(r"version (\d+)\.", version)
        if match and int(match.group(1)) < 23:
            return cli, "buildkit"
    return default, "legacy"


def docker_build(
    context: str | os.PathLike[str],
    dockerfile: str | os.PathLike[str] | None,
    tag: str,
    build_args: Mapping[str, str] | None = None,
    *,
    labels: Mapping[str, str] | None = None,
    target: str | None = None,
    no_cache: bool = False,
    timeout: float = 1800.0,
) -> str:
    """Build `context` (Dockerfile: `dockerfile`, default <context>/Dockerfile) as `tag`; return tag.

    For Dockerfile authors, with Debian's Docker 20.10 (built-in dockerfile frontend 1.2):
    `RUN --mount=type=cache` and `COPY --chmod` work; `COPY --link` and heredocs do not; and no
    `# syntax=` line, which would pull a frontend image from Docker Hub. Base images come in as
    build args (PYTHON_IMAGE / NODE_IMAGE) since the public defaults cannot be pulled here.
    """
    cli, builder = build_cli()
    cmd = [cli, "build", "--tag", tag]
    if dockerfile is not None:
        cmd += ["--file", os.fspath(dockerfile)]
    for key, value in (build_args or {}).items():
        cmd += ["--build-arg", f"{key}={value}"]
    for key, value in (labels or {}).items():
        cmd += ["--label", f"{key}={value}"]
    if target:
        cmd += ["--target", target]
    if no_cache:
        cmd.append("--no-cache")
    if builder == "buildkit":
        cmd.append("--progress=plain")
    cmd.append(os.fspath(context))
    env = {**os.environ, "DOCKER_BUILDKIT": "1" if builder == "buildkit" else "0"}
    _run(cmd, timeout=timeout, env=env)
    return tag


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
                f"({last}); its logs:\n{_tail(container.logs())}"
            )
        if time.monotonic() > deadline:
            logs = f"; container logs:\n{_tail(container.logs())}" if container else ""
            raise DockerError(f"{url} did not answer {expect_status} within {timeout:.0f}s ({last}){logs}")
        time.sleep(interval)


def image_size(tag: str) -> int:
    """Uncompressed size of an image in bytes, parent layers included."""
    return int(docker("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())


def image_id(tag: str) -> str | None:
    proc = docker("image", "inspect", "--format", "{{.Id}}", tag, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def image_labels(tag: str) -> dict[str, str]:
    proc = docker("image", "inspect", "--format", "{{json .Config.Labels}}", tag, check=False)
    return (json.loads(proc.stdout) or {}) if proc.returncode == 0 else {}


# --------------------------------------------------------------------------------------------
# Recipes: everything a base image is made from, hashed into its label
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


def parse_apt_sources(text: str, *, deb822: bool) -> list[AptSource]:
    """Binary ("deb") entries of a sources.list (one-line) or *.sources (deb822) file."""
    found = []
    if deb822:
        for paragraph in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            for line in paragraph.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.strip()
            if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes") == "no":
                continue
            for uri in fields.get("uris", "").split():
                found.append(
                    AptSource(uri, tuple(fields.get("suites", "").split()), tuple(fields.get("components", "").split()))
                )
    else:
        for line in text.splitlines():
            line = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()  # drop [options]
            if len(line) >= 3 and line[0] == "deb":
                found.append(AptSource(line[1], (line[2],), tuple(line[3:])))
    return found


def host_apt_sources(apt_dir: Path = Path("/etc/apt")) -> list[AptSource]:
    """Every binary entry apt on this host reads (sources.list, sources.list.d/*.list|*.sources)."""
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]
    found = [s for f in files if f.is_file() for s in parse_apt_sources(f.read_text(), deb822=False)]
    for f in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        found += parse_apt_sources(f.read_text(), deb822=True)
    return found


def image_apt_sources(host: Sequence[AptSource]) -> list[AptSource]:
    """The host's bookworm entries (main, -updates, -security), or deb.debian.org if it has none."""
    kept = []
    for source in host:
        suites = tuple(s for s in source.suites if s == SUITE or s.startswith(SUITE + "-"))
        if suites:
            kept.append(AptSource(source.uri, suites, source.components or ("main",)))
    if not any(SUITE in s.suites for s in kept):
        return parse_apt_sources(DEFAULT_APT_SOURCES_TEXT, deb822=True)
    return kept


def debian_mirror(sources: Sequence[AptSource]) -> str:
    """The mirror debootstrap uses: the entry carrying the bare `bookworm` suite."""
    return next(s.uri for s in sources if SUITE in s.suites)


def render_deb822(sources: Sequence[AptSource]) -> str:
    return "\n".join(
        f"Types: deb\nURIs: {s.uri}\nSuites: {' '.join(s.suites)}\nComponents: {' '.join(s.components)}\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        for s in sources
    )


def recipe_hash(recipe: Mapping[str, object]) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def debian_recipe(apt_sources: Sequence[AptSource], ca_bundle: bytes) -> dict[str, object]:
    """Inputs of todo-base/debian:bookworm. Bump `revision` when the build steps below change."""
    sources = image_apt_sources(apt_sources)
    return {
        "revision": 1,
        "debootstrap": {
            "options": ["--variant=minbase", "--include=ca-certificates"],
            "suite": SUITE,
            "mirror": debian_mirror(sources),
        },
        "files": {  # path -> [mode, text]
            "/etc/apt/sources.list.d/debian.sources": [0o644, render_deb822(sources)],
            "/etc/apt/apt.conf.d/docker-clean": [0o644, APT_DOCKER_CLEAN],
            "/usr/sbin/policy-rc.d": [0o755, POLICY_RC_D],
            "/etc/resolv.conf": [0o644, ""],  # docker mounts its own; do not ship the host's
        },
        "ca_bundle_sha256": hashlib.sha256(ca_bundle).hexdigest(),
        "remove": [
            "/etc/apt/sources.list",
            "/etc/hostname",
            "/dev/*",
            "/var/cache/apt/archives/*.deb",
            "/var/cache/apt/*.bin",
            "/var/lib/apt/lists/*_*",
            "/var/log/bootstrap.log",
            "/var/log/dpkg.log",
            "/var/log/alternatives.log",
            "/var/log/apt/*",
        ],
        "changes": [f"ENV PATH={IMAGE_PATH}", *(f"ENV {k}={v}" for k, v in CA_ENV.items()), 'CMD ["bash"]'],
    }


def _node_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def python_recipe(debian_hash: str) -> dict[str, object]:
    return {"revision": 1, "parent": debian_hash, "dockerfile": PYTHON_DOCKERFILE}


def node_recipe(debian_hash: str) -> dict[str, object]:
    arch = _node_arch()
    return {
        "revision": 1,
        "parent": debian_hash,
        "dockerfile": NODE_DOCKERFILE,
        "packages": [[f"node-linux-{arch}", NODE_VERSION, NODE_DISTS.get(arch)], ["npm", NPM_VERSION, NPM_INTEGRITY]],
    }


# --------------------------------------------------------------------------------------------
# Building the base images
# --------------------------------------------------------------------------------------------


def _work_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=cache_dir() / "tmp"))


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mounts") as mounts:
        return [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]


def _remove_tree(path: Path) -> None:
    """Delete a build directory, but never through a mount debootstrap may have left behind."""
    for mount in sorted(_mounts_under(path), reverse=True):
        _run(["umount", "--lazy", mount], check=False)
    if _mounts_under(path):
        raise DockerError(f"refusing to delete {path}: still has mounts {_mounts_under(path)}")
    shutil.rmtree(path, ignore_errors=True)


def pem_certs(text: str) -> dict[str, str]:
    """PEM certificates keyed by their base64 body without whitespace."""
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
    return {"".join(b.splitlines()[1:-1]).replace(" ", ""): b + "\n" for b in blocks}


def _trust_host_cas(rootfs: Path, host_bundle: str) -> None:
    """Make the image trust every CA the host trusts (the TLS proxy's CA is one of them).

    The extra CAs go to /usr/local/share/ca-certificates, so they survive any later
    update-ca-certificates run inside a Dockerfile, not just into today's bundle file.
    """
    bundle = rootfs / CA_BUNDLE.lstrip("/")
    host = pem_certs(host_bundle)
    extra = [pem for key, pem in host.items() if key not in pem_certs(bundle.read_text())]
    local = rootfs / "usr/local/share/ca-certificates"
    local.mkdir(parents=True, exist_ok=True)
    for index, pem in enumerate(extra):
        (local / f"todo-host-{index}.crt").write_text(pem)
    if extra:
        _run(["chroot", str(rootfs), "update-ca-certificates"], timeout=300)
    missing = set(host) - set(pem_certs(bundle.read_text()))
    if missing:
        raise DockerError(f"{len(missing)} host CA certificates did not make it into {bundle}")


def _build_debian(recipe: Mapping, digest: str, *, no_cache: bool) -> dict[str, float]:
    del no_cache  # debootstrap always starts from nothing
    phases: dict[str, float] = {}
    work = _work_dir("debian-rootfs-")
    rootfs = work / "rootfs"
    try:
        start = time.monotonic()
        boot = recipe["debootstrap"]
        _run(["nice", "debootstrap", *boot["options"], boot["suite"], str(rootfs), boot["mirror"]], timeout=1800)
        phases["debootstrap"] = time.monotonic() - start

        start = time.monotonic()
        _trust_host_cas(rootfs, HOST_CA_BUNDLE.read_text())
        for path, (mode, text) in recipe["files"].items():
            target = rootfs / path.lstrip("/")
            if target.is_symlink():  # never write through a link that could point at the host
                target.unlink()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            target.chmod(mode)
        for pattern in recipe["remove"]:
            for found in rootfs.glob(pattern.lstrip("/")):
                if found.is_dir() and not found.is_symlink():
                    shutil.rmtree(found)
                else:
                    found.unlink()
        phases["configure"] = time.monotonic() - start

        start = time.monotonic()
        changes = [*recipe["changes"], f"LABEL {RECIPE_LABEL}={digest}"]
        tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            imported = subprocess.run(
                [
                    docker_cli(),
                    "import",
                    *(f"--change={c}" for c in changes),
                    "--message",
                    f"debootstrap {SUITE} minbase",
                    "-",
                    DEBIAN_TAG,
                ],
                stdin=tar.stdout,
                capture_output=True,
                text=True,
                timeout=600,
            )
        finally:
            tar.stdout.close()
            tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise DockerError(f"docker import of {DEBIAN_TAG} failed:\n{imported.stderr}")
        phases["import"] = time.monotonic() - start
    finally:
        start = time.monotonic()
        _remove_tree(work)
        phases["cleanup"] = time.monotonic() - start
    return phases


def _build_python(recipe: Mapping, digest: str, *, no_cache: bool) -> dict[str, float]:
    work = _work_dir("python-context-")
    try:
        (work / "Dockerfile").write_text(recipe["dockerfile"])
        start = time.monotonic()
        docker_build(work, None, PYTHON_TAG, labels={RECIPE_LABEL: digest}, no_cache=no_cache)
        return {"docker build": time.monotonic() - start}
    finally:
        _remove_tree(work)


def _npm_package(name: str, version: str, integrity: str | None) -> Path:
    """The registry tarball of name@version, cached in $TODO_CACHE/downloads and verified."""
    downloads = cache_dir() / "downloads"
    downloads.mkdir(exist_ok=True)
    path = downloads / f"{name}-{version}.tgz"

    def verified() -> bool:
        if not path.is_file():
            return False
        if integrity is None:
            return True
        algo, expected = integrity.split("-", 1)
        digest = hashlib.new(algo, path.read_bytes()).digest()
        return base64.b64encode(digest).decode() == expected

    if not verified():
        npm = shutil.which("npm")
        if npm is None:
            raise DockerError(f"npm is needed on the host to fetch {name}@{version}")
        _run([npm, "pack", f"{name}@{version}", "--pack-destination", str(downloads), "--silent"], timeout=600)
        if not verified():
            path.unlink(missing_ok=True)
            raise DockerError(f"{name}@{version} from the npm registry does not match {integrity}")
    return path


def _build_node(recipe: Mapping, digest: str, *, no_cache: bool) -> dict[str, float]:
    phases: dict[str, float] = {}
    work = _work_dir("node-context-")
    try:
        start = time.monotonic()
        (node_pkg, node_version, node_integrity), (npm_pkg, npm_version, npm_integrity) = recipe["packages"]
        node_tgz = _npm_package(node_pkg, node_version, node_integrity)
        npm_tgz = _npm_package(npm_pkg, npm_version, npm_integrity)
        phases["download"] = time.monotonic() - start

        start = time.monotonic()
        local = work / "usr/local"
        npm_dir = local / "lib/node_modules/npm"
        npm_dir.mkdir(parents=True)
        _extract_package(node_tgz, local, keep=("bin/", "include/", "share/"))
        _extract_package(npm_tgz, npm_dir)
        for tool in ("npm", "npx"):
            (npm_dir / f"bin/{tool}-cli.js").chmod(0o755)
            (local / "bin" / tool).symlink_to(f"../lib/node_modules/npm/bin/{tool}-cli.js")
        (work / "Dockerfile").write_text(recipe["dockerfile"])
        phases["stage"] = time.monotonic() - start

        start = time.monotonic()
        docker_build(work, None, NODE_TAG, labels={RECIPE_LABEL: digest}, no_cache=no_cache)
        phases["docker build"] = time.monotonic() - start
    finally:
        _remove_tree(work)
    return phases


def _extract_package(tgz: Path, dest: Path, keep: Sequence[str] = ("",)) -> None:
    """Unpack an npm tarball's package/ directory into dest (only paths starting with `keep`)."""
    with tarfile.open(tgz) as archive:
        members = []
        for member in archive.getmembers():
            relative = member.name.split("/", 1)[1] if "/" in member.name else ""
            if relative and relative.startswith(tuple(keep)):
                member.name = relative
                members.append(member)
        archive.extractall(dest, members=members, filter="data")


_BUILDERS = {"debian": _build_debian, "python": _build_python, "node": _build_node}


@dataclasses.dataclass(frozen=True)
class BaseImageResult:
    name: str
    tag: str
    built: bool  # False: an image with the same recipe hash was reused
    seconds: float
    phases: dict[str, float]


def ensure_base_images(force: bool = False) -> list[BaseImageResult]:
    """Build (or reuse) the three base images in dependency order. force: rebuild, no build cache."""
    ensure_daemon()
    (cache_dir() / "tmp").mkdir(exist_ok=True)
    results = []
    with _file_lock("base-images"):
        for stale in (cache_dir() / "tmp").glob("*-*-*"):  # left by a killed run; we hold the lock
            _remove_tree(stale)
        debian = debian_recipe(host_apt_sources(), HOST_CA_BUNDLE.read_bytes())
        debian_hash = recipe_hash(debian)
        recipes = {
            "debian": debian,
            "python": python_recipe(debian_hash),
            "node": node_recipe(debian_hash),
        }
        for name, recipe in recipes.items():
            tag, digest = BASE_TAGS[name], recipe_hash(recipe)
            start = time.monotonic()
            built = force or image_labels(tag).get(RECIPE_LABEL) != digest
            phases = {}
            if built:
                previous = image_id(tag)
                phases = _BUILDERS[name](recipe, digest, no_cache=force)
                if previous and previous != image_id(tag):  # drop the replaced image unless something uses it
                    docker("image", "rm", previous, check=False)
            results.append(BaseImageResult(name, tag, built, time.monotonic() - start, phases))
    return results


def build_base_images(force: bool = False) -> dict[str, str]:
    """Ensure the base images exist and are current; return {"debian"|"python"|"node": tag}."""
    return {result.name: result.tag for result in ensure_base_images(force)}


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.docker_env",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["ensure-daemon", "base-images", "all"])
    parser.add_argument("--force", action="store_true", help="rebuild base images without cache")
    args = parser.parse_args(argv)
    try:
        start = time.monotonic()
        started = ensure_daemon()
        print(
            f"dockerd: {'started' if started else 'already running'} "
            f"({time.monotonic() - start:.1f}s; log {dockerd_log()})"
        )
        if args.action in ("base-images", "all"):
            for result in ensure_base_images(force=args.force):
                phases = ", ".join(f"{k} {v:.1f}s" for k, v in result.phases.items())
                print(
                    f"{result.tag}: {'built' if result.built else 'cached'} in {result.seconds:.1f}s"
                    f"{f' ({phases})' if phases else ''}, {image_size(result.tag) / 1e6:.0f} MB"
                )
    except DockerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
