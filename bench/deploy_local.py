#!/usr/bin/env python3
"""How long a user waits for `make deploy-local`: the first run (images built on the base
images, with whatever Docker build cache there is) and a rerun with nothing changed (the
target: under 30 s, changed=0); and the images' sizes. Prints numbers only.

Starts its own local cluster with a real node (own run dir and ports) and removes it at the
end; needs root. `--cold` also drops the Docker build cache first (slow: every layer rebuilds).

    .venv/bin/python bench/deploy_local.py [--cold]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as `python bench/deploy_local.py`: tools.* from the repo root

from tools.cluster import pins  # noqa: E402
from tools.docker import engine  # noqa: E402

RECAP = re.compile(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
TAG = "bench-deploy"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold", action="store_true", help="drop the Docker build cache first")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: the real node creates a bridge, iptables rules and mounts")
    with tempfile.TemporaryDirectory(prefix="todo-deploy-bench-") as tmp:
        run_dir = Path(tmp) / "run"
        env = dict(
            os.environ,
            TODO_CLUSTER_DIR=str(run_dir),
            TODO_CLUSTER_PORT_BASE="17143",
            TODO_CLUSTER_NODES="real",
            PATH=os.pathsep.join(
                [str(pins.cache_root() / "tools" / "bin"), str(REPO / ".venv" / "bin"), os.environ["PATH"]]
            ),
        )
        for name in ("DATABASE_URL", "AUTH_SECRET", "OPENAI_API_KEY", "KUBECONFIG"):
            env.pop(name, None)

        def timed(label: str, *argv: str) -> subprocess.CompletedProcess:
            started = time.monotonic()
            result = subprocess.run([sys.executable, "-m", *argv], cwd=REPO, env=env, capture_output=True, text=True)
            seconds = time.monotonic() - started
            recap = RECAP.search(result.stdout)
            changed = f", changed={recap[2]}" if recap else ""
            print(f"{label:<44} {seconds:7.1f} s  exit {result.returncode}{changed}  (load {os.getloadavg()[0]:.1f})")
            if result.returncode != 0:
                print(result.stdout[-4000:] + result.stderr[-2000:])
            return result

        for image in ("todo-backend", "todo-frontend"):
            engine.docker("image", "rm", "--force", f"{image}:{TAG}", check=False)
        if args.cold:
            engine.docker("builder", "prune", "--all", "--force", check=False)
        timed("cluster up (real node)", "tools.cluster", "up")
        try:
            deploy = ("tools.cluster.deploy_local", "-e", f"todo_image_tag={TAG}")
            timed("deploy-local, first (images built)", *deploy)
            timed("deploy-local, again (nothing changed)", *deploy)
            sizes = {image: engine.image_size(f"{image}:{TAG}") / 1e6 for image in ("todo-backend", "todo-frontend")}
            print("image sizes: " + ", ".join(f"{k} {v:.0f} MB" for k, v in sizes.items()))
        finally:
            timed("cluster down", "tools.cluster", "down")
            for image in ("todo-backend", "todo-frontend"):
                engine.docker("image", "rm", "--force", f"{image}:{TAG}", check=False)


if __name__ == "__main__":
    main()
