#!/usr/bin/env python3
"""Local test cluster timings (the control plane with kwok nodes): build (cold if nothing is
cached yet), warm `up`, `down`. A real Minikube profile's are in bench/faults_under_load.py.

Prints numbers, never pass/fail. Uses its own run dir and ports so it cannot disturb a
cluster that is already running.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as `python bench/cluster_up.py`: tools.* from the repo root

from tools.cluster import build, pins  # noqa: E402


def timed(label: str, args: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "tools.cluster", *args], cwd=REPO, env=env, capture_output=True, text=True
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"{label} failed:\n{result.stdout}\n{result.stderr}")
    print(f"{label:<28} {elapsed:8.1f} s", flush=True)
    return elapsed


def main() -> None:
    print(
        f"kubernetes {pins.KUBERNETES_VERSION}, etcd {pins.ETCD_VERSION}, kwok {pins.KWOK_VERSION}, "
        f"coredns {pins.COREDNS_VERSION}, traefik {pins.TRAEFIK_VERSION}; load {os.getloadavg()[0]:.1f}"
    )
    cached = all(build.is_built(name) for name in (*pins.BINARIES, *pins.ADDONS))
    with tempfile.TemporaryDirectory(prefix="todo-cluster-bench-") as tmp:
        env = dict(os.environ, TODO_CLUSTER_DIR=str(Path(tmp) / "run"), TODO_CLUSTER_PORT_BASE="16743")
        timed("build (cached, no-op)" if cached else "build (first, cold)", ["build"], env)
        timed("up (kwok nodes)", ["up"], env)
        timed("down", ["down"], env)


if __name__ == "__main__":
    main()
