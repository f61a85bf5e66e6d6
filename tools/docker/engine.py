"""The Docker engine the tests and tools use: a running dockerd, the docker CLI, image builds.

Debian's docker.io is started here when no daemon answers (CI has no init system running it).
Two docker CLIs may be on a machine; `docker_cli()` picks the one that can reach the daemon and
`build_cli()` the one with BuildKit. CLI: `python -m tools.docker ensure-daemon`.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tools.cache import cache_root, file_lock


class DockerError(RuntimeError):
    """A docker, dockerd or image-build step failed; the message carries the useful output."""


def cache_dir() -> Path:
    path = cache_root()
    path.mkdir(parents=True, exist_ok=True)
    return path


def dockerd_log() -> Path:
    return cache_dir() / "dockerd.log"


def tail_lines(text: str, lines: int = 60) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run(
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
        raise DockerError(
            f"{shlex.join(cmd)} failed (exit {proc.returncode}):\n{tail_lines(proc.stdout + proc.stderr)}"
        )
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
    return run([docker_cli(), *args], timeout=timeout, check=check, env=env)


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
    - runtime: where this sandbox's bounding set lacks CAP_SYS_RESOURCE, `docker run
      --privileged` (which minikube always uses for its node) fails in runc with "unable to apply
      caps"; the default runtime is then runc behind `runc-shim`, which drops that one capability
      from the spec (see the script). A Docker that someone else runs is never changed.
    """
    cmd = ["nice", "-n", "10", "dockerd"]
    mtu = _uplink_mtu()
    if mtu and mtu < 1500:
        cmd.append(f"--mtu={mtu}")
    if not has_capability(CAP_SYS_RESOURCE):
        cmd += [f"--add-runtime={SHIM_RUNTIME}={installed_runc_shim()}", f"--default-runtime={SHIM_RUNTIME}"]
    return cmd


CAP_SYS_RESOURCE = 24
SHIM_RUNTIME = "todo-runc-shim"
RUNC_SHIM = Path(__file__).with_name("runc-shim")


def has_capability(number: int, status: Path = Path("/proc/self/status")) -> bool:
    """Whether `number` (linux/capability.h) is in this process's bounding set."""
    for line in status.read_text().splitlines():
        if line.startswith("CapBnd:"):
            return bool(int(line.split()[1], 16) >> number & 1)
    return True


def installed_runc_shim() -> Path:
    """A copy of runc-shim in the cache: dockerd outlives the checkout it was started from."""
    target = cache_dir() / "tools" / "runc-shim"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_bytes() != RUNC_SHIM.read_bytes():
        staging = target.with_suffix(".new")
        shutil.copyfile(RUNC_SHIM, staging)
        staging.chmod(0o755)
        staging.replace(target)
    return target


def privileged_containers_work() -> bool:
    """Whether the answering daemon can start a `--privileged` container (minikube's node)."""
    if has_capability(CAP_SYS_RESOURCE):
        return True
    runtimes = docker("info", "--format", "{{json .Runtimes}}", timeout=20, check=False).stdout
    default = docker("info", "--format", "{{.DefaultRuntime}}", timeout=20, check=False).stdout.strip()
    return SHIM_RUNTIME in runtimes and default == SHIM_RUNTIME


def _dockerd_pid_alive(pidfile: Path = Path("/var/run/docker.pid")) -> bool:
    """A dockerd that is still booting (pidfile, live process) must be waited for, not doubled."""
    try:
        pid = int(pidfile.read_text().strip())
        return Path(f"/proc/{pid}/comm").read_text().strip() == "dockerd"
    except (OSError, ValueError):
        return False


# Kubernetes' Service addresses: minikube's default range (constants.DefaultServiceCIDR), which
# holds the cluster tier's 10.96.0.0/16 too.
SERVICE_RANGE = "10.96.0.0/12"


def _our_daemon_pid(pidfile: Path = Path("/var/run/docker.pid")) -> int | None:
    """The answering dockerd's pid if it is one `ensure_daemon` started (its output goes to our log)."""
    try:
        pid = int(pidfile.read_text().strip())
        return pid if os.readlink(f"/proc/{pid}/fd/1") == str(dockerd_log().resolve()) else None
    except (OSError, ValueError):
        return None


def our_daemon() -> bool:
    return _our_daemon_pid() is not None


# Daemons (by pid) this process has seen the Service-range rule for: ensure_daemon runs before
# every Docker step, and the rule needs checking once per daemon, not once per step.
_CONFINED: set[int] = set()


def confine_service_traffic() -> bool:
    """Drop what containers of a dockerd we run send to Kubernetes' Service range past the host.

    A pod reaches a Service (10.96.0.1 is the apiserver's) by kube-proxy's DNAT on its own node.
    In a node's first seconds, before kube-proxy has written its rules, such a packet is routed
    like any other address: out of the node, through dockerd's NAT, to the host's uplink. On a
    laptop nothing answers there; in CI's sandbox something on the uplink's network answered
    10.96.0.1:443 with a certificate of its own (2026-12-07: minikube's storage-provisioner
    failed on "x509: cannot validate certificate for 10.96.0.1 because it doesn't contain any IP
    SANs", a second restart the minikube tier rejects). Dropped here (DOCKER-USER: dockerd's
    chain for its users' rules, kept across its restarts) the packet gets no answer, as on a
    laptop, and no test traffic leaves for an address that is not ours. Idempotent; returns
    True if it added the rule. A Docker that someone else runs is never changed.
    """
    pid = _our_daemon_pid()
    if pid is None or pid in _CONFINED:
        return False
    rule = ["DOCKER-USER", "-d", SERVICE_RANGE, "-j", "DROP"]
    added = run(["iptables", "-C", *rule], check=False).returncode != 0
    if added:
        run(["iptables", "-I", *rule])
    _CONFINED.add(pid)
    return added


def ensure_daemon(timeout: float = 60.0) -> bool:
    """Make sure a Docker daemon answers. Returns True if this call started dockerd.

    An answering daemon (a user's Docker, a CI service) is left alone. Otherwise dockerd is started
    in the background, detached from this process so it outlives the test session, logging to
    ${TODO_CACHE:-~/.cache/todo}/dockerd.log. A daemon of ours, new or found running, gets the
    Service-range rule (`confine_service_traffic`). With TODO_NO_DOCKER set (the unit tier sets it: it
    promises no Docker) it refuses at once, whatever answers.
    """
    refusal = os.environ.get("TODO_NO_DOCKER")
    if refusal:
        raise DockerError(f"Docker is not to be used here (TODO_NO_DOCKER: {refusal})")
    started = _start_daemon_unless_one_answers(timeout)
    confine_service_traffic()
    return started


def _start_daemon_unless_one_answers(timeout: float) -> bool:
    first = _docker_info()
    if first.returncode == 0:
        return False
    with file_lock("dockerd"):
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
                    f"{tail_lines(first.stderr, 5)}"
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
                f"{tail_lines(log.read_text(errors='replace'), 30)}"
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
    if run([default, "buildx", "version"], check=False, timeout=30).returncode == 0:
        return default, "buildkit"
    for cli in dict.fromkeys([default, "/usr/bin/docker"]):
        if not os.access(cli, os.X_OK):
            continue
        version = run([cli, "--version"], check=False, timeout=30).stdout
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
    legacy: bool = False,
    timeout: float = 1800.0,
) -> str:
    """Build `context` (Dockerfile: `dockerfile`, default <context>/Dockerfile) as `tag`; return tag.

    For Dockerfile authors, with Debian's Docker 20.10 (built-in dockerfile frontend 1.2):
    `RUN --mount=type=cache` and `COPY --chmod` work; `COPY --link` and heredocs do not; and no
    `# syntax=` line, which would pull a frontend image from Docker Hub. Base images come in as
    build args (PYTHON_IMAGE / NODE_IMAGE) since the public defaults cannot be pulled here.
    `legacy`: the classic builder, as the Docker API (and so the images role) builds.
    """
    cli, builder = (docker_cli(), "legacy") if legacy else build_cli()
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
    run(cmd, timeout=timeout, env=env)
    return tag


def image_size(tag: str) -> int:
    """Uncompressed size of an image in bytes, parent layers included."""
    return int(docker("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())


def image_id(tag: str) -> str | None:
    proc = docker("image", "inspect", "--format", "{{.Id}}", tag, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def image_labels(tag: str) -> dict[str, str]:
    proc = docker("image", "inspect", "--format", "{{json .Config.Labels}}", tag, check=False)
    return (json.loads(proc.stdout) or {}) if proc.returncode == 0 else {}
