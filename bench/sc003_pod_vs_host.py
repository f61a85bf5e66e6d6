#!/usr/bin/env python3
"""SC-003 in the pods through the Ingress beside the same build on the host (issue 24); prints
numbers, asserts nothing.

One command brings up (or, after --keep, reuses) its own Minikube profile `todo-bench` with the
app deployed the way `make deploy` does (tools/minikube/app.py: deploy-dev.yml, dev values, the
Neon-like TLS database on the profile network's gateway, the node's port 80 on 127.0.0.1).
It then runs, on this host, the frontend the pod runs (its /app, copied out of a running
frontend pod: the same bytes) on the project's Node, and `todo-api serve` with the pods'
ConfigMap and the same database, so the only difference left is the pod: its cgroup, the
Ingress, kube-proxy and cluster DNS. Each step is measured on each side in turn
(tools/cluster/sc003.py's `measure_path`, ~10 s each, after a 2 s warm-up):

    GET /api/v1/health          c=16
    task list API (25 tasks)    c=16
    signed-in page /            c=8 and c=1

Sides: `pod` (http://127.0.0.1:<port> through the Ingress), `host` (the host processes, no CPU
limit) and, as root, `host@limit` (the same processes in a cgroup with the CPU quota the
pod's container has: the host under the pod's CPU). For every side and step it prints p50/p95,
req/s, CPU ms per request (the pods' cgroups; the host processes' /proc), the CFS counters
(periods, throttled periods, throttled ms) as deltas over the step, the load average and how
busy the machine's CPUs were (per-request CPU grows when they are saturated by anything).
The pods' counters are read inside the node (`docker exec <profile> ...`) from each
container's own cgroup.

    .venv/bin/python bench/sc003_pod_vs_host.py [--seconds 10] [--keep] [--profile todo-bench]
        [--steps health,tasks,page8,page1] [--rounds 1]

Reading the CPU ratio (issue 24, measured with this bench and per-process /proc counters): the
pods' extra CPU per render is user time, not kernel time, and the backend's Python pods show
the same ratio as the frontend's Node ones. It is neither the Node build (the same binary),
nor the Ingress's connection per request (host/close costs no more), nor the cgroup the
process is scheduled in (the host process moved into the node container's cgroup costs what
it costs in its own), nor V8's young generation (--max-semi-space-size=16 in the pods did not
lower it). What moves it: the two frontend replicas splitting the requests on two cores
(--pod-frontend-replicas 1 brings the pod to about 1.0-1.2x the host) and, by about a tenth,
V8 sizing its heap from the 256Mi limit (the host process started in a 256Mi memory cgroup).

On a shared machine one round's pod/host ratio swings with whatever else runs: --rounds N
measures every step N times on each side in turn and summarises medians (N=3 is ~1.5 min per
step with the three sides at 10 s).

--keep leaves the profile, its database and the state to reuse them under
$TODO_CACHE/bench/<profile>; a later run without --keep reuses and then deletes them.
Needs make minikube-offline first on a machine without registries, and the project's Node
(python -m tools.node_runtime install).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from urllib.parse import urlsplit, urlunsplit

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: tools.* from the repo root
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import stack as st  # noqa: E402

from tools import backend_server, node_runtime  # noqa: E402
from tools.cluster import database, pins, sc003  # noqa: E402
from tools.docker import engine  # noqa: E402
from tools.minikube.app import ProfileApp, leftovers  # noqa: E402
from tools.postgres import free_port  # noqa: E402
from tools.stats import percentile  # noqa: E402

PROFILE = "todo-bench"
WARM_UP_SECONDS = 2.0


@dataclass(frozen=True)
class Step:
    label: str
    path: str
    concurrency: int
    component: str  # the container that serves it: whose CPU counters the step reads
    key: str  # its name for --steps


STEPS = (
    Step("GET /api/v1/health", "/api/v1/health", 16, "backend", "health"),
    Step(sc003.TASK_LIST[0], sc003.TASK_LIST[1], 16, "backend", "tasks"),
    Step("signed-in page /", "/", 8, "frontend", "page8"),
    Step("signed-in page /", "/", 1, "frontend", "page1"),
)


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def chosen_steps(text: str) -> tuple[Step, ...]:
    """--steps: comma-separated keys, in the bench's order (a diagnosis of one component need
    not wait for the others')."""
    keys = [key.strip() for key in text.split(",") if key.strip()]
    unknown = sorted(set(keys) - {step.key for step in STEPS})
    if unknown or not keys:
        known = ", ".join(step.key for step in STEPS)
        raise argparse.ArgumentTypeError(f"unknown step(s) {', '.join(unknown) or '(none given)'}; choose from {known}")
    return tuple(step for step in STEPS if step.key in keys)


# ---------------------------------------------------------------- CPU counters


@dataclass(frozen=True)
class Cpu:
    """CPU used and the CFS counters of one container or process (or a sum of them)."""

    usage_ms: float = 0.0
    periods: int = 0
    throttled: int = 0
    throttled_ms: float = 0.0
    # usage split into user and kernel time: JavaScript, GC and JIT show up in the first,
    # syscalls, the network path and page faults in the second
    user_ms: float = 0.0
    system_ms: float = 0.0

    def __add__(self, other: Cpu) -> Cpu:
        return Cpu(*(a + b for a, b in zip(self.fields(), other.fields(), strict=True)))

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(*(a - b for a, b in zip(self.fields(), other.fields(), strict=True)))

    def fields(self) -> tuple[float, int, int, float, float, float]:
        return (self.usage_ms, self.periods, self.throttled, self.throttled_ms, self.user_ms, self.system_ms)


def parse_cpu_stat(text: str) -> dict[str, str]:
    """`key value` lines (cpu.stat, v1 or v2, plus the lines the node script adds)."""
    return dict(line.split(" ", 1) for line in text.strip().splitlines() if " " in line)


def cpu_from_stat(stat: dict[str, str], own: Cpu | None = None) -> Cpu:
    """cgroup v2 counts in microseconds (throttled_usec, usage_usec, user_usec, system_usec), v1
    in nanoseconds (throttled_time; cpuacct.usage, which the node script prints as usage_ns) and
    clock ticks (cpuacct.stat, printed as cpuacct_user and cpuacct_system). own: the usage as
    the process's /proc counts it, in place of the cgroup's."""
    throttled_ms = int(stat.get("throttled_usec", 0)) / 1000 or int(stat.get("throttled_time", 0)) / 1e6
    if own is None:
        tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
        own = Cpu(
            usage_ms=int(stat.get("usage_usec", 0)) / 1000 or int(stat.get("usage_ns", 0)) / 1e6,
            user_ms=int(stat.get("user_usec", 0)) / 1000 or int(stat.get("cpuacct_user", 0)) * tick_ms,
            system_ms=int(stat.get("system_usec", 0)) / 1000 or int(stat.get("cpuacct_system", 0)) * tick_ms,
        )
    counters = Cpu(
        periods=int(stat.get("nr_periods", 0)), throttled=int(stat.get("nr_throttled", 0)), throttled_ms=throttled_ms
    )
    return own + counters


def quota(stat: dict[str, str]) -> tuple[int | None, int]:
    """(quota, period) in microseconds from the `cpu.max` line; quota None when unlimited."""
    value, period = stat.get("cpu.max", "max 100000").split()
    return (None if value in ("max", "-1") else int(value)), int(period)


def quota_text(q: tuple[int | None, int]) -> str:
    return "none" if q[0] is None else f"{q[0] / q[1]:g} CPU ({q[0]}/{q[1]} us)"


# ---------------------------------------------------------------- the pods


# Run in the node with the container's id as $1: the container's own cgroup, reached through
# its process's root (it mounts just its cgroup at /sys/fs/cgroup), so the same lines work for
# cgroup v1 and v2 and whatever cgroup driver the node's Docker uses.
NODE_CGROUP_SCRIPT = r"""
pid=$(docker inspect -f '{{.State.Pid}}' "$1") || exit 1
root=/proc/$pid/root/sys/fs/cgroup
for d in "$root" "$root/cpu,cpuacct" "$root/cpu"; do
  [ -r "$d/cpu.stat" ] || continue
  cat "$d/cpu.stat"
  if [ -r "$d/cpu.max" ]; then echo "cpu.max $(cat "$d/cpu.max")"
  else echo "cpu.max $(cat "$d/cpu.cfs_quota_us") $(cat "$d/cpu.cfs_period_us")"; fi
  for u in "$d/cpuacct.usage" "$root/cpuacct/cpuacct.usage"; do
    if [ -r "$u" ]; then echo "usage_ns $(cat "$u")"; sed 's/^/cpuacct_/' "${u%.usage}.stat"; break; fi
  done
  for m in "$root/memory.peak" "$root/memory/memory.max_usage_in_bytes"; do
    if [ -r "$m" ]; then echo "memory_peak $(cat "$m")"; break; fi
  done
  exit 0
done
echo "no cpu.stat under $root" >&2
exit 1
"""


def serving_pods(app: ProfileApp, component: str) -> list[dict]:
    """The component's pods, without those still stopping after a rollout (their preStop sleep
    keeps them listed for a while)."""
    return [pod for pod in app.pods(component) if not pod["metadata"].get("deletionTimestamp")]


def container_ids(app: ProfileApp, component: str) -> list[str]:
    return [
        status["containerID"].split("://", 1)[1]
        for pod in serving_pods(app, component)
        for status in pod["status"].get("containerStatuses", [])
        if status.get("containerID")
    ]


def node_cgroup_stat(profile: str, container_id: str) -> dict[str, str]:
    result = engine.docker("exec", profile, "sh", "-c", NODE_CGROUP_SCRIPT, "sh", container_id, timeout=60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"cpu.stat of {container_id[:12]} in {profile}: {result.stderr.strip()}")
    return parse_cpu_stat(result.stdout)


def pods_cpu(app: ProfileApp, ids: dict[str, list[str]]) -> Callable[[str], Cpu]:
    def read(component: str) -> Cpu:
        return sum((cpu_from_stat(node_cgroup_stat(app.profile, cid)) for cid in ids[component]), Cpu())

    return read


def copy_frontend_out(app: ProfileApp, dest: Path) -> Path:
    """The /app the frontend pod runs, as a directory here: `tar` in the container, streamed."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    pod = serving_pods(app, "frontend")[0]["metadata"]["name"]
    argv = [app.kubectl_path(), "--context", app.profile, "-n", app.namespace, "exec", pod, "--"]
    tar_argv = [*argv, "tar", "-C", "/app", "-cf", "-", "."]
    with (
        subprocess.Popen(tar_argv, stdout=subprocess.PIPE, env=app.env()) as tar,
        tarfile.open(fileobj=tar.stdout, mode="r|") as archive,
    ):
        archive.extractall(dest, filter="data")
    if tar.returncode != 0 or not (dest / "server.js").is_file():
        raise RuntimeError(f"could not copy /app out of {pod} (tar exited {tar.returncode})")
    return dest


# Node's version and what V8 sized its heap to: Node sizes it from the cgroup's memory limit
# when there is one (process.constrainedMemory), and the young generation shrinks with it.
NODE_FACTS = (
    "const v8 = require('v8'); const mb = (n) => Math.round(Number(n) / 2 ** 20);"
    "console.log(`${process.version}, V8 heap limit ${mb(v8.getHeapStatistics().heap_size_limit)} MB,`"
    " + ` memory limit ${process.constrainedMemory() > 2 ** 50 ? 'none' : mb(process.constrainedMemory()) + ' MiB'}`)"
)


def pod_node_facts(app: ProfileApp) -> str:
    pod = serving_pods(app, "frontend")[0]["metadata"]["name"]
    return app.kubectl("exec", pod, "--", "node", "-e", NODE_FACTS).stdout.strip()


def host_node_facts(node_options: str | None) -> str:
    env = {**os.environ, "NODE_OPTIONS": node_options or ""}
    node = node_runtime.bin_dir() / "node"
    return subprocess.run([node, "-e", NODE_FACTS], capture_output=True, text=True, env=env).stdout.strip()


def release_config(app: ProfileApp) -> dict[str, str]:
    """The release's ConfigMap (the backend's and frontend's environment, no secret in it)."""
    selector = f"app.kubernetes.io/instance={app.release}"
    maps = json.loads(app.kubectl("get", "configmaps", "-l", selector, "-o", "json").stdout)["items"]
    return next(m["data"] for m in maps if "WEB_CONCURRENCY" in m.get("data", {}))


def change_frontend(app: ProfileApp, verb: tuple[str, ...], setting: str) -> None:
    """A diagnosis, not the deploy path: `kubectl <verb> deployment -l <the frontend> <setting>`
    (set env, scale), then wait for the rollout. It stays until changed back (a --keep profile
    too)."""
    selector = f"app.kubernetes.io/instance={app.release},app.kubernetes.io/component=frontend"
    app.kubectl(*verb, "deployment", "-l", selector, setting)
    for name in app.kubectl("get", "deployments", "-l", selector, "-o", "name").stdout.split():
        app.kubectl("rollout", "status", name, "--timeout=300s")


def set_pod_node_options(app: ProfileApp, value: str) -> None:
    """NODE_OPTIONS on the frontend Deployment (empty: none). Node refuses some flags there
    (--trace-gc): the rollout then never finishes."""
    change_frontend(app, ("set", "env"), f"NODE_OPTIONS={value}" if value else "NODE_OPTIONS-")


def pod_env(app: ProfileApp, component: str, name: str) -> str:
    env = serving_pods(app, component)[0]["spec"]["containers"][0].get("env", [])
    return next((e.get("value", "") for e in env if e["name"] == name), "")


def memory_peaks(app: ProfileApp) -> str:
    """The most memory each container has used (cgroup), beside its limit: the headroom a V8
    heap setting has."""
    lines = []
    for component in ("backend", "frontend"):
        limit = serving_pods(app, component)[0]["spec"]["containers"][0]["resources"].get("limits", {}).get("memory")
        peaks = [node_cgroup_stat(app.profile, cid).get("memory_peak", "0") for cid in container_ids(app, component)]
        mib = ", ".join(f"{int(p) / 2**20:.0f}" for p in peaks)
        lines.append(f"pods {component}: memory peak {mib} MiB (limit {limit})")
    return "\n".join(lines)


def cpu_limit(app: ProfileApp, component: str) -> str:
    return serving_pods(app, component)[0]["spec"]["containers"][0]["resources"].get("limits", {}).get("cpu", "none")


# ---------------------------------------------------------------- the profile


def answers(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/api/v1/health", timeout=5, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def open_profile(profile: str, work_dir: Path) -> tuple[ProfileApp, bool]:
    """(app, reused): the profile a --keep run left, when it still answers through its Ingress
    port; otherwise a fresh one (whatever half of one is left is torn down first)."""
    state = work_dir / "bench.json"
    if state.is_file():
        app = ProfileApp(profile, work_dir, ingress_port=json.loads(state.read_text())["ingress_port"])
        if answers(app.ingress) and database.read_url(app.db_dir):
            return app, True
        state.unlink()
    port = free_port()
    app = ProfileApp(profile, work_dir, ingress_port=port)
    if leftovers(profile)["containers"]:
        app.down()
    with_cleanup(app.up, app.down)
    state.write_text(json.dumps({"ingress_port": port}))
    return app, False


def with_cleanup(run: Callable[[], None], cleanup: Callable[[], None]) -> None:
    try:
        run()
    except BaseException:
        cleanup()
        raise


# ---------------------------------------------------------------- the host


def tree_cpu(pid: int) -> Cpu:
    """User and system CPU of a process and its descendants (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    user, system = int(fields[11]) * tick_ms, int(fields[12]) * tick_ms
    own = Cpu(usage_ms=user + system, user_ms=user, system_ms=system)
    children = [
        int(child) for task in Path(f"/proc/{pid}/task").iterdir() for child in (task / "children").read_text().split()
    ]
    return sum((tree_cpu(child) for child in children), own)


class HostCgroup:
    """A CPU cgroup for one host process, so it can run under its pod's quota and report the
    same CFS counters (root only; cgroup v1's cpu hierarchy or v2's unified one)."""

    ROOT = Path("/sys/fs/cgroup")

    def __init__(self, name: str) -> None:
        self.v2 = (self.ROOT / "cgroup.controllers").is_file()
        self.dir = (self.ROOT if self.v2 else self.ROOT / "cpu") / name

    @classmethod
    def usable(cls) -> bool:
        cpu = cls.ROOT if (cls.ROOT / "cgroup.controllers").is_file() else cls.ROOT / "cpu"
        return os.geteuid() == 0 and os.access(cpu, os.W_OK)

    def add(self, pid: int) -> None:
        self.dir.mkdir(exist_ok=True)
        (self.dir / "cgroup.procs").write_text(str(pid))

    def set_quota(self, q: tuple[int | None, int]) -> None:
        value, period = q
        if self.v2:
            (self.dir / "cpu.max").write_text(f"{'max' if value is None else value} {period}")
        else:
            (self.dir / "cpu.cfs_period_us").write_text(str(period))
            (self.dir / "cpu.cfs_quota_us").write_text(str(-1 if value is None else value))

    def stat(self) -> dict[str, str]:
        return parse_cpu_stat((self.dir / "cpu.stat").read_text())

    def remove(self) -> None:
        if self.dir.is_dir():
            self.dir.rmdir()  # empty once its process has exited


@dataclass
class HostStack:
    backend: st.Proc
    frontend: st.Proc
    urls: dict[str, str]
    cgroups: dict[str, HostCgroup] = field(default_factory=dict)

    def cpu(self, component: str) -> Cpu:
        proc = self.backend if component == "backend" else self.frontend
        usage = tree_cpu(proc.popen.pid)
        group = self.cgroups.get(component)
        return cpu_from_stat(group.stat(), usage) if group else usage

    def stop(self) -> None:
        for proc in (self.frontend, self.backend):
            proc.stop()
        for group in self.cgroups.values():
            group.remove()


def host_database_url(app: ProfileApp) -> str:
    """The pods' database URL, for a client on this host: the same server, TLS and SCRAM, at
    127.0.0.1 (its pg_hba admits the pods' subnet and loopback, and this host reaches the
    gateway address from another of its addresses)."""
    parts = urlsplit(database.read_url(app.db_dir) or "")
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f"@{parts.hostname}:", "@127.0.0.1:")))


def start_host(app: ProfileApp, standalone: Path, node_options: str | None) -> HostStack:
    """`todo-api serve` with the release's ConfigMap and the pods' database, and the pod's
    frontend files on the project's Node, both on 127.0.0.1; node_options: the frontend's
    NODE_OPTIONS (to try a V8 setting on the host)."""
    config = {k: v for k, v in release_config(app).items() if k != "API_BASE_URL"}
    env = st.base_env(
        **config,
        DATABASE_URL=host_database_url(app),
        AUTH_SECRET=secrets.token_urlsafe(32),  # its own: the host signs its own sessions
        OPENAI_API_KEY="",
    )
    port = free_port()
    backend = st.start("sc003-host-backend", backend_server.serve_argv(port), env)
    backend_url = f"http://127.0.0.1:{port}"
    try:
        backend_server.wait_until_serving(backend.popen, backend_url, timeout=60)
        extra = {"NODE_OPTIONS": node_options} if node_options is not None else {}
        frontend, frontend_url = st.start_frontend("sc003-host-frontend", backend_url, standalone, **extra)
    except BaseException:
        backend.stop()
        raise
    host = HostStack(backend, frontend, {"backend": backend_url, "frontend": frontend_url})
    if HostCgroup.usable():
        for component, proc in (("backend", backend), ("frontend", frontend)):
            group = HostCgroup(f"todo-bench-host-{component}-{proc.popen.pid}")
            group.add(proc.popen.pid)
            host.cgroups[component] = group
    return host


# ---------------------------------------------------------------- sides and steps


@dataclass
class Side:
    """One place the app runs, as the steps see it."""

    name: str
    urls: dict[str, str]  # component -> the base URL its step's path goes to
    cookies: dict[str, str]
    cpu: Callable[[str], Cpu]
    # `Connection: close` opens a connection per request, as the Ingress controller does to a pod.
    headers: dict[str, str] | None = None
    prepare: Callable[[str], None] = lambda component: None  # before a step (sets a quota)
    finish: Callable[[str], None] = lambda component: None  # after it


@dataclass
class Row:
    side: str
    step: Step
    result: sc003.PathLatency
    cpu: Cpu
    load: float
    machine_busy: float  # the share of all this machine's CPU time that was busy during the step

    def p(self, q: float) -> float:
        return percentile(self.result.latencies_ms, q)

    def cpu_per_request(self) -> float:
        return self.cpu.usage_ms / max(len(self.result.latencies_ms), 1)

    def line(self) -> str:
        n = max(len(self.result.latencies_ms), 1)
        throttle = (
            f"throttled {self.cpu.throttled}/{self.cpu.periods} periods, {self.cpu.throttled_ms:.0f} ms"
            if self.cpu.periods
            else "no CFS quota counters"
        )
        return (
            f"  {self.side:<11} p50 {self.p(0.5):6.1f} ms  p95 {self.p(0.95):6.1f} ms"
            f"  {len(self.result.latencies_ms) / self.result.seconds:6.0f} req/s  non-200 {self.result.non_200}"
            f"  | {self.step.component} cpu {self.cpu_per_request():5.2f} ms/req"
            f" ({self.cpu.user_ms / n:.2f} user, {self.cpu.system_ms / n:.2f} sys), {throttle}; load {self.load:.1f},"
            f" machine {self.machine_busy:.0%} busy"
        )


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot (/proc/stat; idle and iowait are not busy)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def run_step(side: Side, step: Step, seconds: float) -> Row:
    base = side.urls[step.component]
    side.prepare(step.component)
    try:
        args = (base, side.cookies, step.label, step.path, step.concurrency)
        sc003.measure_path(*args, WARM_UP_SECONDS, side.headers)
        load = os.getloadavg()[0]
        before, ticks = side.cpu(step.component), machine_ticks()
        result = sc003.measure_path(*args, seconds, side.headers)
        used = side.cpu(step.component) - before
        busy, total = (now - then for now, then in zip(machine_ticks(), ticks, strict=True))
    finally:
        side.finish(step.component)
    return Row(side.name, step, result, used, load, busy / max(total, 1))


def host_sides(host: HostStack, pod_quota: dict[str, tuple[int | None, int]], fresh: bool) -> list[Side]:
    cookies = sc003.signed_in_cookies(host.urls["backend"])
    plain = Side("host", host.urls, cookies, host.cpu)
    close = [Side("host/close", host.urls, cookies, host.cpu, headers={"Connection": "close"})] if fresh else []
    if not host.cgroups:
        return [plain, *close]

    def limit(component: str) -> None:
        host.cgroups[component].set_quota(pod_quota[component])

    def unlimit(component: str) -> None:
        host.cgroups[component].set_quota((None, 100_000))

    return [plain, *close, Side("host@limit", host.urls, cookies, host.cpu, prepare=limit, finish=unlimit)]


def summary(rows: list[Row], steps: tuple[Step, ...]) -> str:
    """One line per step: p50 / p95 per side, then the pod's p95 and CPU per request over each
    host side's. With several rounds each cell is the median over the rounds and each ratio the
    median of the rounds' ratios: a round's sides ran one after another, under about the same
    load from whatever else shares the machine."""
    sides = list(dict.fromkeys(r.side for r in rows))
    lines = [f"{'step':<24} {'c':>3}  " + "  ".join(f"{s:>17}" for s in sides) + "  pod/host: p95, cpu ms/req"]
    for step in steps:
        mine = [r for r in rows if r.step == step]
        by_side = {side: [r for r in mine if r.side == side] for side in sides}
        cells = "  ".join(
            f"{median([r.p(0.5) for r in by_side[s]]):7.1f} / {median([r.p(0.95) for r in by_side[s]]):7.1f}"
            for s in sides
        )
        rounds = list(zip(*by_side.values(), strict=True))  # one tuple of rows per round, in side order
        pod = sides.index("pod")
        ratios = ", ".join(
            f"{median([r[pod].p(0.95) / r[i].p(0.95) for r in rounds]):.2f}x"
            f" {median([r[pod].cpu_per_request() / max(r[i].cpu_per_request(), 1e-9) for r in rounds]):.2f}x ({side})"
            for i, side in enumerate(sides)
            if side != "pod"
        )
        lines.append(f"{step.label:<24} {step.concurrency:>3}  {cells}  {ratios}")
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def measure_all(
    app: ProfileApp, host: HostStack, steps: tuple[Step, ...], rounds: int, seconds: float, fresh: bool
) -> list[Row]:
    ids = {component: container_ids(app, component) for component in ("backend", "frontend")}
    stats = {component: node_cgroup_stat(app.profile, ids[component][0]) for component in ids}
    pod_quota = {component: quota(stat) for component, stat in stats.items()}
    for component in ids:
        print(
            f"pods {component}: {len(ids[component])} x limit {cpu_limit(app, component)},"
            f" cgroup quota {quota_text(pod_quota[component])}"
        )
    pod = Side("pod", {"backend": app.ingress, "frontend": app.ingress}, sc003.signed_in_cookies(app.ingress),
               pods_cpu(app, ids))  # fmt: skip
    sides = [pod, *host_sides(host, pod_quota, fresh)]
    rows = []
    for step in steps:
        print(f"{step.label} c={step.concurrency} ({step.path}):", flush=True)
        for _ in range(rounds):
            for side in sides:
                rows.append(run_step(side, step, seconds))
                print(rows[-1].line(), flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per side and step")
    parser.add_argument(
        "--steps",
        type=chosen_steps,
        default=STEPS,
        help=f"comma-separated, of {','.join(step.key for step in STEPS)} (default: all)",
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=1,
        help="measure each step this many times on every side, in turn (medians in the summary)",
    )
    parser.add_argument("--profile", default=PROFILE)
    parser.add_argument("--keep", action="store_true", help="leave the profile and its database for the next run")
    parser.add_argument(
        "--host-fresh-connections",
        action="store_true",
        help="also measure the host with a new connection per request (side host/close)",
    )
    parser.add_argument("--host-node-options", help="NODE_OPTIONS for the host's frontend (a diagnosis)")
    parser.add_argument(
        "--pod-node-options", help="set NODE_OPTIONS on the frontend Deployment first ('' removes it; a diagnosis)"
    )
    parser.add_argument(
        "--pod-frontend-replicas",
        type=positive_int,
        help="scale the frontend Deployment first (a diagnosis: one process serving every request)",
    )
    args = parser.parse_args()
    work_dir = pins.cache_root() / "bench" / args.profile
    started = time.monotonic()
    app, reused = open_profile(args.profile, work_dir)
    host = None
    try:
        print(f"profile {args.profile}: {'reused' if reused else f'up in {time.monotonic() - started:.0f} s'}"
              f" {app.timings}; Ingress {app.ingress}")  # fmt: skip
        if args.pod_node_options is not None:
            set_pod_node_options(app, args.pod_node_options)
        if args.pod_frontend_replicas is not None:
            change_frontend(app, ("scale",), f"--replicas={args.pod_frontend_replicas}")
        standalone = copy_frontend_out(app, work_dir / "frontend-app")
        print(f"node in the pod:  {pod_node_facts(app)}")
        print(f"node on the host: {host_node_facts(args.host_node_options)}; {os.cpu_count()} CPUs here")
        print(
            f"frontend NODE_OPTIONS: pod {pod_env(app, 'frontend', 'NODE_OPTIONS') or '(none)'},"
            f" host {args.host_node_options or '(none)'}"
        )
        host = start_host(app, standalone, args.host_node_options)
        rows = measure_all(app, host, args.steps, args.rounds, args.seconds, args.host_fresh_connections)
        print("\np50 / p95 ms per side\n" + summary(rows, args.steps))
        print(memory_peaks(app))
        print(f"load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        if host:
            host.stop()
        if not args.keep:
            app.down()
            shutil.rmtree(work_dir, ignore_errors=True)
            print(f"profile {args.profile} deleted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
