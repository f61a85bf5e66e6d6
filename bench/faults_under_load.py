#!/usr/bin/env python3
"""Faults under load on a real Minikube, longer than the tests run them; prints numbers only.

Starts its own profile (`todo-bench-faults`, the node's port 80 published on 127.0.0.1) with
the ingress addon and the Neon-like database, deploys the way `make deploy` does
(tools/minikube/app.py), then runs each scenario of tools/cluster/scenarios.py with steady
traffic through the Ingress on 127.0.0.1: a rolling update, pod kills, a 30 s database outage,
a slow database; and SC-003 (health and the signed-in page at concurrency 16). Deletes the
profile at the end. Needs root (iptables on the profile network's bridge) and make
minikube-offline on a machine without registries.

    .venv/bin/python bench/faults_under_load.py [--seconds-scale 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as `python bench/faults_under_load.py`: tools.* from the repo root

from tools.cluster import sc003, scenarios  # noqa: E402
from tools.minikube import faults  # noqa: E402
from tools.minikube.app import ProfileApp  # noqa: E402
from tools.postgres import free_port  # noqa: E402

PROFILE = "todo-bench-faults"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds-scale", type=float, default=2.0, help="scenario durations x this (default 2)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: the fault scenarios add iptables rules on the profile network's bridge")
    with tempfile.TemporaryDirectory(prefix="todo-faults-bench-") as tmp:
        with ProfileApp(PROFILE, Path(tmp), ingress_port=free_port()) as app:
            print(f"{app.timings}; load {os.getloadavg()[0]:.1f}", flush=True)
            target = faults.on_profile(PROFILE, app.db_dir, app.ingress, app.env(), app.kubectl_path(), app.deploy)
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
        print(f"profile {PROFILE} deleted; leftover fault rules: {faults.leftover_rules() or 'none'}")


if __name__ == "__main__":
    main()
