"""Node scenarios under load on a multi-node Minikube profile (tools.cluster.scenarios' traffic
and checks): a `kubectl drain` of a worker node, and a worker node lost abruptly (its container
killed, as a machine losing power). The ingress controller stays on the first node (the addon
pins it there, nodeSelector minikube.k8s.io/primary), so load through 127.0.0.1 keeps a way in.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

from tools.cluster import scenarios
from tools.docker import engine


def node_containers(profile: str, *, stopped: bool = False) -> list[str]:
    """The profile's node containers: `<profile>`, `<profile>-m02`, ... (minikube names each
    node's container by its machine name and labels it with that name, not the profile's, so a
    label filter on the profile finds only the first node)."""
    own = re.compile(rf"{re.escape(profile)}(-m\d{{2,}})?")
    listed = engine.docker("ps", *(["-a"] if stopped else []), "--format", "{{.Names}}").stdout.split()
    return [name for name in listed if own.fullmatch(name)]


TIERS = ("backend", "frontend")


def pods_by_node(cluster: scenarios.Cluster, component: str) -> dict[str, str]:
    """{pod name: node name} of the tier's pods that are not being deleted."""
    return {
        p["metadata"]["name"]: p["spec"].get("nodeName", "")
        for p in cluster.pods(component)
        if not p["metadata"].get("deletionTimestamp")
    }


def ready_on(cluster: scenarios.Cluster, component: str, node: str) -> list[str]:
    placed = pods_by_node(cluster, component)
    return [name for name in cluster.ready_pods(component) if placed.get(name) == node]


def endpoints_on(cluster: scenarios.Cluster, component: str, node: str) -> list[str]:
    """Addresses the tier's Service still routes to (ready endpoints) on `node`."""
    selector = f"kubernetes.io/service-name={cluster.release}-{component}"
    slices = json.loads(cluster.k("get", "endpointslices", "-l", selector, "-o", "json").stdout)["items"]
    return [
        address
        for s in slices
        for e in s.get("endpoints") or []
        if e.get("nodeName") == node and e.get("conditions", {}).get("ready", True)
        for address in e.get("addresses", [])
    ]


def spread(cluster: scenarios.Cluster) -> dict[str, list[str]]:
    """{tier: the nodes of its pods}."""
    return {c: sorted(pods_by_node(cluster, c).values()) for c in TIERS}


def _run(
    cluster: scenarios.Cluster, name: str, seconds: float, act: Callable[[scenarios.Result], None]
) -> scenarios.Result:
    traffic = scenarios._traffic(cluster, seconds)
    result = scenarios.Result(name, traffic)
    try:
        time.sleep(5)
        result.marks["fault"] = time.monotonic()
        act(result)
        result.marks["recovered"] = time.monotonic()
        time.sleep(10)  # traffic after the recovery, to show it stays recovered
    finally:
        traffic.stop()
        traffic.close()
    scenarios.check_writes(cluster, result)
    return result


def drain(cluster: scenarios.Cluster, node: str, seconds: float = 240) -> scenarios.Result:
    """`kubectl drain` of `node` under load (PDBs respected: one replica of each tier at a time),
    until each tier has 2 Ready pods elsewhere; the node stays cordoned (the caller uncordons)."""

    def act(result: scenarios.Result) -> None:
        before = {c: [p for p, n in pods_by_node(cluster, c).items() if n == node] for c in TIERS}
        result.numbers["pods moved"] = sum(len(v) for v in before.values())
        drained = cluster.k("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=240s",
                            check=False, )  # fmt: skip
        if drained.returncode != 0:
            raise RuntimeError(f"kubectl drain {node} failed:\n{drained.stdout[-3000:]}{drained.stderr[-3000:]}")
        result.numbers["drain (s)"] = time.monotonic() - result.marks["fault"]
        cluster.wait(
            "each tier back to 2 Ready pods off the drained node",
            lambda: all(len(cluster.ready_pods(c)) == 2 and not ready_on(cluster, c, node) for c in TIERS),
        )
        result.numbers["to 2 Ready pods per tier elsewhere (s)"] = time.monotonic() - result.marks["fault"]

    return _run(cluster, f"drain of node {node}", seconds, act)


def kill_node(node_container: str) -> None:
    """The node's container killed at once (SIGKILL): its kubelet, pods and network go with it."""
    engine.docker("kill", "--signal", "KILL", node_container)


def node_loss(cluster: scenarios.Cluster, node: str, seconds: float = 240, timeout: float = 400) -> scenarios.Result:
    """`node`'s container killed under load: how long requests fail, until the Services' endpoints
    drop its pods, until replacements are Ready on the other nodes."""

    def act(result: scenarios.Result) -> None:
        kill_node(node)
        lost = time.monotonic()
        result.numbers["to endpoints without the lost node's pods (s)"] = cluster.wait(
            "no ready endpoint left on the lost node", lambda: not any(endpoints_on(cluster, c, node) for c in TIERS),
            timeout=timeout,
        )  # fmt: skip
        result.marks["endpoints dropped"] = time.monotonic()
        cluster.wait(
            "each tier back to 2 Ready pods on the other nodes",
            lambda: all(len(ready_off(c)) == 2 for c in TIERS),
            timeout=timeout,
        )
        result.numbers["to replacements Ready (s)"] = time.monotonic() - lost

    def ready_off(component: str) -> list[str]:
        placed = pods_by_node(cluster, component)
        return [name for name in cluster.ready_pods(component) if placed.get(name) not in ("", node)]

    result = _run(cluster, f"loss of node {node} (container killed)", seconds, act)
    failures = result.traffic.failures()
    if failures:
        result.numbers["failed requests"] = len(failures)
        result.numbers["requests failing from the loss for (s)"] = (
            max(s.started + s.seconds for s in failures) - result.marks["fault"]
        )
    return result
