"""`make deploy-local`: the real playbooks/deploy-dev.yml onto the local cluster's real node.

What differs from `make deploy` is only what Minikube would otherwise provide, passed as
variables: no Minikube profile to manage, images built on the local base images (no registry
here) and copied into the node's containerd, the kubeconfig of the local cluster, and the
Ingress reached on 127.0.0.1. Secrets come from the environment as for `make deploy`; when
DATABASE_URL is not set, the cluster's Neon-like database (TLS + SCRAM) is used.

Extra arguments go to ansible-playbook (e.g. `make deploy-local ANSIBLE_ARGS=-v`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tools.cluster import cluster, database, pins

REPO = Path(__file__).resolve().parents[2]


def extra_vars(state: dict, base_images: dict[str, str]) -> dict:
    return {
        "todo_manage_minikube": False,
        "todo_build_images": True,
        "todo_verify_through_ingress": True,
        "todo_kubeconfig": state["kubeconfig"],
        "todo_ingress_address": state["node"]["ingress_url"].removeprefix("http://"),
        "todo_images_build_args": {"PYTHON_IMAGE": base_images["python"], "NODE_IMAGE": base_images["node"]},
        "todo_images_load_command": [sys.executable, "-m", "tools.cluster", "load-image"],
    }


def main(argv: list[str]) -> int:
    state = cluster.read_state(pins.default_run_dir())
    if state is None or not state.get("node"):
        print("deploy-local: no local cluster with a real node is up; run `make cluster-up` first", file=sys.stderr)
        return 2
    from tools.docker.base_images import build_base_images

    print("deploy-local: base images (built once, then cached)", flush=True)
    base_images = build_base_images()
    env = dict(os.environ, KUBECONFIG=state["kubeconfig"])
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = database.read_url(pins.default_run_dir()) or ""
        print("deploy-local: DATABASE_URL not set; using the local cluster's Neon-like database", flush=True)
    command = [
        "ansible-playbook",
        "playbooks/deploy-dev.yml",
        "--extra-vars",
        json.dumps(extra_vars(state, base_images)),
        *argv,
    ]
    result = subprocess.run(command, cwd=REPO, env=env)
    if result.returncode == 0:
        print(f"deploy-local: open {state['node']['ingress_url']}/", flush=True)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
