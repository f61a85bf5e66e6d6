#!/usr/bin/env python3
"""Rollouts under load on a real Minikube: what fails while old Pods stop; prints numbers only.

Starts its own profile (the node's port 80 published on 127.0.0.1) with the ingress addon and
the Neon-like database, deploys the way `make deploy` does (tools/minikube/app.py), then, under
steady traffic through the Ingress on 127.0.0.1 (tools/cluster/traffic.py), restarts both
Deployments `--rollouts` times (`kubectl rollout restart`), each time waiting until every old
Pod is gone. Prints, per rollout and in total: requests, failed requests by kind, and how many
task requests each old backend Pod still received more than INGRESS_NOTICE seconds after its
deletion began (its preStop sleep: by then the Ingress controller should send it nothing new).
Deletes the profile at the end. Needs make minikube-offline on a machine without registries.

    .venv/bin/python bench/rollout_shutdown.py [--rollouts 5] [--profile todo-bench-shutdown]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as `python bench/rollout_shutdown.py`: tools.* from the repo root

from tools.cluster.traffic import Traffic  # noqa: E402
from tools.minikube.app import ProfileApp  # noqa: E402
from tools.postgres import free_port  # noqa: E402

# The controller applies endpoint changes after its 2 s provider throttle; one more for the
# one-second resolution of the API's deletionTimestamp and the app's log lines.
INGRESS_NOTICE = 3.0
COMPONENTS = ("backend", "frontend")


def kind_of(sample) -> str:
    what = sample.status or sample.error
    return f"{what} at once" if sample.seconds < 1.0 else f"{what} after {sample.seconds:.0f}s"


def follow_logs(app: ProfileApp, pod: str, into: Path) -> subprocess.Popen:
    argv = [app.kubectl_path(), "--context", app.profile, "-n", app.namespace, "logs", "-f", pod]
    return subprocess.Popen(argv, env=app.env(), stdout=into.open("w"), stderr=subprocess.DEVNULL)


def late_task_requests(log: Path, deleted: datetime) -> int:
    """Task requests (only the load sends those) the pod received INGRESS_NOTICE s after its deletion began."""
    late = 0
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("msg") == "request" and str(entry.get("path", "")).startswith("/api/v1/tasks"):
            when = datetime.fromisoformat(entry["ts"].rstrip("Z"))
            late += when >= deleted + timedelta(seconds=INGRESS_NOTICE)
    return late


def one_rollout(app: ProfileApp, logs: Path) -> dict[str, int]:
    """Restart both Deployments; return {old backend pod: task requests it got after the notice}."""
    old = {c: [p["metadata"]["name"] for p in app.pods(c)] for c in COMPONENTS}
    followers = {pod: follow_logs(app, pod, logs / f"{pod}.log") for pod in old["backend"]}
    deployments = [f"deployment/{app.release}-{c}" for c in COMPONENTS]
    app.kubectl("rollout", "restart", *deployments)
    deleted: dict[str, datetime] = {}
    deadline = time.monotonic() + 300
    while True:
        pods = {p["metadata"]["name"]: p for c in COMPONENTS for p in app.pods(c)}
        for name in old["backend"]:
            meta = pods.get(name, {}).get("metadata", {})
            if meta.get("deletionTimestamp") and name not in deleted:
                # The API sets deletionTimestamp to the end of the grace period, not its start.
                ends = datetime.fromisoformat(meta["deletionTimestamp"].rstrip("Z"))
                deleted[name] = ends - timedelta(seconds=meta.get("deletionGracePeriodSeconds", 0))
        if not any(name in pods for names in old.values() for name in names):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"old pods still there after 300 s: {sorted(pods)}")
        time.sleep(0.5)
    for deployment in deployments:
        app.kubectl("rollout", "status", deployment, "--timeout=120s")
    for follower in followers.values():
        follower.wait(timeout=30)
    return {pod: late_task_requests(logs / f"{pod}.log", deleted[pod]) for pod in followers if pod in deleted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rollouts", type=int, default=5)
    parser.add_argument("--profile", default="todo-bench-shutdown")
    args = parser.parse_args()
    if args.rollouts < 1:
        parser.error("--rollouts must be at least 1")
    with (
        tempfile.TemporaryDirectory(prefix="todo-rollout-bench-") as tmp,
        ProfileApp(args.profile, Path(tmp) / "app", ingress_port=free_port()) as app,
    ):
        print(f"{app.timings}", flush=True)
        traffic = Traffic(app.ingress, users=3, visitors=1, seconds=args.rollouts * 300, max_requests=10**6)
        traffic.start()
        marks: list[float] = []
        late: list[dict[str, int]] = []
        try:
            time.sleep(5)
            for n in range(args.rollouts):
                marks.append(time.monotonic())
                late.append(one_rollout(app, Path(tmp)))
                print(f"rollout {n + 1} done", flush=True)
                time.sleep(3)
        finally:
            traffic.stop()  # waits for the requests under way: a hang ends in a failure, counted below
            traffic.close()
        marks.append(float("inf"))
        for n, pods in enumerate(late):
            window = [s for s in traffic.samples if marks[n] <= s.started < marks[n + 1]]
            failed = Counter(kind_of(s) for s in window if s.status is None or s.status >= 500)
            notice = f"task requests an old backend pod got {INGRESS_NOTICE:.0f}+ s into its stop: {pods}"
            print(f"rollout {n + 1}: {len(window)} requests, failed {dict(failed) or 0}; {notice}")
        failures = Counter(kind_of(s) for s in traffic.failures())
        late_total = sum(sum(pods.values()) for pods in late)
        print(f"total: {args.rollouts} rollouts, {len(traffic.samples)} requests, "
              f"{sum(failures.values())} failed {dict(failures)}, late task requests to stopping backend pods: "
              f"{late_total}")  # fmt: skip


if __name__ == "__main__":
    main()
