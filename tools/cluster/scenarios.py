"""Fault-under-load scenarios on a real cluster (a Minikube profile: tools/minikube/faults.py), shared
by the tests (which assert the bars) and bench/faults_under_load.py (which runs them longer
and prints the numbers).

Each scenario starts bounded traffic through the Ingress on 127.0.0.1 (tools.cluster.traffic),
does one thing to the cluster, lets the traffic run on, and returns what a client saw: requests
by status, latency before/during/after, writes that got 2xx but are not in the database (or are
there twice), and the times that matter (to NotReady, to recovery).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from tools.cluster import faults
from tools.cluster.traffic import Traffic
from tools.stats import percentile


@dataclass
class Cluster:
    """What a scenario needs to act on a running cluster."""

    ingress: str  # http://127.0.0.1:PORT, where the Ingress controller answers
    admin_db_url: str  # the Neon-like database's admin URL, for checking writes
    database: faults.DatabasePath  # where the pods' packets to the database enter this host
    kill_container: Callable[[str], None]  # SIGKILL a container by the containerID a Pod reports
    env: dict[str, str]
    kubectl: str
    deploy: Callable[..., subprocess.CompletedProcess]
    namespace: str = "todo"
    release: str = "todo"

    def k(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.kubectl, "-n", self.namespace, *args], env=self.env, capture_output=True, text=True, check=check,
            timeout=300,
        )  # fmt: skip

    def pods(self, component: str) -> list[dict]:
        selector = f"app.kubernetes.io/instance={self.release},app.kubernetes.io/component={component}"
        return json.loads(self.k("get", "pods", "-l", selector, "-o", "json").stdout)["items"]

    def ready_pods(self, component: str) -> list[str]:
        return [
            p["metadata"]["name"]
            for p in self.pods(component)
            if not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
        ]

    def restarts(self, component: str) -> int:
        return sum(s["restartCount"] for p in self.pods(component) for s in p["status"].get("containerStatuses", []))

    def wait(self, what: str, predicate: Callable[[], bool], timeout: float = 180) -> float:
        started = time.monotonic()
        while not predicate():
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{what} not reached within {timeout:.0f}s")
            time.sleep(0.25)
        return time.monotonic() - started


@dataclass
class Result:
    name: str
    traffic: Traffic
    marks: dict[str, float] = field(default_factory=dict)  # event -> monotonic time
    numbers: dict[str, float] = field(default_factory=dict)
    lost_writes: int = 0
    duplicate_writes: int = 0

    def report(self) -> str:
        t = self.traffic
        lines = [f"== {self.name}", f"  all:     {t.summary()}"]
        if "fault" in self.marks:
            start, end = self.marks["fault"], self.marks.get("recovered", self.marks["fault"])
            lines += [
                f"  before:  {t.summary(until=start)}",
                f"  during:  {t.summary(since=start, until=max(end, start + 0.001))}",
                f"  after:   {t.summary(since=end)}",
            ]
        lines.append(f"  writes:  {sum(len(v) for v in t.created.values())} acknowledged, {self.lost_writes} lost, "
                     f"{self.duplicate_writes} duplicated")  # fmt: skip
        lines += [f"  {key}: {value:.1f}" for key, value in self.numbers.items()]
        origin = self.marks.get("fault", t.samples[0].started if t.samples else 0.0)
        for s in t.failures()[:10]:
            lines.append(
                f"  failed: {s.kind} {s.status or s.error} after {s.seconds:.1f}s, started at"
                f" {s.started - origin:+.1f}s from the fault"
                + "".join(f" ({mark} {value - origin:+.1f}s)" for mark, value in self.marks.items() if mark != "fault")
            )
        return "\n".join(lines)


def check_writes(cluster: Cluster, result: Result) -> None:
    """Every create that got a 201 is in the database exactly once."""
    acknowledged = [task_id for ids in result.traffic.created.values() for task_id in ids]
    with psycopg.connect(cluster.admin_db_url, connect_timeout=5) as conn:
        rows = conn.execute("SELECT id, count(*) FROM tasks WHERE id = ANY(%s) GROUP BY id", [acknowledged]).fetchall()
    found = dict(rows)
    result.lost_writes = sum(1 for task_id in acknowledged if task_id not in found)
    result.duplicate_writes = len(acknowledged) - len(set(acknowledged))


# The request cap is a safety bound, not the scenario's length: during a database outage the
# app's 503s take milliseconds, and on a quiet machine four clients made 20 000 requests within
# the outage (traffic then stopped before the recovery it is there to show). This allows about
# four times the fastest rate measured (~470 requests/s).
MAX_REQUESTS_PER_SECOND = 2_000


def _traffic(cluster: Cluster, seconds: float, users: int = 3) -> Traffic:
    cap = int(seconds * MAX_REQUESTS_PER_SECOND)
    return Traffic(cluster.ingress, users=users, visitors=1, seconds=seconds, max_requests=cap).start()


def rolling_update(cluster: Cluster, seconds: float = 300, log_level: str = "debug") -> Result:
    """A ConfigMap change through the real deploy path rolls both Deployments under load."""
    traffic = _traffic(cluster, seconds)
    result = Result("rolling update (ConfigMap change)", traffic)
    try:
        time.sleep(5)
        result.marks["fault"] = time.monotonic()
        deployed = cluster.deploy("-e", json.dumps({"release_values": {"config": {"logLevel": log_level}}}))
        if deployed.returncode != 0:
            raise RuntimeError(f"deploy failed:\n{deployed.stdout[-5000:]}")
        result.marks["recovered"] = time.monotonic()
        result.numbers["rollout seconds"] = result.marks["recovered"] - result.marks["fault"]
        time.sleep(5)
    finally:
        traffic.stop()
        traffic.close()
    check_writes(cluster, result)
    return result


def pod_kills(cluster: Cluster, seconds: float = 120) -> Result:
    """`kubectl delete pod` of a backend pod, then of a frontend pod, then SIGKILL of a backend
    container (its process dies at once; kubelet restarts it)."""
    traffic = _traffic(cluster, seconds)
    result = Result("pod kills (delete backend, delete frontend, SIGKILL a backend container)", traffic)
    try:
        time.sleep(5)
        result.marks["fault"] = time.monotonic()
        for component in ("backend", "frontend"):
            victim = cluster.ready_pods(component)[0]
            cluster.k("delete", "pod", victim, "--wait=false")
            waited = cluster.wait(
                f"{component} back to 2 ready pods",
                lambda c=component, v=victim: len(cluster.ready_pods(c)) == 2 and v not in cluster.ready_pods(c),
            )
            result.numbers[f"{component} delete -> replacement Ready (s)"] = waited
        pod = cluster.pods("backend")[0]
        container_id = pod["status"]["containerStatuses"][0]["containerID"]
        before = cluster.restarts("backend")
        result.marks["sigkill"] = time.monotonic()
        cluster.kill_container(container_id)
        waited = cluster.wait(
            "the killed container restarted and Ready",
            lambda: cluster.restarts("backend") > before and len(cluster.ready_pods("backend")) == 2,
        )
        result.numbers["SIGKILL -> container restarted and Ready (s)"] = waited
        result.marks["recovered"] = time.monotonic()
        time.sleep(10)  # traffic after the recovery, to show it stays recovered
    finally:
        traffic.stop()
        traffic.close()
    check_writes(cluster, result)
    return result


def database_outage(
    cluster: Cluster, outage: float = 30, seconds: float = 110, during: Callable[[], None] | None = None
) -> Result:
    """The pods' packets to the database are dropped for `outage` seconds; `during` runs once
    the backend pods are NotReady (e.g. to look at the page a person sees then)."""
    restarts_before = {c: cluster.restarts(c) for c in ("backend", "frontend")}
    traffic = _traffic(cluster, seconds)
    result = Result(f"database unreachable for {outage:.0f}s", traffic)

    def restore() -> float:
        faults.unblock_database(cluster.database)
        result.marks["restored"] = time.monotonic()
        return cluster.wait("backend pods Ready", lambda: len(cluster.ready_pods("backend")) == 2, timeout=120)

    try:
        time.sleep(5)
        result.marks["fault"] = time.monotonic()
        faults.block_database(cluster.database)
        try:
            result.numbers["to NotReady (s)"] = cluster.wait(
                "backend pods NotReady", lambda: cluster.ready_pods("backend") == [], timeout=outage + 60
            )
            if during is not None:
                during()
            remaining = outage - (time.monotonic() - result.marks["fault"])
            if remaining > 0:
                time.sleep(remaining)
        except BaseException:
            restore()  # fail, but leave the backend Ready, as the next scenario expects it
            raise
        result.numbers["to Ready again after the database returned (s)"] = restore()
        result.marks["recovered"] = time.monotonic()
        time.sleep(10)  # traffic after the recovery, to show it stays recovered
    finally:
        traffic.stop()
        traffic.close()
    restored = result.marks["restored"]
    first_ok = next(
        (s.started for s in traffic.samples if s.kind == "list" and s.status == 200 and s.started >= restored), None
    )
    if first_ok is not None:
        result.numbers["to first 200 on the task list after the database returned (s)"] = (
            first_ok - result.marks["restored"]
        )
    result.numbers["restarts during the outage"] = sum(
        cluster.restarts(c) - restarts_before[c] for c in ("backend", "frontend")
    )
    check_writes(cluster, result)
    return result


def slow_database(cluster: Cluster, delay: float = 0.05, seconds: float = 40) -> Result:
    """Every chunk between the pods and the database delayed by `delay` seconds each way."""
    with faults.SlowDatabase(cluster.database, delay):
        # Pooled connections were opened directly: end them so the pool reconnects through the proxy.
        reconnect_through_the_proxy(cluster)
        traffic = _traffic(cluster, seconds)
        result = Result(f"slow database (+{delay * 1000:.0f} ms each way per chunk)", traffic)
        try:
            time.sleep(seconds)
        finally:
            traffic.stop()
            traffic.close()
    # The pooled connections through the proxy died with it: let the pool replace them unseen.
    time.sleep(IDLE_PING_SECONDS)
    check_writes(cluster, result)
    lists = [s.seconds * 1000 for s in traffic.samples if s.kind == "list" and s.status == 200]
    if lists:
        result.numbers["task list p95 (ms)"] = percentile(lists, 0.95)
    return result


# The backend pings a pooled connection at checkout once it has been idle this long
# (todo_api.core.db.PING_AFTER_IDLE_SECONDS is 5): waiting longer, with no traffic, makes the
# pool replace connections that were ended under it instead of failing one request each.
IDLE_PING_SECONDS = 6.0


def reconnect_through_the_proxy(cluster: Cluster) -> None:
    with psycopg.connect(cluster.admin_db_url, connect_timeout=5, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'todo'")
    time.sleep(IDLE_PING_SECONDS)
