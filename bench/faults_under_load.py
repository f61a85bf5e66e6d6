#!/usr/bin/env python3
"""Faults under load on the real node, longer than the tests run them; prints numbers only.

Starts its own local cluster with a real node (own run dir and ports), deploys with
`make deploy-local`'s module, then runs each scenario of tools/cluster/scenarios.py with steady
traffic through the Ingress on 127.0.0.1: a rolling update, pod kills, a 30 s database outage,
a slow database; and SC-003 (health and the signed-in page at concurrency 16). Tears it all
down at the end. Needs root (the node's bridge, iptables, mounts).

    .venv/bin/python bench/faults_under_load.py [--seconds-scale 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as `python bench/faults_under_load.py`: tools.* from the repo root

from tools.cluster import cluster as local_cluster  # noqa: E402
from tools.cluster import pins, sc003, scenarios  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds-scale", type=float, default=2.0, help="scenario durations x this (default 2)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: the real node creates a bridge, iptables rules and mounts")
    with tempfile.TemporaryDirectory(prefix="todo-faults-bench-") as tmp:
        env = dict(
            os.environ,
            TODO_CLUSTER_DIR=str(Path(tmp) / "run"),
            TODO_CLUSTER_PORT_BASE="17043",
            TODO_CLUSTER_NODES="real",
            KUBECONFIG=str(Path(tmp) / "run" / "kubeconfig"),
            PATH=os.pathsep.join(
                [str(pins.cache_root() / "tools" / "bin"), str(REPO / ".venv" / "bin"), os.environ["PATH"]]
            ),
        )
        for name in ("DATABASE_URL", "AUTH_SECRET", "OPENAI_API_KEY"):
            env.pop(name, None)

        def cli(*argv: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", *argv], cwd=REPO, env=env, capture_output=True, text=True)

        def deploy(*extra: str) -> subprocess.CompletedProcess:
            return cli("tools.cluster.deploy_local", *extra)

        started = time.monotonic()
        up = cli("tools.cluster", "up")
        if up.returncode != 0:
            sys.exit(f"cluster up failed:\n{up.stdout[-5000:]}\n{up.stderr[-5000:]}")
        try:
            print(f"cluster up {time.monotonic() - started:.0f}s; load {os.getloadavg()[0]:.1f}", flush=True)
            started = time.monotonic()
            first = deploy()
            if first.returncode != 0:
                sys.exit(f"deploy-local failed:\n{first.stdout[-8000:]}")
            print(f"deploy-local {time.monotonic() - started:.0f}s", flush=True)
            state = local_cluster.read_state(Path(env["TODO_CLUSTER_DIR"]))
            kubectl = shutil.which("kubectl", path=env["PATH"]) or "kubectl"
            target = scenarios.Cluster(state=state, env=env, kubectl=kubectl, deploy=deploy)
            scale = args.seconds_scale
            print(sc003.report(sc003.measure(target.ingress, concurrency=16, seconds=10 * scale)), flush=True)
            runs = (
                lambda: scenarios.rolling_update(target, seconds=300 * scale, log_level="debug"),
                lambda: scenarios.pod_kills(target, seconds=120 * scale),
                lambda: scenarios.database_outage(target, outage=30, seconds=110 * scale),
                lambda: scenarios.slow_database(target, delay=0.05, seconds=40 * scale),
            )
            for run in runs:
                result = run()
                failures = result.traffic.failures()
                print(result.report(), flush=True)
                print(f"  failed requests: {len(failures)} ({', '.join(sorted({str(f.status) for f in failures}))})")
                print(f"  load now {os.getloadavg()[0]:.1f}", flush=True)
        finally:
            down = cli("tools.cluster", "down")
            print(f"cluster down: exit {down.returncode}")


if __name__ == "__main__":
    main()
