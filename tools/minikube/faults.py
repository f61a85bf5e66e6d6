"""The fault scenarios' view of a Minikube profile (tools.cluster.scenarios.Cluster).

The pods reach the Neon-like database (tools/minikube/database.py) on the gateway of the
profile's Docker network, so their packets enter this host on that network's bridge, where
tools.cluster.faults drops or delays them, as on the home-made node. A container is killed by
the node's own Docker engine (the profile's container runtime), without grace or preStop.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tools.cluster import faults, scenarios
from tools.docker import engine
from tools.minikube import database, nodes

# Carried by every iptables rule a scenario adds here, so a test can see none was left behind.
RULE_COMMENT = "todo-minikube-faults"


def bridge(profile: str) -> str:
    """The host side of the profile's Docker network: Docker names a bridge br-<id[:12]>."""
    network_id = engine.docker("network", "inspect", profile, "--format", "{{.Id}}").stdout.strip()
    return f"br-{network_id[:12]}"


def kill_container(profile: str, container_id: str) -> None:
    """SIGKILL by the node's own Docker engine, on whichever node of the profile runs it."""
    for node in nodes.node_containers(profile):
        killed = engine.docker("exec", node, "docker", "kill", "--signal", "KILL", container_id.removeprefix("docker://"),
                               check=False)  # fmt: skip
        if killed.returncode == 0:
            return
    raise engine.DockerError(f"no node of {profile} runs container {container_id}")


def leftover_rules() -> list[str]:
    dump = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True, timeout=60).stdout
    return [line for line in dump.splitlines() if RULE_COMMENT in line]


def on_profile(
    profile: str,
    db_dir: Path,
    ingress: str,
    env: dict[str, str],
    kubectl: str,
    deploy: Callable[..., subprocess.CompletedProcess],
    namespace: str = "todo",
    release: str = "todo",
) -> scenarios.Cluster:
    record = json.loads((db_dir / database.RECORD).read_text())
    return scenarios.Cluster(
        ingress=ingress,
        admin_db_url=record["admin_url"].replace("/postgres?", "/todo?"),
        database=faults.DatabasePath(bridge(profile), record["host"], record["port"], RULE_COMMENT),
        kill_container=lambda container_id: kill_container(profile, container_id),
        env=env,
        kubectl=kubectl,
        deploy=deploy,
        namespace=namespace,
        release=release,
    )
